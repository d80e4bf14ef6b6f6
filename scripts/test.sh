#!/usr/bin/env bash
# The test command: lint, format, types, layer contracts (import-linter), migrations, then the whole pytest suite
# (unit tests and end-to-end tests on real Redis, real Celery workers and real
# algorithm processes). Needs nothing running: it starts its own Redis unless
# HKUBE_TEST_REDIS_URL is set; HKUBE_TEST_DATABASE_URL points it at a Postgres server.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff" && ruff check . && ruff format --check .
echo "== mypy" && mypy .
echo "== import-linter" && lint-imports --no-cache
echo "== migrations" && HKUBE_HOME=$(mktemp -d) python manage.py makemigrations --check --dry-run >/dev/null
echo "== pytest" && pytest "$@"
