"""A liveness signal for a loop that is not a server: a file touched after every pass.

The supervisor calls `touch(path)` after each pass over pods and Jobs; the chart's probes
run `python -m k8s.heartbeat <path> <max age seconds>`, which exits 0 only while the file
is younger than that. A loop stuck on a hung watch stops touching it and gets restarted.
Plain Python, standard library only (it runs in a probe: it must start fast).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def touch(path: str | Path) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.touch()
    os.utime(target)


def fresh(path: str | Path, max_age_seconds: float, *, now: float | None = None) -> bool:
    """True when `path` exists and was touched at most `max_age_seconds` ago."""
    try:
        modified = Path(path).stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - modified <= max_age_seconds


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m k8s.heartbeat <file> <max age seconds>", file=sys.stderr)
        return 2
    path, max_age = argv[0], float(argv[1])
    if fresh(path, max_age):
        return 0
    print(f"{path} is missing or older than {max_age:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
