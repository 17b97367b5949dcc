#!/usr/bin/env bash
# Compatibility check against an OpenAI-compatible server nobody here wrote: the mock server
# `fakellm` from PyPI (pinned in third-party-server/fakellm.sh), answering each pipeline step in the format it asks for by
# the rules in scripts/third-party-server/fakellm.yaml. Runs `generate` (prompt_only) and the four
# experiments against it, with the text backend `openai` and images offline, and fails unless
# every command exits 0, every run of every experiment succeeded, requests reached the server and
# no request fell through the rules.
#
# Usage: scripts/check-third-party-server.sh [path/to/image-project binary]
# The server's install and start are shared with scripts/compare-estimate.sh in
# scripts/third-party-server/fakellm.sh (the virtualenv: target/third-party-server-venv, or
# THIRD_PARTY_SERVER_VENV; it needs `python3 -m venv` and PyPI).
# The work directory (config, artifacts, server log) is removed after a pass unless
# THIRD_PARTY_SERVER_KEEP=1, and kept after a failure.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/debug/image-project}")
[ -x "$bin" ] || { echo "error: no image-project binary at $bin" >&2; exit 1; }
started=$SECONDS

fail() {
  echo "error: third-party server check: $*" >&2
  exit 1
}

# shellcheck source=scripts/third-party-server/fakellm.sh
. "$repo/scripts/third-party-server/fakellm.sh"
rules=$fakellm_rules

work=$(mktemp -d)
cleanup() {
  status=$?
  if [ "$status" -ne 0 ] && [ -n "$server_pid" ] && [ -n "$port" ]; then
    echo "--- requests fakellm answered, by rule" >&2
    fakellm_by_rule >&2
  fi
  fakellm_stop
  if [ "$status" -ne 0 ] && [ -s "$work/server.log" ]; then
    echo "--- last lines of the fakellm log ($work/server.log)" >&2
    tail -n 15 "$work/server.log" >&2
  fi
  if [ "$status" -eq 0 ] && [ "${THIRD_PARTY_SERVER_KEEP:-0}" != 1 ]; then
    rm -rf "$work"
  else
    echo "the check's files are kept in $work" >&2
  fi
}
trap cleanup EXIT

fakellm_start "$work/server.log"

# --- the config: the text backend is the server, images stay offline -----------------------------
fakellm_config "$work/config.toml" fakellm-compat
export THIRD_PARTY_SERVER_KEY=dummy-not-a-key
cd "$work"

# Runs one command of the check, then checks the server saw requests and none fell through.
# Sets `requests` to the number of requests the command sent.
before=0
checked() {
  local label=$1
  shift
  local rc=0
  "$@" >"$work/$label.out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$work/$label.out" >&2
    fail "$label: \`$*\` exited with $rc"
  fi
  local total unmatched
  read -r total unmatched < <(fakellm_stats) || fail "$label: fakellm stopped answering"
  [ "$unmatched" -eq 0 ] ||
    fail "$label: $unmatched request(s) matched no rule of $rules (see the log above)"
  requests=$((total - before))
  [ "$requests" -gt 0 ] || fail "$label: no request reached fakellm"
  before=$total
}

# generate, prompt_only: one pipeline run; its final prompt must be the server's answer.
checked generate "$bin" generate --config "$work/config.toml" --mode prompt_only --seed 1
grep -q '^SUBJECT=a lighthouse keeper' "$work/generate.out" ||
  fail "generate: the final prompt is not the server's answer (see $work/generate.out)"
echo "generate: ok, prompt_only, $requests requests"

# The four experiments at their smallest size; every run must have succeeded.
for spec in "3x3 --runs-per-set 1" "profile_v5_3x3 --runs-per-set 1" \
  "ab_refinement_block --runs 1" "ab_scenespec_json_intermediary --runs 1"; do
  read -r name size <<<"$spec"
  out=$work/_artifacts/experiments/$name
  # shellcheck disable=SC2086 # $size is two words on purpose
  checked "$name" "$bin" experiments run "$name" --config "$work/config.toml" --seed 1 \
    --output-root "$out" $size
  summary=$("$py" - "$out/experiment_results.json" "$name" <<'EOF'
import json, sys
path, name = sys.argv[1], sys.argv[2]
try:
    results = json.load(open(path))["results"]
except (OSError, ValueError, KeyError) as e:
    sys.exit(f"error: third-party server check: {name}: cannot read {path}: {e}")
if not results:
    sys.exit(f"error: third-party server check: {name}: {path} lists no run")
bad = [r for r in results if r.get("status") != "success"]
for r in bad:
    print(f"error: third-party server check: {name}: run {r.get('generation_id')} "
          f"(variant {r.get('variant')}, run {r.get('run')}) is {r.get('status')!r}: "
          f"{r.get('error')}", file=sys.stderr)
if bad:
    sys.exit(1)
# The A/B analysis checks each final prompt (and SceneSpec) against the run's token: the rules
# answer with the token of seed 1, so a failed check means an answer was lost or mangled.
for r in results:
    metrics = (r.get("analysis") or {}).get("metrics") or {}
    for key in ("final_prompt_ok", "scenespec_ok"):
        if metrics.get(key) is False:
            sys.exit(f"error: third-party server check: {name}: run {r.get('generation_id')}: "
                     f"the analysis says {key} = false: {json.dumps(r.get('analysis'))[:600]}")
variants = sorted({r["variant"] for r in results})
print(f"{len(results)} runs succeeded (variants {','.join(variants)})")
EOF
  ) || fail "$name: not every run succeeded ($out/experiment_results.json)"
  echo "$name: ok, $summary, $requests requests"
done

total=$(fakellm_stats | cut -d' ' -f1)
echo "third-party server check passed: fakellm $FAKELLM_VERSION answered $total requests, none unmatched, in $((SECONDS - started)) s"
