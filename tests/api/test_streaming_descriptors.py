"""Stream pipelines through the API: HKube's validation messages at store/pipelines,
exec/raw and exec/stored, the executed pipeline's flows, gateways, graph/raw and
exec/getGraphByStreamingFlow (hkube-api §3.1, §3.3, §4.5, §4.6)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from algorithms.models import Algorithm
from pipelines import services
from pipelines.models import Job, JobNode, JobStatus, Task
from tests.api.conftest import Api


def node(name: str, algorithm: str = "green-alg", **extra: Any) -> dict[str, Any]:
    return {"nodeName": name, "algorithmName": algorithm, "input": [], **extra}


@pytest.fixture
def stream_api(api: Api) -> Api:
    """Besides green-alg and yellow-alg (no stateType: stateless), a stateful source."""
    Algorithm.objects.create(
        name="source-alg",
        descriptor={"name": "source-alg", "algorithmImage": "hkube/source", "stateType": "stateful"},
        version="v1",
    )
    return api


def stream(*nodes: dict[str, Any], flows: Any = None, **extra: Any) -> dict[str, Any]:
    nodes = nodes or (node("A", "source-alg"), node("B"), node("C"))
    streaming = {"flows": {"main": "A >> B >> C"} if flows is None else flows}
    return {"name": "s1", "kind": "stream", "nodes": list(nodes), "streaming": streaming, **extra}


def exec_error(api: Api, body: dict[str, Any]) -> tuple[int, str]:
    return api.error("post", "exec/raw", body)


# --- exec/raw: the flows ------------------------------------------------------------------------


def test_a_stream_job_stores_its_parsed_flows_state_types_and_retries(stream_api: Api) -> None:
    flows = {"main": "A >> B&C | B >> C", "side": "A >> C"}
    assert exec_error(stream_api, stream(flows=flows)) == (400, "please specify a default stream flow")

    descriptor = stream(flows=flows)
    descriptor["streaming"]["defaultFlow"] = "side"
    status, body = stream_api.post("exec/raw", descriptor)
    assert status == 200, body
    assert body == {"jobId": body["jobId"]}  # no gateways key without gateway nodes
    _, executed = stream_api.get(f"exec/pipelines/{body['jobId']}")
    assert executed["streaming"] == {
        "flows": flows,
        "defaultFlow": "side",
        "parsedFlow": {
            "main": [{"source": "A", "next": ["B", "C"]}, {"source": "B", "next": ["C"]}],
            "side": [{"source": "A", "next": ["C"]}],
        },
    }
    assert executed["edges"] == [
        {"source": "A", "target": "B", "types": ["customStream"]},
        {"source": "A", "target": "C", "types": ["customStream"]},
        {"source": "B", "target": "C", "types": ["customStream"]},
    ]
    by_name = {n["nodeName"]: n for n in executed["nodes"]}
    assert by_name["A"]["stateType"] == "stateful"
    assert by_name["A"]["retry"] == {"policy": "Always", "limit": 10000}
    assert by_name["B"]["stateType"] == "stateless"
    assert by_name["B"]["retry"] == {"policy": "Never"}


def test_one_flow_is_the_default_and_cycles_are_allowed(stream_api: Api) -> None:
    status, body = stream_api.post("exec/raw", stream(flows={"loop": "A >> B >> C >> B"}))
    assert status == 200, body
    executed = Job.objects.get(job_id=body["jobId"]).pipeline
    assert executed["streaming"]["defaultFlow"] == "loop"


@pytest.mark.parametrize(
    ("flows", "message"),
    [
        ({}, "please specify a stream flow"),
        ({"analyze": None}, "invalid stream flow analyze"),
        ({"analyze": "A"}, "stream flow analyze should have valid flow, example: A >> B"),
        ({"analyze": "A --> B"}, "stream flow analyze should have valid flow, example: A >> B"),
        ({"analyze": "A >> "}, "invalid node name after A"),
        ({"analyze": "A >> Z"}, "invalid node Z in stream flow analyze"),
        ({"analyze": "A >> B >> B"}, "invalid relation found B >> B in flow analyze"),
        ({"analyze": "A >> B | A >> B"}, "duplicate relation found A >> B in flow analyze"),
        ({"analyze": "B >> C"}, 'entry node "B" cannot be stateless on stream pipeline'),
    ],
)
def test_flow_errors_are_hkubes(stream_api: Api, flows: dict[str, Any], message: str) -> None:
    assert exec_error(stream_api, stream(flows=flows)) == (400, message)


def test_a_stateless_node_outside_every_flow_is_an_entry_node(stream_api: Api) -> None:
    body = stream(node("A", "source-alg"), node("B"), node("C"), flows={"f": "A >> B"})
    assert exec_error(stream_api, body) == (400, 'entry node "C" cannot be stateless on stream pipeline')


def test_a_batch_pipeline_may_not_have_flows(stream_api: Api) -> None:
    body = stream(kind="batch")
    assert exec_error(stream_api, body) == (400, "streaming flow is only allowed in stream pipeline")


def test_at_references_are_refused_except_to_data_sources(stream_api: Api) -> None:
    body = stream(node("A", "source-alg"), node("B", input=["@A"]), node("C"))
    message = (
        'the "@" sign is not allowed in "stream" pipeline, please use the "streaming.flows" property instead'
    )
    assert exec_error(stream_api, body) == (400, message)
    assert stream_api.error("post", "store/pipelines", body) == (400, message)


def test_output_nodes_are_refused(stream_api: Api) -> None:
    body = stream(node("A", "source-alg"), node("B"), node("C"), {"nodeName": "out", "kind": "output"})
    message = 'node "out" from kind output can not be used in a streaming pipeline'
    assert exec_error(stream_api, body) == (400, message)
    assert stream_api.error("post", "store/pipelines", body) == (400, message)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        (
            (node("A", "source-alg", minStatelessCount=1), node("B"), node("C")),
            "Nodes which are not stateType=stateless cant have minStatelessCount or maxStatelessCount",
        ),
        (
            (node("A", stateType="stateful", maxStatelessCount=2), node("B"), node("C")),
            "Nodes which are not stateType=stateless cant have minStatelessCount or maxStatelessCount",
        ),
        (
            (node("A", "source-alg"), node("B", minStatelessCount=3, maxStatelessCount=2), node("C")),
            "maxStatelessCount must be greater or equal to minStatelessCount",
        ),
    ],
)
def test_replica_count_rules(stream_api: Api, nodes: tuple[dict[str, Any], ...], message: str) -> None:
    assert exec_error(stream_api, stream(*nodes)) == (400, message)
    assert stream_api.error("post", "store/pipelines", stream(*nodes)) == (400, message)


def test_replica_counts_on_a_stateless_node_are_kept(stream_api: Api) -> None:
    body = stream(node("A", "source-alg"), node("B", minStatelessCount=1, maxStatelessCount=3), node("C"))
    status, answer = stream_api.post("exec/raw", body)
    assert status == 200, answer
    executed = Job.objects.get(job_id=answer["jobId"]).pipeline
    assert executed["nodes"][1]["minStatelessCount"] == 1
    assert executed["nodes"][1]["maxStatelessCount"] == 3


def test_run_from_node_is_refused_for_a_stream_job(stream_api: Api) -> None:
    _, body = stream_api.post("exec/raw", stream())
    error = stream_api.error("post", "exec/caching", {"jobId": body["jobId"], "nodeName": "B"})
    assert error == (400, "run node is not allowed in stream pipeline")


# --- store/pipelines and exec/stored -------------------------------------------------------------


def test_a_stored_stream_pipeline_keeps_its_descriptor_and_runs_as_stored(stream_api: Api) -> None:
    status, stored = stream_api.post("store/pipelines", stream())
    assert status == 201, stored
    assert stored["streaming"] == {"flows": {"main": "A >> B >> C"}}
    assert "stateType" not in stored["nodes"][1]
    status, body = stream_api.post("exec/stored", {"name": "s1"})
    assert status == 200, body
    assert Job.objects.get(job_id=body["jobId"]).pipeline["streaming"]["parsedFlow"] == {
        "main": [{"source": "A", "next": ["B"]}, {"source": "B", "next": ["C"]}]
    }


def test_exec_stored_checks_the_flows(stream_api: Api) -> None:
    body = stream(flows={"main": "B >> C"})
    assert stream_api.post("store/pipelines", body)[0] == 201  # flows are parsed at exec, as HKube
    message = 'entry node "B" cannot be stateless on stream pipeline'
    assert stream_api.error("post", "exec/stored", {"name": "s1"}) == (400, message)


def test_store_refuses_a_stateless_gateway(stream_api: Api) -> None:
    body = stream(
        {"nodeName": "A", "kind": "gateway", "stateType": "stateless"}, node("B"), flows={"f": "A >> B"}
    )
    message = 'Gateway node A stateType must be "stateful". Got stateless'
    assert stream_api.error("post", "store/pipelines", body) == (400, message)
    assert exec_error(stream_api, body) == (400, message)


def test_store_checks_algorithms_before_the_gateways(stream_api: Api) -> None:
    body = stream(
        {"nodeName": "A", "kind": "gateway", "stateType": "stateless"},
        node("B", "nope"),
        flows={"f": "A >> B"},
    )
    assert stream_api.error("post", "store/pipelines", body) == (404, "algorithm nope Not Found")


# --- gateways ------------------------------------------------------------------------------------


def test_gateway_nodes_get_their_algorithm_and_url(stream_api: Api) -> None:
    body = stream(
        {"nodeName": "in", "kind": "gateway", "spec": {"name": "cams", "mem": "1Gi"}},
        {"nodeName": "in2", "kind": "gateway"},
        node("B"),
        flows={"f": "in&in2 >> B"},
    )
    status, answer = stream_api.post("exec/raw", body)
    assert status == 200, answer
    job_id = answer["jobId"]
    assert answer["gateways"][0] == {"nodeName": "in", "url": "hkube/gateway/cams"}
    second = answer["gateways"][1]
    assert second["nodeName"] == "in2"
    generated = second["url"].removeprefix("hkube/gateway/")
    assert len(generated) == 8

    gateway = Algorithm.objects.get(name="cams-gateway").descriptor
    assert gateway["kind"] == "gateway"
    assert gateway["stateType"] == "stateful"
    assert gateway["algorithmImage"] == "hkube/algorithm-gateway"
    assert gateway["mem"] == "1Gi"
    assert (gateway["jobId"], gateway["nodeName"], gateway["gatewayUrl"]) == (
        job_id,
        "in",
        "hkube/gateway/cams",
    )
    assert Algorithm.objects.filter(name=f"{generated}-gateway").exists()

    executed = Job.objects.get(job_id=job_id).pipeline
    first = executed["nodes"][0]
    assert (first["algorithmName"], first["stateType"]) == ("cams-gateway", "stateful")
    assert executed["streaming"]["gateways"] == answer["gateways"]

    again = exec_error(stream_api, body)
    assert again == (400, "gateway cams-gateway already exists")


def test_a_stopped_stream_job_removes_its_gateway_algorithms(stream_api: Api) -> None:
    body = stream(
        {"nodeName": "in", "kind": "gateway", "spec": {"name": "door"}}, node("B"), flows={"f": "in >> B"}
    )
    _, answer = stream_api.post("exec/raw", body)
    services.start_job(answer["jobId"])
    assert Algorithm.objects.filter(name="door-gateway").exists()
    assert stream_api.post("exec/stop", {"jobId": answer["jobId"]})[0] == 200
    assert not Algorithm.objects.filter(name="door-gateway").exists()
    assert Algorithm.objects.filter(name="green-alg").exists()
    assert stream_api.post("exec/raw", body)[0] == 200  # the name is free again


def test_two_gateways_of_one_name_in_one_submission(stream_api: Api) -> None:
    gate = {"kind": "gateway", "spec": {"name": "twin"}}
    body = stream({"nodeName": "A", **gate}, {"nodeName": "B", **gate}, flows={"f": "A >> B"})
    assert exec_error(stream_api, body) == (400, "gateway twin-gateway already exists")
    assert not Algorithm.objects.filter(name="twin-gateway").exists()


def test_a_failed_submission_leaves_no_gateway(stream_api: Api) -> None:
    body = stream(
        {"nodeName": "A", "kind": "gateway", "spec": {"name": "lost"}},
        node("B", input=["@flowInput.missing"]),
        flows={"f": "A >> B"},
    )
    assert exec_error(stream_api, body) == (400, "unable to find flowInput.missing")
    assert not Algorithm.objects.filter(name="lost-gateway").exists()


# --- the job: not run by the batch driver; graph/raw ------------------------------------------------


def test_a_stream_job_starts_without_batch_tasks_and_graph_raw_shows_the_flow_edges(stream_api: Api) -> None:
    _, body = stream_api.post("exec/raw", stream(flows={"f": "A >> B >> C >> B"}))
    job_id = body["jobId"]
    services.start_job(job_id)
    job = Job.objects.get(job_id=job_id)
    assert job.status == JobStatus.ACTIVE
    assert list(JobNode.objects.filter(job=job).values_list("node_name", flat=True).order_by("position")) == [
        "A",
        "B",
        "C",
    ]
    assert not Task.objects.filter(job_id=job_id).exists()
    status, graph = stream_api.get(f"graph/raw/{job_id}")
    assert status == 200, graph
    assert graph["edges"] == [
        {"from": "A", "to": "B", "value": {"types": ["waitNode", "customStream"]}},
        {"from": "B", "to": "C", "value": {"types": ["waitNode", "customStream"]}},
        {"from": "C", "to": "B", "value": {"types": ["waitNode", "customStream"]}},
    ]
    status, parsed = stream_api.get(f"graph/parsed/{job_id}")
    assert status == 200 and parsed["edges"] == graph["edges"]


# --- exec/getGraphByStreamingFlow ---------------------------------------------------------------------


PREVIEW = stream(
    node("A", stateType="stateful"),
    node("B"),
    node("C"),
    flows={"one": "A >> B", "two": "A >> C >> B"},
)


@pytest.mark.parametrize("path", ["exec/getGraphByStreamingFlow", "store/pipelines/graph"])
def test_graph_by_streaming_flow(stream_api: Api, path: str) -> None:
    pipeline = copy.deepcopy(PREVIEW)
    status, answer = stream_api.post(path, {"pipeline": pipeline})
    assert status == 200, answer
    assert answer == {"nodes": pipeline["nodes"], "edges": [{"from": "A", "to": "B"}]}
    _, two = stream_api.post(path, {"pipeline": pipeline, "keyFlow": "two"})
    assert two["edges"] == [{"from": "A", "to": "C"}, {"from": "C", "to": "B"}]
    _, every = stream_api.post(path, {"pipeline": pipeline, "isBuildAllFlows": True})
    assert every["edges"] == [{"from": "A", "to": "B"}, {"from": "A", "to": "C"}, {"from": "C", "to": "B"}]
    pipeline["streaming"]["defaultFlow"] = "two"
    assert stream_api.post(path, {"pipeline": pipeline})[1]["edges"] == two["edges"]


def test_graph_by_streaming_flow_errors(stream_api: Api) -> None:
    pipeline = copy.deepcopy(PREVIEW)
    path = "exec/getGraphByStreamingFlow"
    assert stream_api.error("post", path, {"pipeline": pipeline, "keyFlow": "nope"}) == (
        400,
        "invalid stream flow nope",
    )
    assert stream_api.error("post", path, {"keyFlow": "x"}) == (
        400,
        "data should have required property 'pipeline'",
    )
    pipeline["streaming"]["flows"] = {"bad": "A >> Z"}
    assert stream_api.error("post", path, {"pipeline": pipeline}) == (
        400,
        "invalid node Z in stream flow bad",
    )
    pipeline["streaming"]["flows"] = {"ok": "B >> C"}
    assert stream_api.post(path, {"pipeline": pipeline})[0] == 200  # only a stateType given counts
    pipeline["nodes"][1]["stateType"] = "stateless"
    assert stream_api.error("post", path, {"pipeline": pipeline}) == (
        400,
        'entry node "B" cannot be stateless on stream pipeline',
    )
    pipeline["streaming"] = {}
    assert stream_api.error("post", path, {"pipeline": pipeline}) == (400, "please specify a stream flow")
    pipeline["kind"] = "batch"
    pipeline["streaming"] = {"flows": {"x": "A >> B"}}
    assert stream_api.error("post", path, {"pipeline": pipeline}) == (
        400,
        "streaming flow is only allowed in stream pipeline",
    )


def test_graph_by_streaming_flow_of_a_batch_pipeline_draws_its_references(stream_api: Api) -> None:
    pipeline = {"name": "b", "nodes": [node("A"), node("B", input=["@A"])]}
    status, answer = stream_api.post("exec/getGraphByStreamingFlow", {"pipeline": pipeline})
    assert (status, answer) == (200, {"nodes": pipeline["nodes"], "edges": [{"from": "A", "to": "B"}]})


@pytest.mark.parametrize(
    "pipeline",
    [
        {"kind": "stream", "nodes": "x"},
        {"kind": "stream", "nodes": [1]},
        {"kind": "stream", "nodes": [{"nodeName": 5}], "streaming": "A >> B"},
        {"kind": "stream", "nodes": [{"nodeName": "A"}], "streaming": {"flows": ["A >> B"]}},
        {"kind": "stream", "nodes": [{"nodeName": "A"}], "streaming": {"flows": {"f": 7}}},
        {
            "kind": "stream",
            "nodes": [{"nodeName": "A"}, {"nodeName": "B"}],
            "streaming": {"flows": {"f": "A>>B"}},
        },
        {"kind": "batch", "nodes": [{"nodeName": "A", "input": 3}]},
        {"nodes": [{"nodeName": "A", "algorithmName": "green-alg", "input": ["@B"]}]},
    ],
)
def test_graph_by_streaming_flow_answers_odd_shapes_without_a_server_error(
    stream_api: Api, pipeline: dict[str, Any]
) -> None:
    status, answer = stream_api.post("exec/getGraphByStreamingFlow", {"pipeline": pipeline})
    assert status in (200, 400), answer
