"""Triggers on the real system: pipeline triggers pass results on, cron fires from beat.

The cron pipeline is scheduled when the module starts and its firing is checked last, so the
wait for the next minute overlaps the other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.algorithms import ECHO_OR_REFUSE
from tests.e2e.harness import ROOT, Cluster, eventually

pytestmark = pytest.mark.e2e

CRON = "tr-cron"


@pytest.fixture(scope="module")
def algorithm(algorithm_factory: Callable[..., str]) -> str:
    return algorithm_factory("tr-echo", ECHO_OR_REFUSE)


def node(algorithm: str, *inputs: object) -> dict[str, Any]:
    return {"nodeName": "n", "algorithmName": algorithm, "input": list(inputs)}


def store(hkube: Cluster, descriptor: dict[str, Any]) -> None:
    response = hkube.post("store/pipelines", descriptor)
    assert response.status_code == 201, response.text


def delete(hkube: Cluster, name: str) -> None:
    import requests

    requests.delete(hkube.url(f"store/pipelines/{name}"), timeout=30)


def beat_task(hkube: Cluster, name: str) -> dict[str, Any] | None:
    """The PeriodicTask beat reads, straight from the system's database."""
    code = (
        "import json\n"
        "from django_celery_beat.models import PeriodicTask\n"
        f"t = PeriodicTask.objects.filter(name={name!r}).first()\n"
        "c = t and t.crontab\n"
        "print(json.dumps(t and {'enabled': t.enabled, 'task': t.task, 'queue': t.queue, 'crontab':\n"
        "    f'{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=hkube.env, check=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    found: dict[str, Any] | None = json.loads(done.stdout.strip().splitlines()[-1])
    return found


@pytest.fixture(scope="module")
def cron_pipeline(hkube: Cluster, algorithm: str) -> Iterator[str]:
    store(
        hkube,
        {
            "name": CRON,
            "nodes": [node(algorithm, "@flowInput.x")],
            "flowInput": {"x": 1},
            "triggers": {"cron": {"pattern": "* * * * *", "enabled": True}},
        },
    )
    # Storing is mirrored into beat by the reconcile loop within 15 s; cron/start does it now.
    assert hkube.post("cron/start", {"name": CRON}).json() == {"message": "OK"}
    yield CRON
    hkube.post("cron/stop", {"name": CRON})
    delete(hkube, CRON)


def test_cron_start_schedules_the_stored_pipeline_in_beat(hkube: Cluster, cron_pipeline: str) -> None:
    listed = hkube.get("cron/list").json()
    assert {"name": cron_pipeline, "cron": {"pattern": "* * * * *", "enabled": True}} in listed
    assert beat_task(hkube, f"hkube cron: {cron_pipeline}") == {
        "enabled": True,
        "task": "pipelines.triggers.run_cron",
        "queue": "events",
        "crontab": "* * * * *",
    }


def job_of(hkube: Cluster, pipeline: str, timeout: float) -> str:
    """The newest job of a pipeline, once there is one."""
    found = eventually(
        lambda: (r := hkube.get(f"pipelines/status?name={pipeline}")).status_code == 200 and r.json(),
        timeout,
        f"a job of {pipeline}",
    )
    job_id: str = found[0]["jobId"]
    return job_id


def test_a_completed_pipeline_triggers_its_listeners_with_its_results(hkube: Cluster, algorithm: str) -> None:
    store(hkube, {"name": "tr-a", "nodes": [node(algorithm, "@flowInput.x")], "flowInput": {"x": 7}})
    store(
        hkube,
        {
            "name": "tr-b",
            "nodes": [node(algorithm, "@flowInput.parent", "@flowInput.own")],
            "flowInput": {"own": 1},
            "triggers": {"pipelines": ["tr-a"]},
        },
    )
    parent = hkube.run("exec/stored", {"name": "tr-a"})
    assert parent["status"] == "completed", parent
    parent_data = hkube.results(parent["jobId"])["data"]
    assert parent_data == [{"nodeName": "n", "algorithmName": algorithm, "result": [7]}]

    child = hkube.wait(job_of(hkube, "tr-b", 30))
    assert child["status"] == "completed", child
    assert hkube.results(child["jobId"])["data"][0]["result"] == [parent_data, 1]
    assert hkube.get(f"exec/pipelines/{child['jobId']}").json()["types"] == ["internal", "stored", "trigger"]
    assert hkube.get(f"exec/tree/{parent['jobId']}").json() == {
        "name": "tr-a",
        "jobId": parent["jobId"],
        "children": [{"name": "tr-b", "jobId": child["jobId"], "children": []}],
    }
    assert hkube.get("pipelines/triggers/tree?name=tr-a").json() == [
        {"name": "tr-a", "children": [{"name": "tr-b", "children": []}]}
    ]


def test_a_failed_pipeline_triggers_nothing(hkube: Cluster, algorithm: str) -> None:
    store(hkube, {"name": "tr-bad", "nodes": [node(algorithm, "fail")]})
    store(
        hkube,
        {"name": "tr-after-bad", "nodes": [node(algorithm)], "triggers": {"pipelines": ["tr-bad"]}},
    )
    failed = hkube.run("exec/stored", {"name": "tr-bad"})
    assert failed["status"] == "failed", failed
    time.sleep(2)  # the finished event is handled within milliseconds
    assert hkube.get("pipelines/status?name=tr-after-bad").status_code == 404
    assert hkube.get(f"exec/tree/{failed['jobId']}").json() == {
        "error": {"code": 404, "message": f"tree {failed['jobId']} Not Found"}
    }


def test_a_trigger_cycle_is_refused(hkube: Cluster, algorithm: str) -> None:
    try:
        store(
            hkube,
            {"name": "tr-c1", "nodes": [node(algorithm)], "triggers": {"pipelines": ["tr-c2"]}},
        )
        response = hkube.post(
            "store/pipelines",
            {"name": "tr-c2", "nodes": [node(algorithm)], "triggers": {"pipelines": ["tr-c1"]}},
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["message"] == "the pipelines triggers is cyclic"
    finally:
        delete(hkube, "tr-c1")
        delete(hkube, "tr-c2")


def test_cron_fires_the_stored_pipeline_and_stop_disables_it(hkube: Cluster, cron_pipeline: str) -> None:
    # Beat fires at the start of the next minute: at most ~65 s after the module started.
    job_id = job_of(hkube, cron_pipeline, 75)
    status = hkube.wait(job_id)
    assert status["status"] == "completed", status
    assert hkube.get(f"exec/pipelines/{job_id}").json()["types"] == ["stored", "internal", "cron"]
    results = hkube.get(f"cron/results?name={cron_pipeline}&limit=5").json()
    assert [r["data"][0]["result"] for r in results if r["jobId"] == job_id] == [[1]]
    assert job_id in [s["jobId"] for s in hkube.get(f"cron/status?name={cron_pipeline}&limit=5").json()]

    assert hkube.post("cron/stop", {"name": cron_pipeline}).json() == {"message": "OK"}
    listed = hkube.get("cron/list").json()
    assert {"name": cron_pipeline, "cron": {"pattern": "* * * * *", "enabled": False}} in listed
    task = beat_task(hkube, f"hkube cron: {cron_pipeline}")
    assert task is not None and task["enabled"] is False
