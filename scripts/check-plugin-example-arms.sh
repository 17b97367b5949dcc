#!/usr/bin/env bash
# Builds the second out-of-tree plugin example of docs/plugins.md (three arms, a declared stage,
# a judge and a CSV) in a temporary directory, exactly as the page shows it, and checks each
# thing the page says it does: listed, `describe` shows its float flag, `stages list` shows its
# declared stage, a dry run passes, and an offline run leaves the declared stage's steps, the
# `plugin/judge` steps, three-arm `pairs.json`, `plugin/scores.csv` and paired metrics for both
# treatments where the page says they land.
# Usage: scripts/check-plugin-example-arms.sh [path/to/image-project binary]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/debug/image-project}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

experiment=judged_arms
stage="$experiment.plain_refine"

# Each block of this example follows a `<!-- example2: FILE -->` marker line (the first
# example's `<!-- example: FILE -->` blocks are scripts/check-plugin-example.sh's).
awk -v out="$work/example" '
  /^<!-- example2: .* -->$/ { file = $3; next }
  file != "" && /^```/ { if (inside) { inside = 0; file = "" } else { inside = 1; system("mkdir -p \"$(dirname \"" out "/" file "\")\""); } next }
  inside { print > (out "/" file) }
' "$repo/docs/plugins.md"
test -f "$work/example/Cargo.toml" && test -f "$work/example/src/lib.rs"

# The page points at a sibling checkout; point it at this one. The target directory is the
# first example's, so plugin-api and its dependencies compile once for both.
sed -i "s|path = \"../image-project/plugin-api\"|path = \"$repo/plugin-api\"|" "$work/example/Cargo.toml"
grep -q "path = \"$repo/plugin-api\"" "$work/example/Cargo.toml" ||
  { echo "error: the example's Cargo.toml no longer has the path dependency this script rewrites" >&2; exit 1; }
CARGO_TARGET_DIR="$repo/target/plugin-example" cargo build --release --quiet --manifest-path "$work/example/Cargo.toml"

mkdir -p "$work/plugins"
lib=$(find "$repo/target/plugin-example/release" -maxdepth 1 -name '*judged_arms_experiment.*' \( -name '*.so' -o -name '*.dylib' -o -name '*.dll' \) | head -n 1)
test -n "$lib" || { echo "error: the example's library was not built" >&2; exit 1; }
cp "$lib" "$work/plugins/"
dirs=(--no-default-plugin-dirs --plugin-dir "$work/plugins")

listing=$("$bin" experiments list "${dirs[@]}")
echo "$listing"
echo "$listing" | grep -q "^$experiment " || { echo "error: the example plugin is not listed" >&2; exit 1; }

description=$("$bin" experiments describe "$experiment" "${dirs[@]}")
echo "$description"
if ! echo "$description" | grep -- '--judge-temperature' | grep -q 'float'; then
  echo "error: \`describe\` does not show the float flag --judge-temperature" >&2; exit 1
fi

stages=$("$bin" stages list "${dirs[@]}")
echo "$stages" | grep -F -- "$stage" ||
  { echo "error: \`stages list --plugin-dir\` does not show the declared stage $stage" >&2; exit 1; }

(cd "$work" && "$bin" experiments run "$experiment" "${dirs[@]}" --runs 2 --seed 1 --dry-run)
# A real offline run; everything below reads what it wrote.
(cd "$work" && "$bin" experiments run "$experiment" "${dirs[@]}" \
  --runs 2 --seed 1 --mode prompt_only --output-root "$work/run")

python3 - "$work/run" "$stage" <<'PY'
import csv, json, os, sys

run_dir, stage = sys.argv[1], sys.argv[2]
def load(name):
    with open(os.path.join(run_dir, name)) as f:
        return json.load(f)
def fail(message):
    sys.exit(f"error: {message}")

plan = load("experiment_plan.json")
planned = [(r["variant"], r["run"], r["generation_id"]) for r in plan["planned_runs"]]
if sorted({v for v, _, _ in planned}) != ["A", "B", "C"] or len(planned) != 6:
    fail(f"expected 2 runs of each of A, B, C in the plan, got {planned}")

# Transcripts: B's have the declared stage's step; every one has a judge step with its prompt
# and answer.
judged = 0
for variant, _, generation_id in planned:
    transcript = load(f"logs/{generation_id}_transcript.json")
    steps = transcript["steps"]
    stage_steps = [s for s in steps if s.get("path", "").startswith(f"pipeline/{stage}/")]
    if variant == "B" and not stage_steps:
        fail(f"{generation_id}: no step of the declared stage {stage} in {[s.get('path') for s in steps]}")
    if variant != "B" and stage_steps:
        fail(f"{generation_id}: arm {variant} ran the declared stage, which only B's overlay names")
    judges = [s for s in steps if s.get("path") == "plugin/judge"]
    if len(judges) != 1:
        fail(f"{generation_id}: expected one `plugin/judge` step, got {len(judges)}")
    judge = judges[0]
    messages = judge.get("meta", {}).get("messages") or []
    user = [m["content"] for m in messages if m.get("role") == "user"]
    if not user or user[0] != transcript.get("final_image_prompt"):
        fail(f"{generation_id}: the judge step's user message is not the run's final prompt")
    if not any(m.get("role") == "system" and "JSON object" in m["content"] for m in messages):
        fail(f"{generation_id}: the judge step has no system message asking for a JSON object")
    if not isinstance(json.loads(judge.get("response") or "null"), dict):
        fail(f"{generation_id}: the judge's answer is not a JSON object: {judge.get('response')!r}")
    judged += 1
print(f"transcripts: {judged} with a `plugin/judge` step, the B ones with {stage}")

# pairs.json: each treatment's pairs with the control at both run indices (`arms`; `pairs`
# keeps 1.0's A-B pairs).
arms = load("pairs.json").get("arms") or []
ids = {(v, r): g for v, r, g in planned}
for treatment in ("B", "C"):
    arm = [a for a in arms if a.get("control") == "A" and a.get("treatment") == treatment]
    got = {(p["a_generation_id"], p["b_generation_id"]) for p in arm[0]["pairs"]} if arm else set()
    want = {(ids[("A", i)], ids[(treatment, i)]) for i in (1, 2)}
    if got != want:
        fail(f"pairs.json `arms` does not pair {treatment} with A at run indices 1 and 2: {arms}")
print(f"pairs.json: {len(arms)} arms (B and C with A), {sum(len(a['pairs']) for a in arms)} pairs")

# plugin/scores.csv: a header and one row per planned run, listed in the results.
scores = os.path.join(run_dir, "plugin", "scores.csv")
if not os.path.isfile(scores):
    fail(f"the summary did not write {scores}")
with open(scores) as f:
    rows = list(csv.DictReader(f))
if sorted(r["generation_id"] for r in rows) != sorted(g for _, _, g in planned):
    fail(f"scores.csv does not have one row per planned run: {rows}")
results = load("experiment_results.json")
if "plugin/scores.csv" not in results.get("plugin_artifacts", []):
    fail(f"plugin/scores.csv is not in `plugin_artifacts` of experiment_results.json: {results.get('plugin_artifacts')}")
scored = sum(r["judge_scored"] == "true" for r in rows)
print(f"plugin/scores.csv: {len(rows)} rows + header ({scored} scored by the judge), in plugin_artifacts")

# summary.metrics: per variant, and a paired comparison of each treatment with the control
# (`paired_arms`; `paired` keeps 1.0's B - A).
metrics = results["summary"]["metrics"]
for variant in ("A", "B", "C"):
    m = metrics["variants"][variant]["metrics"]
    if m.get("prompt_words", {}).get("n") != 2 or m.get("judge_scored", {}).get("n") != 2:
        fail(f"summary.metrics.variants.{variant} lacks prompt_words or judge_scored over 2 runs: {m}")
comparisons = metrics.get("paired_arms") or []
for treatment in ("B", "C"):
    match = [c for c in comparisons if c.get("a") == "A" and c.get("b") == treatment]
    if not match or "prompt_words" not in match[0].get("metrics", {}):
        fail(f"summary.metrics.paired_arms has no comparison of {treatment} with A: {comparisons}")
    words = match[0]["metrics"]["prompt_words"]
    print(f"paired {treatment} - A: prompt_words n_pairs={words['n_pairs']} mean_difference={words['mean_difference']}")
for variant in ("A", "B", "C"):
    m = metrics["variants"][variant]["metrics"]
    print(f"{variant}: prompt_words mean={m['prompt_words']['mean']} judge_scored mean={m['judge_scored']['mean']}")
PY
echo "plugin example (three arms): ok"
