#!/usr/bin/env bash
# How long `experiments report` takes to write report.html, and how big the page is: an offline
# A/B experiment (`ab_scenespec_json_intermediary`, prompt_only) of 20 pairs and of 500 pairs
# (1,000 runs), and a `3x3` of 1,002 runs (334 per set; about 15 transcript steps per run).
# Each report is written 5 times; the median is printed with the size of report.html and of all
# its pages (report.html holds the drill-downs of the first 100 runs, report_transcripts_<n>.html
# those of the next hundreds). A benchmark, not
# a test: it prints figures and asserts nothing.
# Usage: scripts/bench-report.sh BIN   (e.g. target/release/image-project; the plugins are found
# next to BIN). Set SKIP_3X3=1 to leave out the 3x3 (its 1,002 runs take the longest).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [[ $# -ne 1 ]]; then
  echo "usage: $0 BIN" >&2
  exit 2
fi
bin=$(realpath "$1")
# shellcheck source=scripts/bench-lib.sh
source "$repo/scripts/bench-lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# bench LABEL ID ARGS...: runs the experiment (not timed), then times the report 5 times.
bench() {
  local label=$1 id=$2; shift 2
  "$bin" experiments run "$@" --seed 1 --mode prompt_only --experiment-id "$id" >/dev/null 2>"$work/$id.err" ||
    { cat "$work/$id.err" >&2; exit 1; }
  local dir="$work/_artifacts/experiments/$id"
  time_runs 5 "$bin" experiments report "$dir" | summarise "$label: write report.html"
  local bytes total pages runs
  bytes=$(wc -c <"$dir/report.html")
  pages=$(find "$dir" -maxdepth 1 -name 'report_transcripts_*.html' | wc -l)
  total=$(cat "$dir"/report*.html | wc -c)
  runs=$(cat "$dir"/report*.html | grep -c '<details class="run"')
  echo "$label: report.html $bytes bytes; with its $pages transcript pages $total bytes for $runs runs ($((total / runs)) bytes per run)"
}

bench "A/B 20 pairs" ab_20 ab_scenespec_json_intermediary --runs 20
bench "A/B 500 pairs (1,000 runs)" ab_1000 ab_scenespec_json_intermediary --runs 500
if [[ ${SKIP_3X3:-} != 1 ]]; then
  bench "3x3 1,002 runs" 3x3_1002 3x3 --runs-per-set 334
fi
