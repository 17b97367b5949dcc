#!/usr/bin/env bash
# Prints the median wall time (over N runs, default 5) of one offline experiment in prompt_only
# mode, first as is, then with 100 ms of simulated latency per model call, max_concurrency 64 and
# --jobs 9 (so the wall time approaches the critical path of one run). A benchmark, not a test.
# Usage: scripts/bench-experiment.sh EXPERIMENT [runs]      e.g. scripts/bench-experiment.sh 3x3
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
repo=$(cd "$(dirname "$0")/.." && pwd)
experiment=${1:?usage: bench-experiment.sh EXPERIMENT [runs]}
runs=${2:-5}
cargo build --release --workspace --quiet --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/image-project"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
plain() { "$bin" experiments run "$experiment" --mode prompt_only --seed 1 --json --output-root "_artifacts/plain-$RUN"; }
latency() {
  "$bin" experiments run "$experiment" --mode prompt_only --seed 1 --json --output-root "_artifacts/latency-$RUN" --jobs 9 \
    --set backend.text.offline_latency_ms=100 --set backend.text.max_concurrency=64
}
time_runs "$runs" plain | summarise "$experiment offline"
time_runs "$runs" latency | summarise "$experiment offline, 100 ms per call, max_concurrency 64, --jobs 9"
