#!/usr/bin/env bash
# Measures `--estimate` against a real run: for `3x3` and `profile_v5_3x3` (prompt_only,
# --seed 1, their default sizes) it runs the estimate, the same plan offline, and the same plan
# against the mock server fakellm (scripts/third-party-server/, whose answers have the lengths of
# a real model's), and prints estimated vs actual calls, input and output, and the time the
# estimate took. A measurement that prints figures, not a check: it fails only when a command
# fails or a run does not succeed. Not part of .ci/run.
#
# What is compared, and with which ruler (fakellm's own `usage` counts characters / 4, so its
# token counts are not comparable with the estimate's, which are o200k_base tokens):
# - calls: the estimate's against the real run's `summary.usage` (exact on both sides);
# - output tokens: the estimate's against the real run's answers counted again with the offline
#   backend's tokenizer (host/examples/transcript_tokens.rs, built here if missing);
# - input tokens: the estimate's against the messages the real run sent, counted the same way;
#   the requests are logged by a recording proxy between image-project and the server
#   (scripts/third-party-server/record_requests.py), since a transcript keeps a step's earlier
#   messages only as a character count. Input characters (the transcripts' `input_chars`, the
#   offline run of the same plan against the real run) are printed too.
#
# Usage: scripts/compare-estimate.sh [path/to/image-project binary]
# THIRD_PARTY_SERVER_KEEP=1 keeps the work directory. The counter is
# $CARGO_TARGET_DIR/debug/examples/transcript_tokens (default target/), built with cargo first.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/debug/image-project}")
[ -x "$bin" ] || { echo "error: no image-project binary at $bin" >&2; exit 1; }
# The model both sides name: its vocabulary (o200k_base) is the ruler, its price the cost.
model=gpt-5.2

fail() {
  echo "error: compare-estimate: $*" >&2
  exit 1
}

# shellcheck source=scripts/third-party-server/fakellm.sh
. "$repo/scripts/third-party-server/fakellm.sh"

counter=${CARGO_TARGET_DIR:-$repo/target}/debug/examples/transcript_tokens
# Built every time (a no-op when up to date), so the counter matches this checkout.
(cd "$repo" && cargo build --quiet -p image-project --example transcript_tokens) ||
  fail "could not build the example transcript_tokens"

work=$(mktemp -d)
cleanup() {
  status=$?
  [ -n "${proxy_pid:-}" ] && kill "$proxy_pid" 2>/dev/null
  fakellm_stop
  if [ "$status" -eq 0 ] && [ "${THIRD_PARTY_SERVER_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "the files are kept in $work" >&2
  fi
}
trap cleanup EXIT

fakellm_start "$work/server.log"
fakellm_config "$work/config.toml" "$model"
# The recording proxy in front of the server: the config points at it instead.
proxy_port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$py" "$repo/scripts/third-party-server/record_requests.py" "$proxy_port" "$port" "$work/requests.jsonl" &
proxy_pid=$!
sed -i "s|127.0.0.1:$port/|127.0.0.1:$proxy_port/|" "$work/config.toml"
for _ in $(seq 50); do
  "$py" -c "import socket; socket.create_connection(('127.0.0.1', $proxy_port), 1)" 2>/dev/null && break
  sleep 0.1
done
export THIRD_PARTY_SERVER_KEY=dummy-not-a-key
cd "$work"

# Runs a command with its output in $work/LABEL.out, failing with its last lines if it fails.
run() {
  local label=$1
  shift
  "$@" >"$work/$label.out" 2>&1 || {
    tail -n 30 "$work/$label.out" >&2
    fail "$label: \`$*\` failed"
  }
}

for name in 3x3 profile_v5_3x3; do
  common=(experiments run "$name" --seed 1 --mode prompt_only)
  start=$(date +%s.%N)
  run "$name-estimate" "$bin" "${common[@]}" --config "$work/config.toml" --estimate --json
  end=$(date +%s.%N)
  run "$name-offline" "$bin" "${common[@]}" --output-root "$work/offline/$name"
  : >"$work/requests.jsonl"
  run "$name-fakellm" "$bin" "${common[@]}" --config "$work/config.toml" --cache off \
    --output-root "$work/fakellm/$name"
  cp "$work/requests.jsonl" "$work/$name-requests.jsonl"
  run "$name-count-offline" "$counter" "$model" "$work/offline/$name/logs"
  run "$name-count-fakellm" "$counter" "$model" "$work/fakellm/$name/logs" "$work/$name-requests.jsonl"
  "$py" - "$name" "$work" "$start" "$end" <<'EOF' || fail "$name: the figures could not be read"
import json, sys
name, work, start, end = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
def load(path):
    with open(f"{work}/{path}") as f:
        return json.load(f)
estimate = load(f"{name}-estimate.out")
real = load(f"fakellm/{name}/experiment_results.json")
offline_count = load(f"{name}-count-offline.out")
real_count = load(f"{name}-count-fakellm.out")
bad = [r["generation_id"] for r in real["results"] if r.get("status") != "success"]
if bad or estimate["failed_runs"]:
    sys.exit(f"error: compare-estimate: {name}: runs failed: {bad or estimate['failed_runs']}")
est = estimate["usage"]["total"]["usage"]
act = real["summary"]["usage"]["total"]["usage"]
def ratio(a, e):
    return f"{a / e:.2f}" if e else "-"
rows = [
    ("calls", est["calls"], act["calls"]),
    ("requests sent (proxy log)", est["calls"], real_count["requests"]),
    ("input tokens (o200k_base)", est["input_tokens"], real_count["input_tokens"]),
    ("output tokens (o200k_base)", est["output_tokens"], real_count["output_tokens"]),
    ("input characters", offline_count["input_chars"], real_count["input_chars"]),
    ("output characters", offline_count["response_chars"], real_count["response_chars"]),
]
runs = real["summary"]["usage"]["total"]["runs"]
print(f"\n{name}: prompt_only, --seed 1, {runs} runs")
print(f"  {'':28} {'estimate':>10} {'fakellm':>10} {'actual/est':>10}")
for label, e, a in rows:
    print(f"  {label:28} {e:>10} {a:>10} {ratio(a, e):>10}")
print(f"  fakellm's own usage (characters / 4): input {act['input_tokens']}, "
      f"output {act['output_tokens']}, calls without usage {act['calls_without_usage']}")
print(f"  offline run's answers, counted again: {offline_count['output_tokens']} output tokens "
      f"(the estimate's own count: {est['output_tokens']})")
print(f"  --estimate took {estimate['estimate_took_s']:.2f} s "
      f"({end - start:.2f} s with the process's start)")
EOF
done
