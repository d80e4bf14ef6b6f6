"""A real job, traced and counted: its spans reach an OTLP collector from every process
(the API, the engine, the algorithm's worker) as one tree job -> node -> task ->
algorithm -> the algorithm's own spans, and `/metrics` counts it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.algorithms import algorithm_applier, python
from tests.e2e.harness import Cluster, eventually, node, running_cluster
from tests.observability.collector import Collector, ReceivedSpan

pytestmark = pytest.mark.timeout(600)

# Opens a span, a nested one, closes both (tags on the way), and doubles its input.
TRACED = python(
    "def start(args, api):",
    "    api.start_span('load', {'rows': 3})",
    "    api.start_span('parse')",
    "    api.finish_span({'parsed': True})",
    "    api.finish_span()",
    "    return args['input'][0] * 2",
)


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    server = Collector()
    yield server
    server.close()


@pytest.fixture(scope="module")
def traced(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    home = tmp_path_factory.mktemp("hkube-traced")
    with running_cluster(
        home, HKUBE_TRACING_ENDPOINT=collector.url, OTEL_BSP_SCHEDULE_DELAY="100"
    ) as cluster:
        algorithm_applier(cluster, Path(home) / "algorithms")("obs-double", TRACED)
        yield cluster


def metrics(cluster: Cluster) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(cluster.base_url + "/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_jobs_spans_nest_job_node_task_algorithm_and_its_own_spans(
    traced: Cluster, collector: Collector
) -> None:
    before = metrics(traced)
    body = {
        "name": "observed",
        "nodes": [node("twice", "obs-double", "#@flowInput.xs"), node("again", "obs-double", "@twice")],
        "flowInput": {"xs": [1, 2]},
    }
    job_id = traced.submit(body)
    status = traced.wait(job_id)
    assert status["status"] == "completed", status
    trace_id = status["traceId"]
    assert len(trace_id) == 32

    def whole_trace() -> list[ReceivedSpan] | None:
        spans = collector.of_trace(trace_id)
        names = [s.name for s in spans]
        complete = "job observed" in names and names.count("task twice") == 2 and names.count("parse") == 3
        return spans if complete else None

    spans = eventually(whole_trace, timeout=60, what="the job's spans")
    by_id = {s.span_id: s for s in spans}

    def parent(span: ReceivedSpan) -> ReceivedSpan:
        return by_id[span.parent_id]

    (job,) = [s for s in spans if s.name == "job observed"]
    assert job.parent_id == "" and job.attributes["hkube.status"] == "completed"
    nodes = {s.attributes["hkube.node"]: s for s in spans if s.name.startswith("node ")}
    assert set(nodes) == {"twice", "again"}
    assert all(parent(n) == job for n in nodes.values())
    tasks = [s for s in spans if s.name.startswith("task ")]
    assert sorted((s.attributes["hkube.node"], s.attributes["hkube.batch_index"]) for s in tasks) == [
        ("again", 0),
        ("twice", 1),
        ("twice", 2),
    ]
    for task in tasks:
        assert parent(task) == nodes[task.attributes["hkube.node"]]
    algorithms = [s for s in spans if s.name == "algorithm obs-double"]
    assert sorted(parent(a).span_id for a in algorithms) == sorted(t.span_id for t in tasks)
    loads = [s for s in spans if s.name == "load"]
    assert {parent(s).span_id for s in loads} == {a.span_id for a in algorithms}
    assert all(parent(s).name == "load" for s in spans if s.name == "parse")
    assert loads[0].attributes["rows"] == 3
    assert all(
        s.attributes.get("hkube.job_id") == job_id
        for s in [job, *nodes.values(), *tasks, *algorithms, *loads]
    )

    # Celery's own spans travel in the message headers: the worker's run span sits under a node.
    celery_runs = [s for s in spans if s.name.startswith("run/")]
    assert celery_runs, [s.name for s in spans]

    def under_a_node(span: ReceivedSpan) -> bool:
        while span.parent_id in by_id:
            span = parent(span)
            if span.name.startswith("node "):
                return True
        return False

    assert any(under_a_node(s) for s in celery_runs)
    # Django's instrumentation traced the API requests (their own traces).
    assert eventually(lambda: any(s.attributes.get("http.route") or "http.method" in s.attributes or
                                  "http.request.method" in s.attributes for s in collector.spans),
                      timeout=30, what="a Django request span")  # fmt: skip

    after = metrics(traced)
    done = ("hkube_jobs_ended_total", (("status", "completed"),))
    assert after[done] == before.get(done, 0) + 1
    assert after[("hkube_jobs_started_total", ())] == before[("hkube_jobs_started_total", ())] + 1
    count = ("hkube_task_duration_seconds_count", (("algorithm", "obs-double"),))
    assert after[count] == before.get(count, 0) + 3
    assert after[("hkube_build_duration_seconds_count", (("status", "completed"),))] >= 1


def test_gunicorn_serves_the_api_docs_assets(traced: Cluster) -> None:
    page = requests.get(traced.base_url + "/swagger/", timeout=30)
    assert page.status_code == 200
    assets = sorted(set(re.findall(r"""["'](/static/[^"']+)["']""", page.text)))
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        assert requests.get(traced.base_url + asset, timeout=30).status_code == 200, asset
