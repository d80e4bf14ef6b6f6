"""Every row of issue 9 on both databases: runs each benchmark script, one after the other,
each with `--database sqlite` then `--database postgres`, writes each script's figures as
JSON into --out, and prints one summary table (HKube, baseline, ratio per database).

    .venv/bin/python bench/run_all.py [--quick] [--databases sqlite,postgres] [--only numbers,many]
                                      [--postgres-url URL] [--out bench-figures/] [--json all.json]

| row | script |
|---|---|
| N=5 latency (exec/results polled every 2 ms), N=10,000 fan-out | numbers_pipeline.py |
| N=100,000: completes, tasks/s, peak engine memory | large_job.py |
| many small jobs: 20 clients, N=5 back to back, 30 s | many_jobs.py |
| cold first task; getting-started first job under `up` | cold_start.py |
| a 256 MB result between two nodes | big_result.py |

`--quick` runs each script's smoke mode (small sizes, a few seconds each): it checks that
the scripts work, its figures mean little. Exit code 1 when a script failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common

SCRIPTS = {
    "numbers": "numbers_pipeline.py",
    "large": "large_job.py",
    "many": "many_jobs.py",
    "cold": "cold_start.py",
    "big": "big_result.py",
}


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return f"{text} {unit}".rstrip()


def summary(documents: dict[tuple[str, str], dict[str, Any]], databases: list[str]) -> str:
    head = ["figure"] + [f"{label} {db}" for db in databases for label in ("HKube", "baseline", "ratio")]
    lines: list[list[str]] = []
    for name in SCRIPTS:
        docs = {db: documents.get((name, db)) for db in databases}
        first = next((d for d in docs.values() if d), None)
        if first is None:
            continue
        lines.append([f"[{first['bench']}]"] + [""] * (len(head) - 1))
        for index, row in enumerate(first["rows"]):
            cells = [row["figure"]]
            for db in databases:
                doc = docs[db]
                found = doc["rows"][index] if doc and index < len(doc["rows"]) else None
                if found is None:
                    cells += ["(failed)" if doc is None else "-", "", ""]
                    continue
                ratio = found["ratio"]
                cells += [
                    show(found["hkube"], found["unit"]),
                    show(found["baseline"], found["unit"]),
                    f"{ratio:.2f}x" if ratio is not None else "-",
                ]
            lines.append(cells)
    widths = [max(len(r[i]) for r in (head, *lines)) for i in range(len(head))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in (head, *lines)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="each script's smoke mode")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--only", default=",".join(SCRIPTS), help=f"of {', '.join(SCRIPTS)}")
    parser.add_argument("--postgres-url", default=common.POSTGRES_URL)
    parser.add_argument(
        "--out", type=Path, help="folder for each script's JSON (default: a new temporary one)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure here, in one document")
    args = parser.parse_args()
    databases = [d for d in args.databases.split(",") if d]
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        parser.error(f"unknown --only {unknown}: choose from {', '.join(SCRIPTS)}")
    out = args.out or Path(tempfile.mkdtemp(prefix="hkube-bench-figures-"))
    out.mkdir(parents=True, exist_ok=True)

    documents: dict[tuple[str, str], dict[str, Any]] = {}
    failed: list[str] = []
    began = time.perf_counter()
    for database in databases:
        for name in names:
            target = out / f"{name}-{database}.json"
            command = [sys.executable, str(common.ROOT / "bench" / SCRIPTS[name]), "--database", database,
                       "--postgres-url", args.postgres_url, "--json", str(target)]  # fmt: skip
            if args.quick:
                command.append("--quick")
            print(
                f"\n### {SCRIPTS[name]} --database {database}{' --quick' if args.quick else ''}", flush=True
            )
            started = time.perf_counter()
            code = subprocess.run(command, cwd=common.ROOT).returncode
            print(
                f"### {SCRIPTS[name]} ({database}): exit {code} after {time.perf_counter() - started:.0f} s"
            )
            if code == 0 and target.exists():
                documents[(name, database)] = json.loads(target.read_text())
            else:
                failed.append(f"{SCRIPTS[name]} ({database})")

    print(f"\n== every row, {'quick' if args.quick else 'full'} run, {time.perf_counter() - began:.0f} s ==")
    print(summary(documents, databases))
    print(
        "ratio: times HKube is better than the baseline (>1: better), unless the script's goal says otherwise"
    )
    print(f"machine: {common.machine()}")
    print(f"each script's figures: {out}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([documents[k] for k in sorted(documents)], indent=1))
    if failed:
        print(f"failed: {', '.join(failed)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
