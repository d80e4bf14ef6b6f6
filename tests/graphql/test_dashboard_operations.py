"""Every operation HKube's dashboard sends validates against our schema and runs."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse, validate

from graphql_api.schema import schema
from pipelines import services
from pipelines.models import Job, JobStatus
from tests.graphql.conftest import Query, data
from tests.graphql.dashboard_operations import OPERATIONS

VARIABLES: dict[str, dict[str, Any]] = {
    "DataSourcePreviewQuery": {"id": "1", "query": "q"},
    "DataSourceSnapanshots": {"name": "d"},
    "DataSourceVersions": {"name": "d"},
    "managedList": {"pageSize": 10},
    "preferedList": {"pageSize": 10},
    "algorithmBuilds": {"algorithmName": "green-alg"},
    "algorithmsByName": {"name": "green-alg"},
    "algorithmsByVersion": {"name": "green-alg", "version": "nope"},
    "logsByQuery": {"podName": "w", "taskId": "t"},
    "jobsAggregated": {"experimentName": "main", "limit": 100},
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_dashboards_operation_validates(name: str) -> None:
    assert validate(schema(), parse(OPERATIONS[name])) == []


@pytest.mark.parametrize("name", sorted(set(OPERATIONS) - {"dataSource"}))
def test_the_dashboards_operation_runs_on_a_finished_job(
    gql: Query, algorithms: list[str], name: str
) -> None:
    job = services.submit_job(
        {"name": "p1", "nodes": [{"nodeName": "a", "algorithmName": "green-alg", "input": [1]}]},
        types=["raw"],
    )
    services.stop_job(job.job_id)
    assert Job.objects.get(job_id=job.job_id).status == JobStatus.STOPPED
    variables = VARIABLES.get(name, {"id": job.job_id})
    answer = data(gql(OPERATIONS[name], variables, operation=f"Dashboard_{name}"))
    assert name in answer
    if name in ("job", "jobsAggregated"):
        found = answer["job"] if name == "job" else answer["jobsAggregated"]["jobs"][0]
        assert found["key"] == job.job_id
        assert found["graph"]["nodes"][0]["nodeName"] == "a"
        assert found["status"]["status"] == "stopped"
