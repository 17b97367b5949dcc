#!/usr/bin/env bash
# Compatibility check against an OpenAI-compatible server nobody here wrote: the mock server
# `fakellm` from PyPI (pinned below), answering each pipeline step in the format it asks for by
# the rules in scripts/third-party-server/fakellm.yaml. Runs `generate` (prompt_only) and the four
# experiments against it, with the text backend `openai` and images offline, and fails unless
# every command exits 0, every run of every experiment succeeded, requests reached the server and
# no request fell through the rules.
#
# Usage: scripts/check-third-party-server.sh [path/to/image-project binary]
# The virtualenv lives in target/third-party-server-venv (THIRD_PARTY_SERVER_VENV overrides it)
# and is reused while it holds the pinned version; it needs `python3 -m venv` and PyPI.
# The work directory (config, artifacts, server log) is removed after a pass unless
# THIRD_PARTY_SERVER_KEEP=1, and kept after a failure.
set -euo pipefail

FAKELLM_VERSION=0.3.5

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:-$repo/target/debug/image-project}")
[ -x "$bin" ] || { echo "error: no image-project binary at $bin" >&2; exit 1; }
rules=$repo/scripts/third-party-server/fakellm.yaml
constraints=$repo/scripts/third-party-server/constraints.txt
venv=${THIRD_PARTY_SERVER_VENV:-$repo/target/third-party-server-venv}
started=$SECONDS

fail() {
  echo "error: third-party server check: $*" >&2
  exit 1
}

# --- the virtualenv with the pinned server -------------------------------------------------------
if [ ! -x "$venv/bin/fakellm" ] ||
  [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("fakellm"))' 2>/dev/null)" != "$FAKELLM_VERSION" ]; then
  echo "installing fakellm==$FAKELLM_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || fail "python3 -m venv $venv failed (on Debian: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -c "$constraints" "fakellm==$FAKELLM_VERSION" || fail "pip could not install fakellm==$FAKELLM_VERSION"
fi
py=$venv/bin/python

# --- the server, on a free loopback port ---------------------------------------------------------
work=$(mktemp -d)
server_pid=
cleanup() {
  status=$?
  if [ "$status" -ne 0 ] && [ -n "$server_pid" ] && [ -n "${port:-}" ]; then
    echo "--- requests fakellm answered, by rule" >&2
    "$py" -c 'import json, sys, urllib.request
print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["by_rule"], indent=1))' \
      "http://127.0.0.1:$port/_fakellm/stats" >&2 2>/dev/null || echo "(fakellm did not answer)" >&2
  fi
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
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

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/fakellm" serve --host 127.0.0.1 --port "$port" --config "$rules" >"$work/server.log" 2>&1 &
server_pid=$!

# Prints the server's request counts as `TOTAL UNMATCHED` (the `unmatched` rule, plus requests
# that matched no rule at all), failing if the server does not answer.
stats() {
  "$py" - "$port" <<'EOF'
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_fakellm/stats", timeout=5) as r:
    stats = json.load(r)
by_rule = stats["by_rule"]
print(stats["total_requests"], by_rule.get("unmatched", 0) + by_rule.get("<fallthrough>", 0))
EOF
}

for _ in $(seq 1 150); do
  kill -0 "$server_pid" 2>/dev/null || fail "fakellm exited before it was ready"
  stats >/dev/null 2>&1 && break
  sleep 0.2
done
stats >/dev/null 2>&1 || fail "fakellm did not answer on 127.0.0.1:$port within 30 s"
echo "fakellm $FAKELLM_VERSION serving $(grep -c 'name:' "$rules") rules on 127.0.0.1:$port"

# --- the config: the text backend is the server, images stay offline -----------------------------
cat >"$work/config.toml" <<EOF
[backend.text]
provider = "openai"
base_url = "http://127.0.0.1:$port/v1"
model = "fakellm-compat"
api_key_env = "THIRD_PARTY_SERVER_KEY"
timeout_s = 30
max_retries = 0
EOF
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
  read -r total unmatched < <(stats) || fail "$label: fakellm stopped answering"
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

total=$(stats | cut -d' ' -f1)
echo "third-party server check passed: fakellm $FAKELLM_VERSION answered $total requests, none unmatched, in $((SECONDS - started)) s"
