"""Smoke test of bench/streaming.py's --quick mode: it runs and writes its figures (no timing
assertions). On a branch with bench/run_all.py it belongs in tests/e2e/test_bench.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import ROOT

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        os.environ.get("HKUBE_TEST_BENCH") != "1",
        reason="bench smoke runs are opt-in (HKUBE_TEST_BENCH=1): they take minutes and check no figure",
    ),
]


def test_streaming_bench_quick(tmp_path: Path) -> None:
    figures = tmp_path / "streaming.json"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "streaming.py"), "--quick", "--json", str(figures)],
        check=True, cwd=ROOT, timeout=540,
    )  # fmt: skip
    found = json.loads(figures.read_text())
    assert [row["size"] for row in found["rows"]] == ["1KB", "1MB"]
    for row in found["rows"]:
        for side in ("ours", "plainRedisStreams"):
            assert row["flood"][side]["messagesPerSecond"] > 0
            assert row["paced"][side]["p99Ms"] >= row["paced"][side]["p50Ms"] > 0
