"""The issue-9 benchmarks in their smoke mode (`--quick`): each script starts its own system,
runs, and prints its table of figures. Only that is checked, never a figure: timings on a
shared machine mean nothing here. The real runs are `bench/run_all.py` (bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run_all import SCRIPTS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.environ.get("HKUBE_TEST_BENCH") != "1",
        reason="bench smoke runs are opt-in (HKUBE_TEST_BENCH=1): they take minutes and check no figure",
    ),
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_the_bench_script_runs_and_prints_its_table(name: str, tmp_path: Path) -> None:
    # Its own Redis always (the scripts never use the session's); the session's database
    # server when the suite runs on Postgres, else SQLite.
    env = {k: v for k, v in os.environ.items() if k != "HKUBE_TEST_REDIS_URL"}
    database = (
        ["--database", "postgres"] if env.get("HKUBE_TEST_DATABASE_URL", "").startswith("postgres") else []
    )
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / SCRIPTS[name]), "--quick", "--json", str(out), *database],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=840,
    )  # fmt: skip
    shown = f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, shown
    assert "== " in done.stdout and "figure" in done.stdout and "baseline" in done.stdout, shown
    assert json.loads(out.read_text())["rows"], shown
