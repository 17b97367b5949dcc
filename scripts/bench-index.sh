#!/usr/bin/env bash
# Prints how long the artifacts index refresh takes, and its peak memory, with one big executed
# experiment (default 100000 runs) in the store: the first refresh (no cache yet), then a refresh
# after a small experiment is added (what the runner does after each experiment), then one more,
# then a rebuild from scratch as `index-artifacts` does it. A benchmark, not a test.
# Usage: scripts/bench-index.sh [runs] [files_per_run]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-100000}
files=${2:-3}
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p image-project --example bench_index
bin="$repo/target/release/examples/bench_index"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store="$work/_artifacts"

# measure LABEL ARGS...: runs the example under /usr/bin/time and prints its line and peak RSS.
measure() {
  local label=$1; shift
  local out
  out=$(/usr/bin/time -f '%M' "$bin" "$@" 2>"$work/time")
  printf '%-22s %s; peak RSS %d MB\n' "$label" "$out" $(( $(tail -n1 "$work/time") / 1024 ))
}

"$bin" big "$store" "$runs" "$files"
measure "cold (no cache)" refresh "$store"
"$bin" small "$store" small_1
measure "warm (+1 small exp.)" refresh "$store"
"$bin" small "$store" small_2
measure "warm (+1 small exp.)" refresh "$store"
measure "warm (nothing new)" refresh "$store"
measure "rebuild" rebuild "$store"
du -sh "$store/index" | awk '{print "index size (with cache): " $1}'
du -sh "$store/index/.cache" | awk '{print "cache size: " $1}'
