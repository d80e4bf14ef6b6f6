"""Chaos, short: jobs of every shape run while the killer SIGKILLs algorithm processes,
algorithm workers, the engine worker and the API server; none may be lost, duplicated or wrong.

The long run, every component and both databases, is `bench/chaos.py`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import chaos
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def chaos_cluster(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: None) -> Iterator[Cluster]:
    # Its own system (its own Redis, restarted by nobody else), not the session's.
    home = tmp_path_factory.mktemp("hkube-chaos")
    cluster = Cluster(home=home / "home", persist_redis=True)
    try:
        cluster.start()
        chaos.setup(cluster, home)
        cluster.keep_alive()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("HKUBE_TEST_REDIS_URL", raising=False)
        patch.delenv("HKUBE_TEST_DATABASE_URL", raising=False)
        yield


def test_no_job_is_lost_duplicated_or_wrong_while_components_are_killed(chaos_cluster: Cluster) -> None:
    kinds = ("algorithm-process", "algorithm-worker", "engine", "api")
    report = chaos.run_chaos(
        chaos_cluster,
        jobs=8,
        seconds=50,
        kinds=kinds,
        seed=7,
        pause=(3.0, 6.0),
        deadline=120,
        say=lambda _: None,
    )
    summary = "\n".join(report.lines())
    assert report.bad == 0, summary
    assert report.count("ok") >= 8, summary
    killed = {kind for kind, _ in report.kills}
    assert killed >= {"engine", "api"}, summary  # the workers' kills need one running at that moment
    assert all(seconds is not None for _, seconds in report.kills), summary
    assert {name for _, name in chaos_cluster.restarts} >= {"engine", "api"}, summary


def test_the_report_counts_a_duplicated_and_a_wrong_result() -> None:
    job = chaos.Submitted("j", "canary", chaos.canary_expected(2))
    entry = {"nodeName": "c", "algorithmName": chaos.MUL, "result": 6}
    chaos.judge(job, {"status": "completed"}, {"data": [entry, entry]})
    assert job.outcome == "duplicated"
    chaos.judge(job, {"status": "completed"}, {"data": [{**entry, "result": 7}]})
    assert job.outcome == "wrong"
    chaos.judge(job, {"status": "active"}, None)
    assert job.outcome == "lost"
    chaos.judge(job, {"status": "completed"}, {"data": [entry]})
    assert job.outcome == "ok"
