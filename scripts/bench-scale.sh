#!/usr/bin/env bash
# The runner at size, offline: the run-count curve of an A/B experiment in prompt_only mode with
# --jobs 8 (20, 200 and 2,000 runs: wall time, runs per second, peak RSS, bytes written in all
# and per run), then the latency-bound ratios: with 100 ms per model call, max_concurrency 64 and
# one worker per run, each experiment's wall time over its critical path (3x3: 0.4 s,
# profile_v5_3x3: 1.9 s, A/B with 8 pairs: 0.3 s), median of 3, in the curve's store and in one of
# their own (the end of a run refreshes the index of its store). A benchmark, not a test: it
# prints figures and asserts nothing. Usage: scripts/bench-scale.sh [max_runs_flag]
# (default 1000, i.e. 2,000 runs at the top of the curve).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
top=${1:-1000}
cargo build --release --workspace --quiet --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/image-project"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir plugins
cp "$repo"/target/release/libexp_*.so plugins/

# measure OUT ARGS...: runs the binary in a child shell that reports, once the binary is reaped,
# the bytes written by it (its /proc io counters are added to the shell's) and its peak RSS.
measure() {
  local out=$1; shift
  bash -c '
    start=$(date +%s%N)
    /usr/bin/env time -f "%M" -o "$0.rss" "$@" >/dev/null 2>"$0.err" || { cat "$0.err" >&2; exit 1; }
    end=$(date +%s%N)
    echo "$(( (end - start) / 1000000 )) $(cat "$0.rss") $(awk "/^wchar/ {print \$2}" /proc/$$/io)"
  ' "$out" "$bin" "$@"
}

echo "run-count curve: ab_refinement_block, prompt_only, --jobs 8, offline"
printf "  %6s %9s %9s %12s %14s %12s\n" runs wall_s runs/s peak_rss_MiB bytes_written bytes/run
for runs_flag in $(( top / 100 )) $(( top / 10 )) "$top"; do
  runs=$(( runs_flag * 2 ))
  read -r wall_ms rss_kb written < <(measure "$work/curve-$runs" experiments run ab_refinement_block \
    --runs "$runs_flag" --jobs 8 --seed 1 --mode prompt_only --output-root "_artifacts/experiments/curve-$runs")
  awk -v runs="$runs" -v ms="$wall_ms" -v kb="$rss_kb" -v w="$written" 'BEGIN {
    printf "  %6d %9.2f %9.0f %12.1f %14d %12.0f\n", runs, ms / 1000, runs / (ms / 1000), kb / 1024, w, w / runs }'
done

echo "latency-bound ratios: 100 ms per model call, max_concurrency 64, one worker per run (median of 3)"
# Each trial has a seed of its own (the same seed twice in one store plans the same generation
# ids, which the index then has to reconcile), in STORE: the curve's store (holding its 2,000-run
# experiment) or a store of their own.
ratio() { # ratio STORE LABEL BOUND_S JOBS ARGS...
  local store=$1 label=$2 bound=$3 jobs=$4; shift 4
  local walls=()
  for trial in 1 2 3; do
    local start end
    start=$(date +%s%N)
    "$bin" experiments run "$@" --mode prompt_only --seed "$trial" --jobs "$jobs" --output-root "$store/experiments/latency-$label-$trial" \
      --set backend.text.offline_latency_ms=100 --set backend.text.max_concurrency=64 >/dev/null 2>&1
    end=$(date +%s%N)
    walls+=($(( (end - start) / 1000000 )))
  done
  printf '%s\n' "${walls[@]}" | sort -n | awk -v label="$label" -v bound="$bound" 'NR == 2 {
    printf "    %-16s wall %.2f s, bound %.1f s, ratio %.2f\n", label, $1 / 1000, bound, $1 / 1000 / bound }'
}
for store in _artifacts latency-store/_artifacts; do
  if [ "$store" = _artifacts ]; then
    echo "  in the curve's store (beside its 2,000-run experiment):"
  else
    echo "  in a store of their own:"
  fi
  ratio "$store" 3x3 0.4 9 3x3
  ratio "$store" profile_v5_3x3 1.9 9 profile_v5_3x3
  ratio "$store" ab_8_pairs 0.3 16 ab_scenespec_json_intermediary --runs 8
done
