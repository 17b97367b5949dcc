#!/usr/bin/env bash
# Crash trials: starts a full-mode experiment, SIGKILLs it at a random moment (while it plans,
# commits its plan or executes runs), then continues it with --resume (or starts it afresh in the
# same directory when it died before its plan was committed, as the error says to), and checks:
# every planned run succeeded exactly once (one `success` line per generation id in
# results.jsonl, and in experiment_results.json), one row per run in the titles manifest and the
# generations CSV, no temp file left, no lock still held, and every JSON file parses.
# Prints one line per trial and a tally. Not part of `cargo test`: it takes a few minutes.
# Usage: scripts/crash-resume.sh [trials] [experiment]   (default: 30 trials of both A/B experiments
# and 3x3 in turn)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
trials=${1:-30}
only=${2:-}
cargo build --release --workspace --quiet --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/image-project"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir plugins
cp "$repo"/target/release/libexp_*.so plugins/

experiments=(ab_scenespec_json_intermediary ab_refinement_block 3x3)
[ -n "$only" ] && experiments=("$only")
# Offline latency makes runs take long enough to be killed in the middle of one.
common=(--mode full --seed 11 --jobs 4 --set backend.text.offline_latency_ms=15)
args_of() {
  case $1 in
    3x3) echo "--runs-per-set 1" ;;
    *) echo "--runs 3" ;;
  esac
}

check() { # check OUT: prints problems, one per line
  python3 - "$1" <<'EOF'
import csv, glob, json, os, sys, fcntl
out = sys.argv[1]
problems = []
for path in glob.glob(os.path.join(out, "**", "*"), recursive=True):
    name = os.path.basename(path)
    if name.startswith(".image-project-tmp-"):
        problems.append(f"temp file left: {path}")
    if path.endswith(".json"):
        try:
            json.load(open(path))
        except Exception as error:
            problems.append(f"{path}: {error}")
    if path.endswith(".jsonl"):
        for number, line in enumerate(open(path), 1):
            try:
                json.loads(line)
            except Exception as error:
                problems.append(f"{path}:{number}: {error}")
    if name.endswith(".lock") or name == ".lock":
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                problems.append(f"lock still held: {path}")
planned = [run["generation_id"] for run in json.load(open(os.path.join(out, "experiment_plan.json")))["planned_runs"]]
successes = {}
for line in open(os.path.join(out, "results.jsonl")):
    entry = json.loads(line)
    if entry.get("status") == "success":
        successes[entry["generation_id"]] = successes.get(entry["generation_id"], 0) + 1
for run in planned:
    if successes.get(run, 0) != 1:
        problems.append(f"{run}: {successes.get(run, 0)} successes")
view = json.load(open(os.path.join(out, "experiment_results.json")))["results"]
if sorted(entry["generation_id"] for entry in view) != sorted(planned):
    problems.append("experiment_results.json does not hold each planned run once")
for relative in ("generated/titles_manifest.csv", "logs/generations.csv"):
    rows = list(csv.DictReader(open(os.path.join(out, relative))))
    ids = [row["generation_id"] for row in rows]
    if sorted(ids) != sorted(planned):
        problems.append(f"{relative}: rows {len(ids)} for {len(planned)} runs, duplicates {len(ids) - len(set(ids))}")
print("\n".join(problems))
EOF
}

started=$(date +%s%N)
passed=0 failed=0 kills_planning=0 kills_running=0
for trial in $(seq "$trials"); do
  experiment=${experiments[$(( (trial - 1) % ${#experiments[@]} ))]}
  out="out-$trial"
  # shellcheck disable=SC2046
  "$bin" experiments run "$experiment" $(args_of "$experiment") "${common[@]}" --output-root "$out" >/dev/null 2>&1 &
  pid=$!
  # Odd trials die early (planning, the plan commit, the first runs), even ones at any time.
  if (( trial % 2 )); then delay_ms=$(( RANDOM % 60 )); else delay_ms=$(( RANDOM % 900 )); fi
  sleep "$(printf '0.%03d' "$delay_ms")"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -f "$out/experiment_plan.json" ]; then
    kills_running=$((kills_running + 1)); stage=executing
    "$bin" experiments run "$experiment" --resume --output-root "$out" >/dev/null 2>"$work/resume.err" || true
  else
    kills_planning=$((kills_planning + 1)); stage=planning
    # shellcheck disable=SC2046
    "$bin" experiments run "$experiment" $(args_of "$experiment") "${common[@]}" --output-root "$out" >/dev/null 2>"$work/resume.err" || true
  fi
  problems=$(check "$out")
  if [ -z "$problems" ]; then
    passed=$((passed + 1)); echo "trial $trial ($experiment, killed after ${delay_ms} ms, $stage): ok"
  else
    failed=$((failed + 1)); echo "trial $trial ($experiment, killed after ${delay_ms} ms, $stage): FAILED"
    # shellcheck disable=SC2001 # every line of the list is indented, not one substitution
    echo "$problems" | sed 's/^/    /'; sed 's/^/    stderr: /' "$work/resume.err"
  fi
done
ended=$(date +%s%N)
echo "crash trials: $passed passed, $failed failed of $trials ($kills_planning killed before the plan was committed, $kills_running after); wall $(( (ended - started) / 1000000 )) ms"
[ "$failed" -eq 0 ]
