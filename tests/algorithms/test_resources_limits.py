"""Memory limits on local algorithm processes: a real algorithm over its `mem` is killed and
its task ends as crashed with HKube's out-of-memory message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from algorithms.runtime import limits
from algorithms.runtime.session import AlgorithmSession
from algorithms.runtime.wrappers import wrapper_launch

HOG = """
import time

def start(args):
    size = int(args["input"][0]) << 20
    block = bytearray(size)
    for i in range(0, size, 4096):
        block[i] = 1
    time.sleep(args["input"][1])
    return len(block)
"""


@pytest.fixture
def algorithm(tmp_path: Path) -> Iterator[AlgorithmSession]:
    (tmp_path / "main.py").write_text(textwrap.dedent(HOG))
    command, env = wrapper_launch("python", tmp_path)
    session = AlgorithmSession(command, env)
    session.start()
    yield session
    session.close()


def test_the_resident_memory_of_a_process_tree_is_summed() -> None:
    code = "import time; b = bytearray(80 << 20); time.sleep(5)"
    parent = subprocess.Popen(["bash", "-c", f"{sys.executable} -c '{code}' & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 5
        tree: list[int] = []
        while time.monotonic() < deadline and limits.resident_mi(tree) < 80:
            tree = limits.process_tree(parent.pid)
            time.sleep(0.05)
        assert len(tree) == 2 and tree[0] == parent.pid
        assert limits.resident_mi(tree) >= 80
        assert sorted(limits._group_members(parent.pid)) == sorted(tree)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


@pytest.mark.django_db
def test_an_algorithm_over_its_memory_is_killed_with_hkubes_message(
    algorithm: AlgorithmSession, settings: object
) -> None:
    settings.HKUBE_MEMORY_LIMIT_RATIO = 1.0  # type: ignore[attr-defined]
    watch = limits.watch_memory(algorithm, {"mem": "64Mi"})
    assert watch is not None and watch.limit_mi == 64

    began = time.monotonic()
    outcome = algorithm.run_task({"input": [200, 5]})

    assert outcome.status == "crashed"
    assert outcome.error == {"code": "Crashed", "message": limits.OOM_MESSAGE}
    assert time.monotonic() - began < 4  # killed while it held the memory, not after
    assert watch.peak_mi > 64
    assert not algorithm.alive


@pytest.mark.django_db
def test_an_algorithm_within_its_memory_runs_to_the_end(
    algorithm: AlgorithmSession, settings: object
) -> None:
    settings.HKUBE_MEMORY_LIMIT_RATIO = 1.0  # type: ignore[attr-defined]
    limits.watch_memory(algorithm, {"mem": "512Mi"})
    outcome = algorithm.run_task({"input": [20, 0.3]})
    assert outcome.status == "done"
    assert outcome.result == 20 << 20


def test_a_ratio_of_zero_turns_the_limit_off(algorithm: AlgorithmSession, settings: object) -> None:
    settings.HKUBE_MEMORY_LIMIT_RATIO = 0  # type: ignore[attr-defined]
    assert limits.watch_memory(algorithm, {"mem": "64Mi"}) is None


def test_sampling_reads_the_algorithm_process_tree(algorithm: AlgorithmSession) -> None:
    assert algorithm.pid is not None
    tree = limits.process_tree(algorithm.pid)
    assert algorithm.pid in tree
    assert limits.resident_mi(tree) > 0
