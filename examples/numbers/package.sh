#!/usr/bin/env bash
# Builds range.tar.gz, multiply.tar.gz and reduce.tar.gz with the code at the archive
# root. Safe to re-run; with GNU tar the archives are byte-for-byte reproducible, so
# re-applying unchanged code does not change the checksum and does not trigger a build.
set -euo pipefail
cd "$(dirname "$0")"

reproducible=()
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
  reproducible=(--sort=name --mtime='2020-01-01 00:00:00Z' --owner=0 --group=0 --numeric-owner)
fi

for alg in range multiply reduce; do
  tmp="$alg.tar.gz.tmp"
  tar -c "${reproducible[@]}" --exclude='__pycache__' --exclude='node_modules' \
    -C "$alg" . | gzip -9 -n > "$tmp"
  mv "$tmp" "$alg.tar.gz"
  echo "built $alg.tar.gz"
done
