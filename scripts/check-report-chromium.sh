#!/usr/bin/env bash
# Renders report.html of two offline experiments in headless Chromium and checks what a reader
# would see: a full-mode `3x3` (the variants × runs grid of images) and a full-mode A/B
# (`ab_scenespec_json_intermediary`, every pair side by side). For each, the DOM Chromium dumps
# must hold the metrics table, one pair row per pair of pairs.json (A/B) and one <img> per image
# in generated/; a screenshot is written to <experiment dir>/report.png.
#
# Usage: scripts/check-report-chromium.sh BIN   (e.g. target/debug/image-project)
# Installs nothing: `chromium` must be on PATH (.ci/run installs it). The plugins are found
# next to BIN, as `cargo build --workspace` leaves them. Exits non-zero, saying what was
# missing, when a check fails. Set KEEP=1 to keep the temporary artifacts root.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BIN" >&2
  exit 2
fi
bin=$(realpath "$1")
if [[ ! -x $bin ]]; then
  echo "error: \`$1\` is not an executable" >&2
  exit 2
fi
if ! command -v chromium >/dev/null; then
  echo "error: \`chromium\` is not on PATH; install it (apt-get install -y chromium)" >&2
  exit 2
fi

work=$(mktemp -d)
if [[ ${KEEP:-} == 1 ]]; then
  echo "artifacts kept in $work"
else
  trap 'rm -rf "$work"' EXIT
fi
failures=0
# Occurrences of a fixed string in a file (0 when none: grep's status must not stop the script).
occurrences() {
  { grep -oF -- "$1" "$2" || true; } | wc -l
}
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# Flags that keep Chromium offline and quiet: no first-run, sync, updates or background fetches.
chromium_at() {
  local profile
  profile=$(mktemp -d "$work/chromium-profile.XXXXXX")
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" "$@" 2>>"$work/chromium.log"
}

# check_report DIR PAIRED: dump the DOM, compare counts, take the screenshot.
check_report() {
  local dir=$1 paired=$2 dom expected found
  dom="$work/$(basename "$dir").dom.html"
  if [[ ! -f $dir/report.html ]]; then
    fail "$dir/report.html was not written"
    return
  fi
  if ! chromium_at --dump-dom "file://$dir/report.html" >"$dom"; then
    fail "chromium could not render $dir/report.html (log: $work/chromium.log)"
    return
  fi
  grep -q '<table class="metrics" id="metrics">' "$dom" ||
    fail "$dir: the rendered page has no metrics table"
  if [[ $paired == yes ]]; then
    expected=$(occurrences '"a_generation_id"' "$dir/pairs.json")
    found=$(occurrences '<tr class="pair"' "$dom")
    [[ $expected -gt 0 && $found -eq $expected ]] ||
      fail "$dir: $found pair rows rendered, pairs.json has $expected"
  else
    grep -q '<table class="grid">' "$dom" || fail "$dir: the rendered page has no grid"
  fi
  expected=$(find "$dir/generated" -maxdepth 1 -name '*.png' | wc -l)
  found=$(occurrences '<img ' "$dom")
  [[ $expected -gt 0 && $found -eq $expected ]] ||
    fail "$dir: $found image elements rendered, generated/ has $expected images"
  local image name
  for image in "$dir"/generated/*.png; do
    name=$(basename "$image")
    grep -qF "src=\"generated/$name\"" "$dom" || fail "$dir: no <img> for generated/$name"
  done
  if chromium_at --screenshot="$dir/report.png" --window-size=1400,3000 \
    "file://$dir/report.html" >/dev/null && [[ -s $dir/report.png ]]; then
    echo "screenshot: $dir/report.png"
  else
    fail "$dir: no screenshot written (log: $work/chromium.log)"
  fi
  echo "checked $dir: $(wc -c <"$dir/report.html") bytes"
}

cd "$work"
run_experiment() {
  if ! "$bin" experiments run "$@" >>"$work/runs.log" 2>&1; then
    cat "$work/runs.log" >&2
    echo "FAIL: \`experiments run $*\` failed" >&2
    exit 1
  fi
}
run_experiment 3x3 --mode full --seed 1 --experiment-id check_3x3
run_experiment ab_scenespec_json_intermediary --mode full --runs 3 --seed 1 --experiment-id check_ab
check_report "$work/_artifacts/experiments/check_3x3" no
check_report "$work/_artifacts/experiments/check_ab" yes

if [[ $failures -gt 0 ]]; then
  echo "report check failed: $failures problem(s); chromium log: $work/chromium.log" >&2
  trap - EXIT
  exit 1
fi
echo "report check passed"
