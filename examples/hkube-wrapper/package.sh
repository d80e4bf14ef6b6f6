#!/usr/bin/env bash
# Builds range.tar.gz and multiply.tar.gz with the code at the archive root (reproducible
# with GNU tar, so re-applying unchanged code does not trigger a build).
set -euo pipefail
cd "$(dirname "$0")"

reproducible=()
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
  reproducible=(--sort=name --mtime='2020-01-01 00:00:00Z' --owner=0 --group=0 --numeric-owner)
fi

for alg in range multiply; do
  tmp="$alg.tar.gz.tmp"
  tar -c "${reproducible[@]}" --exclude='__pycache__' -C "$alg" . | gzip -9 -n > "$tmp"
  mv "$tmp" "$alg.tar.gz"
  echo "built $alg.tar.gz"
done
