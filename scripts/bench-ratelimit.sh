#!/usr/bin/env bash
# Provider rate limits, end to end: `ab_scenespec_json_intermediary --runs 10` (60 chat calls,
# --jobs 8, max_concurrency 8) against the loopback stub playing a provider limited to RPM
# requests per minute (default 600) that answers 429 with `x-ratelimit-*` headers, once with
# `backend.text.requests_per_minute` set to the same limit and once without it. Prints, for each,
# the 429s the stub sent, the wall time and the exit code, and the rate changes the runner logged.
# A measurement, not a test. Usage: scripts/bench-ratelimit.sh [rpm] [delay_ms]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rpm=${1:-600}
delay=${2:-20}
cargo build --release --workspace --quiet --manifest-path "$repo/Cargo.toml"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p image-project --example chat_stub
bin="$repo/target/release/image-project"
work=$(mktemp -d)
stub=
trap '[ -n "$stub" ] && kill "$stub" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
run() { # run LABEL [EXTRA --set ...]
  local label=$1; shift
  "$repo/target/release/examples/chat_stub" "$delay" "$rpm" > "$work/stub-$label.url" 2> "$work/stub-$label.err" &
  stub=$!
  for _ in $(seq 50); do [ -s "$work/stub-$label.url" ] && break; sleep 0.1; done
  local url start end code=0
  url=$(head -n 1 "$work/stub-$label.url")
  start=$(date +%s%N)
  # --cache off: every call must reach the stub (the second experiment would be answered from
  # the response cache the first one filled).
  BENCH_STUB_KEY=stub "$bin" experiments run ab_scenespec_json_intermediary --runs 10 --seed 1 --jobs 8 \
    --cache off --output-root "out-$label" --set 'backend.text.provider="openai"' --set "backend.text.base_url=\"$url\"" \
    --set 'backend.text.api_key_env="BENCH_STUB_KEY"' --set backend.text.max_concurrency=8 "$@" \
    >/dev/null 2>&1 || code=$?
  end=$(date +%s%N)
  kill "$stub" 2>/dev/null; wait "$stub" 2>/dev/null || true; stub=
  local refused adjustments
  refused=$(grep -c "chat_stub: 429" "$work/stub-$label.err" || true)
  adjustments=$(grep -c "| WARN |" "out-$label/experiment.log" || true)
  printf "  %-26s 429s %4d   wall %6.2f s   exit %d   rate changes logged %d\n" \
    "$label" "$refused" "$(( (end - start) / 1000000 ))e-3" "$code" "$adjustments"
}
echo "stub limited to $rpm requests/minute, $delay ms per answer; 60 chat calls, --jobs 8"
run "with requests_per_minute" --set "backend.text.requests_per_minute=$rpm"
run "without a limit"
