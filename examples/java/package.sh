#!/usr/bin/env bash
# Builds java-multiply.tar.gz: the Java sources at the archive root (src/main/java/...).
# The server compiles them with javac against HKube's Java interface; no Maven needed.
set -euo pipefail
cd "$(dirname "$0")"

reproducible=()
if tar --version 2>/dev/null | grep -q 'GNU tar'; then
  reproducible=(--sort=name --mtime='2020-01-01 00:00:00Z' --owner=0 --group=0 --numeric-owner)
fi

tmp="java-multiply.tar.gz.tmp"
tar -c "${reproducible[@]}" --exclude='target' -C multiply . | gzip -9 -n > "$tmp"
mv "$tmp" java-multiply.tar.gz
echo "built java-multiply.tar.gz"
