#!/usr/bin/env bash
# Builds the out-of-tree plugin example of docs/plugins.md in a temporary directory, exactly as
# the page shows it, checks that `image-project experiments list --plugin-dir` shows it, dry-runs it,
# and runs it offline to check that its metric reaches `summary.metrics`.
# Usage: scripts/check-plugin-example.sh [path/to/image-project binary]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/debug/image-project}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Each example block follows a `<!-- example: FILE -->` marker line.
awk -v out="$work/example" '
  /^<!-- example: .* -->$/ { file = $3; next }
  file != "" && /^```/ { if (inside) { inside = 0; file = "" } else { inside = 1; system("mkdir -p \"$(dirname \"" out "/" file "\")\""); } next }
  inside { print > (out "/" file) }
' "$repo/docs/plugins.md"
test -f "$work/example/Cargo.toml" && test -f "$work/example/src/lib.rs"

# The page points at a sibling checkout; point it at this one.
sed -i "s|path = \"../image-project/plugin-api\"|path = \"$repo/plugin-api\"|" "$work/example/Cargo.toml"
CARGO_TARGET_DIR="$repo/target/plugin-example" cargo build --release --quiet --manifest-path "$work/example/Cargo.toml"

mkdir -p "$work/plugins"
lib=$(find "$repo/target/plugin-example/release" -maxdepth 1 -name '*hello_experiment.*' \( -name '*.so' -o -name '*.dylib' -o -name '*.dll' \) | head -n 1)
cp "$lib" "$work/plugins/"
listing=$("$bin" experiments list --no-default-plugin-dirs --plugin-dir "$work/plugins")
echo "$listing"
echo "$listing" | grep -q '^hello_world ' || { echo "error: the example plugin is not listed" >&2; exit 1; }
(cd "$work" && "$bin" experiments run hello_world --plugin-dir "$work/plugins" --no-default-plugin-dirs --runs 2 --seed 1 --dry-run)
# A real offline run: the example's one metric is aggregated by the runner.
(cd "$work" && "$bin" experiments run hello_world --plugin-dir "$work/plugins" --no-default-plugin-dirs \
  --runs 2 --seed 1 --mode prompt_only --output-root "$work/run")
python3 - "$work/run/experiment_results.json" <<'PY'
import json, sys
metric = json.load(open(sys.argv[1]))["summary"]["metrics"]["variants"]["A"]["metrics"]["prompt_words"]
if metric.get("n") != 2 or not metric.get("mean"):
    sys.exit(f"error: the example's metric `prompt_words` is not in summary.metrics as expected: {metric}")
print(f"example metric prompt_words: n={metric['n']} mean={metric['mean']}")
PY
echo "plugin example: ok"
