#!/usr/bin/env bash
# Prints the median wall time of one offline prompt_only `image-project generate` (embedded
# default config) over N runs (default 10), release build. A benchmark, not a test.
# Usage: scripts/bench-generate.sh [runs]
set -euo pipefail
# shellcheck source=scripts/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-10}
cargo build --release --workspace --quiet --manifest-path "$repo/Cargo.toml"
bin="$repo/target/release/image-project"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# shellcheck disable=SC2016 # $0 and $RUN are expanded by the inner shell, per run.
time_runs "$runs" sh -c '"$0" generate --mode prompt_only --seed "$RUN"' "$bin" | summarise "generate (offline, prompt_only)"
