#!/usr/bin/env bash
# Measures what --jobs buys: `ab_scenespec_json_intermediary --runs 8` (16 runs, 48 chat calls)
# against a loopback OpenAI-compatible stub that answers each chat call after 100 ms, once with
# --jobs 1 and once with --jobs 8 (backend.text.max_concurrency 8 both times), and prints both
# wall times and their ratio. A benchmark, not a test. Usage: scripts/bench-jobs.sh [delay_ms]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
delay=${1:-100}
cargo build --release --workspace --quiet --manifest-path "$repo/Cargo.toml"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p image-project --example chat_stub
bin="$repo/target/release/image-project"
work=$(mktemp -d)
"$repo/target/release/examples/chat_stub" "$delay" > "$work/stub.url" &
stub=$!
trap 'kill $stub 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/stub.url" ] && break; sleep 0.1; done
url=$(head -n 1 "$work/stub.url")
cd "$work"
run() {
  local jobs=$1 start end
  start=$(date +%s%N)
  # --cache off: the second run would otherwise be answered from the first one's answers.
  BENCH_STUB_KEY=stub "$bin" experiments run ab_scenespec_json_intermediary --runs 8 --seed 1 \
    --jobs "$jobs" --output-root "out-$jobs" --json --cache off \
    --set 'backend.text.provider="openai"' --set "backend.text.base_url=\"$url\"" \
    --set 'backend.text.api_key_env="BENCH_STUB_KEY"' --set backend.text.max_concurrency=8 \
    --set backend.text.max_retries=0 > "result-$jobs.json"
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 ))
}
one=$(run 1)
eight=$(run 8)
awk -v one="$one" -v eight="$eight" -v delay="$delay" 'BEGIN {
  printf "ab_scenespec_json_intermediary --runs 8, stub latency %d ms per chat call:\n", delay
  printf "  --jobs 1: %.2f s\n  --jobs 8: %.2f s\n  speed-up: %.1fx\n", one / 1000, eight / 1000, one / eight
}'
