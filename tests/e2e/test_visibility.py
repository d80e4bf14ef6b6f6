"""A task that runs longer than the broker's visibility timeout is not delivered a second
time while its worker lives: the worker's heartbeat renews its message (stream tasks run for
days). Its own cluster, with a 3 s visibility timeout instead of an hour; the test runs
kombu's scan for overdue messages itself (every worker runs it, about every 100 s)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from kombu import Connection

from tests.e2e.algorithms import algorithm_applier, python
from tests.e2e.harness import Cluster, eventually, node, running_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# Notes each run in a file, then works past the visibility timeout.
LONG_RUN = python(
    "import os, time",
    "def start(args):",
    "    path, seconds = args['input']",
    "    with open(path, 'a') as runs:",
    "        runs.write(f'{os.getpid()}\\n')",
    "    time.sleep(seconds)",
    "    return 'done'",
)


@pytest.fixture(scope="module")
def short_visibility(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(
        tmp_path_factory.mktemp("hkube-visibility"), HKUBE_VISIBILITY_TIMEOUT="3"
    ) as cluster:
        yield cluster


def test_a_task_longer_than_the_visibility_timeout_runs_once(
    short_visibility: Cluster, tmp_path: Path
) -> None:
    create = algorithm_applier(short_visibility, tmp_path / "algorithms")
    name = create("e2e-long-run", LONG_RUN)
    runs = tmp_path / "runs.txt"

    job_id = short_visibility.submit({"name": "long-run", "nodes": [node("long", name, str(runs), 25)]})
    eventually(lambda: runs.exists(), 120, "the task to start")
    time.sleep(6)  # twice the visibility timeout
    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "visibility_timeout": 3}
    with Connection(short_visibility.env["REDIS_URL"], transport_options=options) as broker:
        broker.default_channel.qos.restore_visible(num=100, interval=1)  # type: ignore[attr-defined]
    status = short_visibility.wait(job_id, timeout=180)
    time.sleep(3)  # a second delivery would have started by now

    assert status["status"] == "completed", status
    assert len(runs.read_text().split()) == 1, f"the task ran {runs.read_text().split()}"
