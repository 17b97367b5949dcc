#!/usr/bin/env bash
# Dry-runs every experiment the binary finds in its default plugin directories, with the embedded
# default config, in a temporary working directory. Fails if none is found or any dry-run fails.
# Usage: scripts/dry-run-all.sh [path/to/image-project binary]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/debug/image-project}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
names=$("$bin" experiments list | awk 'NR > 1 && /^[^ ]/ && !/^files that failed/ { print $1 } /^$/ { exit }')
[ -n "$names" ] || { echo "error: no experiments found" >&2; exit 1; }
for name in $names; do
  echo "== $name"
  "$bin" experiments run "$name" --seed 1 --dry-run
done
