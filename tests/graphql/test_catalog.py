"""Stored pipelines, algorithms, builds and experiments through GraphQL: the REST documents."""

from __future__ import annotations

from pathlib import Path

from algorithms.models import Algorithm, AlgorithmVersion
from builds import services as build_services
from builds.models import Build, BuildStatus
from pipelines import services
from tests.graphql.conftest import Query, data

ALGORITHMS = """query Algorithms { algorithms { list { name cpu mem algorithmImage version created modified
  minHotWorkers type unscheduledReason options { pending debug } auditTrail { user version }
  buildStats { total pending creating active completed failed stopped } } algorithmsCount } }"""


def store(name: str, algorithm: str = "green-alg") -> None:
    services.store_pipeline(
        {"name": name, "nodes": [{"nodeName": "a", "algorithmName": algorithm, "input": []}]}
    )


def build(tmp_path: Path, algorithm: str, status: str) -> Build:
    archive = tmp_path / f"{algorithm}-{status}.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    package = build_services.store_package(algorithm, archive)
    made = build_services.create_build(package, {"name": algorithm, "env": "python"})
    Build.objects.filter(build_id=made.build_id).update(status=status)
    return Build.objects.get(build_id=made.build_id)


def test_pipelines_lists_the_stored_descriptors_and_counts_them(gql: Query, algorithms: list[str]) -> None:
    store("p1")
    store("p2", "yellow-alg")
    body = data(gql("query Pipelines { pipelines { list pipelinesCount } }"))["pipelines"]
    assert body["pipelinesCount"] == 2
    assert [p["name"] for p in body["list"]] == ["p1", "p2"]
    first = body["list"][0]
    assert first["nodes"][0]["algorithmName"] == "green-alg"
    assert {"created", "modified", "version", "auditTrail", "options"} <= set(first)


def test_pipeline_stats_count_jobs_per_pipeline_and_status(gql: Query, algorithms: list[str]) -> None:
    store("p1")
    for _ in range(2):
        services.submit_job(
            {"name": "p1", "nodes": [{"nodeName": "a", "algorithmName": "green-alg"}]}, types=["raw"]
        )
    stopped = services.submit_job(
        {"name": "p2", "nodes": [{"nodeName": "a", "algorithmName": "green-alg"}]}, types=["raw"]
    )
    assert services.stop_job(stopped.job_id)
    body = data(gql("query { pipelineStats { name stats { status count } } }"))["pipelineStats"]
    assert body == [
        {"name": "p1", "stats": [{"status": "pending", "count": 2}]},
        {"name": "p2", "stats": [{"status": "stopped", "count": 1}]},
    ]


def test_algorithms_list_their_descriptors_with_build_stats(
    gql: Query, algorithms: list[str], tmp_path: Path
) -> None:
    build(tmp_path, "green-alg", BuildStatus.COMPLETED)
    build(tmp_path, "green-alg", BuildStatus.FAILED)
    build(tmp_path, "green-alg", BuildStatus.FAILED)
    body = data(gql(ALGORITHMS))["algorithms"]
    assert body["algorithmsCount"] == 2
    green, yellow = body["list"]
    stored = Algorithm.objects.get(name="green-alg").as_api()
    assert green["name"] == "green-alg"
    assert green["algorithmImage"] == "hkube/green-alg"
    assert green["cpu"] == 0.5
    assert green["mem"] == "256Mi"
    assert green["version"] == stored["version"]
    assert green["created"] == stored["created"]
    assert green["unscheduledReason"] is None
    assert green["buildStats"] == {
        "total": 3,
        "pending": 0,
        "creating": 0,
        "active": 0,
        "completed": 1,
        "failed": 2,
        "stopped": 0,
    }
    assert yellow["buildStats"]["total"] == 0


def test_algorithms_by_name_and_by_version_answer_the_json_documents(
    gql: Query, algorithms: list[str]
) -> None:
    by_name = data(gql('query { algorithmsByName(name: "green-alg") }'))["algorithmsByName"]
    assert by_name == Algorithm.objects.get(name="green-alg").as_api()
    version = AlgorithmVersion.objects.filter(algorithm_name="green-alg").first()
    assert version is not None
    query = (
        "query AlgorithmsByVersion($name: String!, $version: String!)"
        " { algorithmsByVersion(name: $name, version: $version) }"
    )
    by_version = data(gql(query, {"name": "green-alg", "version": version.version}))["algorithmsByVersion"]
    assert by_version == version.as_api()
    assert by_version["algorithm"]["algorithmImage"] == "hkube/green-alg"


def test_unknown_algorithms_and_versions_are_null_as_in_hkube(gql: Query, algorithms: list[str]) -> None:
    assert data(gql('query { algorithmsByName(name: "nope") }')) == {"algorithmsByName": None}
    query = 'query { algorithmsByVersion(name: "green-alg", version: "nope") }'
    assert data(gql(query)) == {"algorithmsByVersion": None}


def test_algorithm_builds_lists_build_documents_of_one_or_all_algorithms(
    gql: Query, algorithms: list[str], tmp_path: Path
) -> None:
    green = build(tmp_path, "green-alg", BuildStatus.COMPLETED)
    yellow = build(tmp_path, "yellow-alg", BuildStatus.PENDING)
    query = """query AlgorithmBuilds($algorithmName: String) {
        algorithmBuilds(algorithmName: $algorithmName) {
        buildId algorithmName env status progress startTime buildMode type result { data errors }
        algorithm { name env } } }"""
    only_green = data(gql(query, {"algorithmName": "green-alg"}))["algorithmBuilds"]
    assert [b["buildId"] for b in only_green] == [green.build_id]
    assert only_green[0]["status"] == "completed"
    assert only_green[0]["algorithm"] == {"name": "green-alg", "env": "python"}
    assert only_green[0]["startTime"] == green.start_time
    every = data(gql(query))["algorithmBuilds"]
    assert {b["buildId"] for b in every} == {green.build_id, yellow.build_id}


def test_experiments_list_main_and_the_created_ones(gql: Query) -> None:
    services.create_experiment({"name": "lab", "description": "tries"})
    body = data(gql("query Experiments { experiments { name description created } }"))["experiments"]
    assert [(e["name"], e["description"]) for e in body] == [("main", ""), ("lab", "tries")]
    assert isinstance(body[1]["created"], float)
