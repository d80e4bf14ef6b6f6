"""The queue page, task logs, and the cluster fields (some answer empty by design)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hkube_site.object_store import get_storage
from pipelines import services
from pipelines.engine import ids
from pipelines.logs import TaskLog
from pipelines.models import Job, Task
from tests.graphql.conftest import Query, data, errors

LIST = """query ManagedList($pageSize: Int!, $firstJobId: String, $lastJobId: String, $pipelineName: String,
  $tag: String, $lastJobs: Boolean) { managedList(pageSize: $pageSize, firstJobId: $firstJobId,
  lastJobId: $lastJobId, pipelineName: $pipelineName, tag: $tag, lastJobs: $lastJobs) {
  nextCount prevCount
  returnList { jobId experimentName pipelineName priority maxExceeded entranceTime tags } } }"""
LOGS = """query LogsByQuery($podName: String!, $taskId: String!, $source: String, $nodeKind: String,
  $logMode: String, $searchWord: String, $limit: Int, $containerNames: [String]) {
  logsByQuery(podName: $podName, taskId: $taskId, source: $source, nodeKind: $nodeKind, logMode: $logMode,
  searchWord: $searchWord, limit: $limit, containerNames: $containerNames) {
  logs { level timestamp message } podStatus } }"""


def submit(name: str, priority: int = 3, tags: list[str] | None = None) -> Job:
    descriptor: dict[str, Any] = {
        "name": name,
        "priority": priority,
        "tags": tags or [],
        "nodes": [{"nodeName": "a", "algorithmName": "green-alg"}],
    }
    return services.submit_job(descriptor, types=["raw"])


def listed(result: tuple[int, dict[str, Any]]) -> tuple[list[str], int, int]:
    body = data(result)["managedList"]
    return [j["jobId"] for j in body["returnList"]], body["prevCount"], body["nextCount"]


def test_the_managed_queue_is_the_pending_jobs_by_priority_then_age(
    gql: Query, algorithms: list[str]
) -> None:
    low = submit("p1", priority=5, tags=["t"])
    high = submit("p2", priority=1)
    mid = submit("p1", priority=3)
    started = submit("p1")
    services.stop_job(started.job_id)
    body = data(gql(LIST, {"pageSize": 10}))["managedList"]
    assert [j["jobId"] for j in body["returnList"]] == [high.job_id, mid.job_id, low.job_id]
    assert body["returnList"][2] == {
        "jobId": low.job_id,
        "experimentName": "main",
        "pipelineName": "p1",
        "priority": 5,
        "maxExceeded": False,
        "entranceTime": low.start_time,
        "tags": ["t"],
    }
    counts = data(gql("query { queueCount { managed preferred } }"))["queueCount"]
    assert counts == {"managed": 3, "preferred": 0}


def test_the_managed_list_pages_forward_backward_and_to_the_end(gql: Query, algorithms: list[str]) -> None:
    jobs = [submit("p1").job_id for _ in range(5)]
    assert listed(gql(LIST, {"pageSize": 2})) == (jobs[:2], 0, 3)
    assert listed(gql(LIST, {"pageSize": 2, "lastJobId": jobs[1]})) == (jobs[2:4], 2, 1)
    assert listed(gql(LIST, {"pageSize": 2, "firstJobId": jobs[2]})) == (jobs[:2], 0, 3)
    assert listed(gql(LIST, {"pageSize": 2, "lastJobs": True})) == (jobs[3:], 3, 0)
    assert listed(gql(LIST, {"pageSize": 2, "lastJobId": "gone"})) == (jobs[:2], 0, 3)


def test_the_managed_list_filters_and_aggregates_by_pipeline_and_tag(
    gql: Query, algorithms: list[str]
) -> None:
    a = submit("p1", tags=["x"])
    b = submit("p2", tags=["x", "y"])
    assert listed(gql(LIST, {"pageSize": 10, "pipelineName": "p2"}))[0] == [b.job_id]
    assert listed(gql(LIST, {"pageSize": 10, "tag": "x"}))[0] == [a.job_id, b.job_id]
    by_pipeline = data(gql("query { aggregatedPipelineManaged { name count } }"))["aggregatedPipelineManaged"]
    assert by_pipeline == [{"name": "p1", "count": 1}, {"name": "p2", "count": 1}]
    by_tag = data(gql("query { aggregatedTagsManaged { name count } }"))["aggregatedTagsManaged"]
    assert by_tag == [{"name": "x", "count": 2}, {"name": "y", "count": 1}]


def test_the_preferred_queue_is_empty(gql: Query, algorithms: list[str]) -> None:
    submit("p1")
    query = """query { preferedList(pageSize: 10) { nextCount prevCount returnList { jobId } }
      aggregatedPipelinePrefered { name count lastJob } aggregatedTagsPrefered { name count lastJob } }"""
    assert data(gql(query)) == {
        "preferedList": {"nextCount": 0, "prevCount": 0, "returnList": []},
        "aggregatedPipelinePrefered": [],
        "aggregatedTagsPrefered": [],
    }


def test_a_page_size_below_one_is_refused(gql: Query) -> None:
    [error] = errors(gql(LIST, {"pageSize": 0}))
    assert error["message"] == "pageSize should be >= 1"
    assert error["extensions"]["status"] == 400


def test_logs_by_query_reads_the_tasks_log_with_search_and_limit(gql: Query, algorithms: list[str]) -> None:
    job = submit("p1")
    task_id = ids.task_id(job.job_id, "a", 0)
    Task.objects.create(job=job, node_name="a", task_id=task_id, status="succeed", worker="w-1")
    log = TaskLog()
    log.add(
        [
            (1700000000.0, "stdout", "hello world"),
            (1700000001.0, "stderr", "oops"),
            (1700000002.0, "stdout", "bye"),
        ]
    )
    log.save(get_storage(), services.cluster(), job.job_id, task_id, "a", 0)
    body = data(gql(LOGS, {"podName": "w-1", "taskId": task_id, "source": "k8s", "logMode": "algorithm"}))
    assert body["logsByQuery"] == {
        "logs": [
            {"level": "info", "timestamp": 1700000000000.0, "message": "hello world"},
            {"level": "error", "timestamp": 1700000001000.0, "message": "oops"},
            {"level": "info", "timestamp": 1700000002000.0, "message": "bye"},
        ],
        "podStatus": "NORMAL",
    }
    found = data(gql(LOGS, {"podName": "w-1", "taskId": task_id, "searchWord": "O"}))["logsByQuery"]["logs"]
    assert [line["message"] for line in found] == ["hello world", "oops"]
    last = data(gql(LOGS, {"podName": "w-1", "taskId": task_id, "limit": 1}))["logsByQuery"]["logs"]
    assert [line["message"] for line in last] == ["bye"]


def test_logs_of_an_unknown_task_are_empty(gql: Query) -> None:
    body = data(gql(LOGS, {"podName": "w-1", "taskId": "nope"}))
    assert body["logsByQuery"] == {"logs": [], "podStatus": "NOT_EXIST"}


def test_health_monitoring_reports_the_database_and_redis(gql: Query) -> None:
    query = "query { healthMonitoring { overallHealthStatus services { serviceName status } } }"
    assert data(gql(query))["healthMonitoring"] == {
        "overallHealthStatus": "healthy",
        "services": [
            {"serviceName": "database", "status": "healthy"},
            {"serviceName": "redis", "status": "healthy"},
        ],
    }


def test_disk_space_is_the_storage_file_systems(gql: Query, settings: Any, tmp_path: Path) -> None:
    settings.HKUBE_STORAGE_DIR = tmp_path / "not" / "made" / "yet"
    body = data(gql("query DiskSpace { diskSpace { size free } }"))["diskSpace"]
    usage = shutil.disk_usage(tmp_path)
    assert body["size"] == usage.total
    assert 0 < body["free"] <= body["size"]


def test_fields_of_services_this_server_does_not_have_answer_empty(gql: Query) -> None:
    query = """query { errorLogs { id message } nodeStatistics { metric legend }
      dataSources { list { id name } dataSourcesCount }
      discovery { pipelineDriver { driverId } worker { workerId } taskExecutor { actual { total } } }
      DataSourceVersions(name: "d") { id } DataSourceSnapanshots(name: "d") { id }
      DataSourcePreviewQuery(id: "1", query: "q") { id } }"""
    assert data(gql(query)) == {
        "errorLogs": [],
        "nodeStatistics": [],
        "dataSources": {"list": [], "dataSourcesCount": 0},
        "discovery": {"pipelineDriver": [], "worker": [], "taskExecutor": []},
        "DataSourceVersions": [],
        "DataSourceSnapanshots": [],
        "DataSourcePreviewQuery": [],
    }
    [error] = errors(gql('query { dataSource(id: "1", name: "d") { id } }'))
    assert error["message"] == "dataSource d Not Found"
