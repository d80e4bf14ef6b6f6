"""`job(id)` and `jobsAggregated`: HKube's job documents, filters, paging and count."""

from __future__ import annotations

from typing import Any

import pytest

from pipelines import services
from pipelines.models import Job, JobStatus
from tests.graphql.conftest import Query, data, errors

JOB_FIELDS = """
  key externalId __typename
  status { status level pipeline timestamp data { progress details states { succeed pending creating } } }
  results { status pipeline timeTook data { storageInfo { path } } }
  pipeline {
    name experimentName priority startTime types tags activeTime queueTimeSeconds
    lastRunResult { status } flowInputMetadata { storageInfo { path size } metadata { values } }
    triggers { cron { enabled pattern } } options { ttl batchTolerance progressVerbosityLevel
    concurrentPipelines { amount rejectOnFailure } }
    flowInput nodes { nodeName algorithmName input { path value } kind }
  }
  userPipeline { name experimentName }
  auditTrail { action user timestamp }
"""
AGGREGATED = (
    "query Jobs($experimentName: String, $pipelineName: String, $algorithmName: String,"
    " $pipelineStatus: String, $user: String, $tags: [String], $datesRange: Range,"
    " $cursor: String, $limit: Int) {"
    " jobsAggregated(experimentName: $experimentName, pipelineName: $pipelineName,"
    " algorithmName: $algorithmName, pipelineStatus: $pipelineStatus, user: $user, tags: $tags,"
    " datesRange: $datesRange, cursor: $cursor, limit: $limit)"
    " { jobs { key pipeline { name } } cursor jobsCount } }"
)
BASE = 1_700_000_000_000  # 2023-11-14T22:13:20Z
HOUR = 3600 * 1000


def submit(name: str, algorithm: str = "green-alg", **extra: Any) -> Job:
    descriptor = {
        "name": name,
        "nodes": [{"nodeName": "a", "algorithmName": algorithm, "input": ["@flowInput.x", 7]}],
        "flowInput": {"x": [1, 2, 3]},
        **extra,
    }
    return services.submit_job(descriptor, types=["raw"])


def finish(job: Job, status: str = JobStatus.COMPLETED, start: int | None = None) -> Job:
    """Test data: an ended job at a chosen start time (the driver's path is tested elsewhere)."""
    start = start or job.start_time
    Job.objects.filter(job_id=job.job_id).update(
        status=status,
        start_time=start,
        active_time=start + 2000,
        end_time=start + 5000,
        result={"status": status, "timestamp": start + 5000, "timeTook": 5, "pipeline": job.pipeline_name},
    )
    return Job.objects.get(job_id=job.job_id)


def keys(result: tuple[int, dict[str, Any]]) -> list[str]:
    return [job["key"] for job in data(result)["jobsAggregated"]["jobs"]]


def test_job_answers_hkubes_document_with_key_results_and_input_values(
    gql: Query, algorithms: list[str]
) -> None:
    job = finish(submit("p1", tags=["blue"], priority=2))
    query = f"query JobsAggregatedByID($id: String!) {{ job(id: $id) {{ {JOB_FIELDS} }} }}"
    found = data(gql(query, {"id": job.job_id}))["job"]
    assert found["key"] == job.job_id
    assert found["__typename"] == "Job"
    assert found["status"]["status"] == "completed"
    assert found["status"]["pipeline"] == "p1"
    assert found["results"] == {"status": "completed", "pipeline": "p1", "timeTook": 5.0, "data": None}
    pipeline = found["pipeline"]
    assert pipeline["name"] == "p1"
    assert pipeline["priority"] == 2
    assert pipeline["tags"] == ["blue"]
    assert pipeline["types"] == ["raw"]
    assert pipeline["queueTimeSeconds"] == 2.0
    # Millisecond times do not fit GraphQL's 32-bit Int: they are Float.
    assert pipeline["startTime"] == job.start_time
    assert pipeline["activeTime"] == job.start_time + 2000
    assert pipeline["flowInputMetadata"]["storageInfo"]["path"]
    assert (
        pipeline["flowInputMetadata"]["metadata"]["values"] == job.pipeline["flowInputMetadata"]["metadata"]
    )
    assert pipeline["options"]["ttl"] == job.pipeline["options"]["ttl"]
    assert pipeline["nodes"] == [
        {
            "nodeName": "a",
            "algorithmName": "green-alg",
            "kind": job.pipeline["nodes"][0].get("kind"),
            "input": [{"path": None, "value": "@flowInput.x"}, {"path": None, "value": 7}],
        }
    ]
    assert found["userPipeline"] == {"name": "p1", "experimentName": None}  # as submitted
    assert found["auditTrail"][0]["action"] == "run"


def test_job_graph_is_the_graph_parsed_document(gql: Query, algorithms: list[str]) -> None:
    job = submit("p1")
    query = """query ($id: String!) { job(id: $id) { graph { jobId timestamp
        nodes { nodeName algorithmName status taskId level input { value } batch { taskId } }
        edges { from to value { types } } } } }"""
    graph = data(gql(query, {"id": job.job_id}))["job"]["graph"]
    assert graph["jobId"] == job.job_id
    assert graph["edges"] == []
    [node] = graph["nodes"]
    assert node["nodeName"] == "a"
    assert node["algorithmName"] == "green-alg"
    assert node["status"] == "creating"
    assert node["taskId"]
    assert node["input"] == [{"value": "@flowInput.x"}, {"value": 7}]


