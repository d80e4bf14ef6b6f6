#!/usr/bin/env bash
# The getting-started walkthrough on this machine: brings HKube up (manage.py up),
# applies the Range, Multiply and Reduce algorithms, stores the `numbers` pipeline and
# runs it three ways. With --keep, HKube stays up afterwards (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
export HKUBE_HOME=${HKUBE_HOME:-$PWD/.hkube}
PORT=${PORT:-8000}
ENDPOINT="http://127.0.0.1:$PORT"
mkdir -p "$HKUBE_HOME"
python manage.py up --port "$PORT" > "$HKUBE_HOME/up.log" 2>&1 &
UP=$!
# SIGTERM: a background job of a non-interactive shell ignores SIGINT.
stop() { kill -TERM "$UP" 2>/dev/null || true; wait "$UP" 2>/dev/null || true; }
trap stop EXIT
for _ in $(seq 1 240); do
  if grep -q "Press Ctrl-C" "$HKUBE_HOME/up.log" 2>/dev/null; then break; fi
  if ! kill -0 "$UP" 2>/dev/null; then cat "$HKUBE_HOME/up.log"; exit 1; fi
  sleep 0.5
done
sed -n '/HKube is up/,/Ctrl-C/p' "$HKUBE_HOME/up.log"
cd examples/numbers
bash package.sh
run() { echo; echo "\$ hkubectl $*"; hkubectl --endpoint "$ENDPOINT" "$@"; }
run algorithm apply --f range.yml
run algorithm apply --f multiply.yml
run algorithm apply --f reduce.yml
run pipeline store --f numbers.yml || echo "(the numbers pipeline was already stored)"
run exec stored numbers
run exec stored numbers --f big-input.yml
run exec raw --f numbers.yml
if [ "${1:-}" = "--keep" ]; then
  echo; echo "HKube keeps running at $ENDPOINT (Ctrl-C stops it)."
  wait "$UP"
fi
