#!/usr/bin/env bash
# Prints the median wall time of `image-project experiments list` over N runs (default 10) with
# the release binary and the release plugins next to it. A benchmark, not a test.
# Usage: scripts/bench-list.sh [runs]
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
time_runs "$runs" "$bin" experiments list | summarise "experiments list"