def test_an_unknown_job_is_hkubes_not_found_error(gql: Query) -> None:
    status, body = gql('{ job(id: "nope") { key } }')
    assert status == 200
    assert body["data"] == {"job": None}
    [error] = errors((status, body))
    assert error["message"] == "jobId nope Not Found"
    assert error["path"] == ["job"]
    assert error["extensions"] == {"code": "NOT_FOUND", "status": 404}


def test_jobs_aggregated_excludes_pending_by_default_newest_first_with_count(
    gql: Query, algorithms: list[str]
) -> None:
    old = finish(submit("p1"), start=BASE)
    new = finish(submit("p2"), JobStatus.FAILED, start=BASE + HOUR)
    pending = submit("p1")
    body = data(gql(AGGREGATED))["jobsAggregated"]
    assert [j["key"] for j in body["jobs"]] == [new.job_id, old.job_id]
    assert body["jobsCount"] == 2
    assert keys(gql(AGGREGATED, {"pipelineStatus": "pending"})) == [pending.job_id]
    assert keys(gql(AGGREGATED, {"pipelineStatus": "failed"})) == [new.job_id]


def test_jobs_aggregated_filters_by_name_algorithm_tags_user_and_experiment(
    gql: Query, algorithms: list[str]
) -> None:
    services.create_experiment({"name": "lab"})
    a = finish(submit("p1", tags=["x", "y"]), start=BASE)
    b = finish(submit("p2", algorithm="yellow-alg", tags=["y"]), start=BASE + 1)
    c = finish(submit("p1", experimentName="lab"), start=BASE + 2)
    assert keys(gql(AGGREGATED, {"pipelineName": "p1"})) == [a.job_id]
    assert keys(gql(AGGREGATED, {"algorithmName": "yellow-alg"})) == [b.job_id]
    assert keys(gql(AGGREGATED, {"tags": ["y"]})) == [b.job_id, a.job_id]
    assert keys(gql(AGGREGATED, {"tags": ["x", "y"]})) == [a.job_id]
    assert keys(gql(AGGREGATED, {"experimentName": "lab"})) == [c.job_id]
    assert keys(gql(AGGREGATED, {"experimentName": "show-all"})) == [c.job_id, b.job_id, a.job_id]
    assert keys(gql(AGGREGATED, {"user": "defaultUser"})) == [b.job_id, a.job_id]
    assert keys(gql(AGGREGATED, {"user": "someone-else"})) == []


def test_jobs_aggregated_dates_range_is_iso_on_the_start_time(gql: Query, algorithms: list[str]) -> None:
    early = finish(submit("p1"), start=BASE)
    late = finish(submit("p1"), start=BASE + 2 * HOUR)
    dates = {"from": "2023-11-14T23:00:00.000Z", "to": "2023-11-15T01:00:00Z"}
    assert keys(gql(AGGREGATED, {"datesRange": dates})) == [late.job_id]
    assert keys(gql(AGGREGATED, {"datesRange": {"to": "2023-11-14T22:30:00"}})) == [early.job_id]


def test_jobs_aggregated_pages_with_cursor_and_limit(gql: Query, algorithms: list[str]) -> None:
    jobs = [finish(submit("p1"), start=BASE + i) for i in range(5)]
    newest_first = [j.job_id for j in reversed(jobs)]
    first = data(gql(AGGREGATED, {"limit": 2}))["jobsAggregated"]
    assert [j["key"] for j in first["jobs"]] == newest_first[:2]
    assert first["cursor"] == newest_first[1]
    assert first["jobsCount"] == 5
    second = data(gql(AGGREGATED, {"limit": 2, "cursor": first["cursor"]}))["jobsAggregated"]
    assert [j["key"] for j in second["jobs"]] == newest_first[2:4]
    last = data(gql(AGGREGATED, {"limit": 2, "cursor": second["cursor"]}))["jobsAggregated"]
    assert [j["key"] for j in last["jobs"]] == newest_first[4:]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"limit": 0}, "limit should be between 1 and 100000"),
        ({"cursor": "no-such-job"}, "please provide a valid cursor"),
        ({"datesRange": {"from": "yesterday"}}, "datesRange.from should be an ISO date, got 'yesterday'"),
    ],
)
def test_jobs_aggregated_bad_arguments_are_hkube_400_errors(
    gql: Query, variables: dict[str, Any], message: str
) -> None:
    [error] = errors(gql(AGGREGATED, variables))
    assert error["message"] == message
    assert error["extensions"]["status"] == 400


def test_an_argument_of_the_wrong_type_is_refused_before_running(gql: Query) -> None:
    status, body = gql(AGGREGATED, {"limit": "ten"})
    assert status == 400
    assert body.get("data") is None
    assert "Int cannot represent non-integer value" in body["errors"][0]["message"]
