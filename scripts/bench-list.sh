#!/usr/bin/env bash
# Prints the median wall time of `image-project experiments list` over N runs (default 10) with
# the release binary and the release plugins next to it. A benchmark, not a test.
# Usage: scripts/bench-list.sh [runs]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
cargo build --release --workspace --quiet --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/image-project"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
for _ in $(seq "$runs"); do
  start=$(date +%s%N)
  "$bin" experiments list >/dev/null
  end=$(date +%s%N)
  echo $(( (end - start) / 1000 ))
done | sort -n | awk '{ t[NR] = $1 } END {
  median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
  printf "experiments list: median %.1f ms over %d runs (min %.1f, max %.1f)\n", median / 1000, NR, t[1] / 1000, t[NR] / 1000
}'
