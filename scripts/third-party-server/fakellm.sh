# shellcheck shell=bash
# Sourced by the scripts that run the host against the mock server `fakellm` (PyPI, pinned
# below) with the rules in fakellm.yaml: scripts/check-third-party-server.sh and
# scripts/compare-estimate.sh. It installs the server into a virtualenv, starts it on a free
# loopback port and reads its request counts; the caller owns its work directory and calls
# `fakellm_stop` from its own EXIT trap.
#
# The virtualenv lives in target/third-party-server-venv (THIRD_PARTY_SERVER_VENV overrides it)
# and is reused while it holds the pinned version; it needs `python3 -m venv` and PyPI.
#
# The caller defines `fail MESSAGE` (print and exit 1) before sourcing. Sets, for the caller:
#   FAKELLM_VERSION, fakellm_rules, py (the venv's python), and after `fakellm_start`: port,
#   server_pid.

FAKELLM_VERSION=0.3.5

fakellm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fakellm_rules=$fakellm_dir/fakellm.yaml
fakellm_venv=${THIRD_PARTY_SERVER_VENV:-$(cd "$fakellm_dir/../.." && pwd)/target/third-party-server-venv}
server_pid=
port=

# Installs the pinned server into the virtualenv unless it is there already; sets `py`.
fakellm_install() {
  if [ ! -x "$fakellm_venv/bin/fakellm" ] ||
    [ "$("$fakellm_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("fakellm"))' 2>/dev/null)" != "$FAKELLM_VERSION" ]; then
    echo "installing fakellm==$FAKELLM_VERSION into $fakellm_venv"
    rm -rf "$fakellm_venv"
    python3 -m venv "$fakellm_venv" || fail "python3 -m venv $fakellm_venv failed (on Debian: apt-get install python3-venv)"
    "$fakellm_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -c "$fakellm_dir/constraints.txt" "fakellm==$FAKELLM_VERSION" ||
      fail "pip could not install fakellm==$FAKELLM_VERSION"
  fi
  py=$fakellm_venv/bin/python
}

# Prints the server's request counts as `TOTAL UNMATCHED` (the `unmatched` rule, plus requests
# that matched no rule at all), failing if the server does not answer.
fakellm_stats() {
  "$py" - "$port" <<'EOF'
import json, sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_fakellm/stats", timeout=5) as r:
    stats = json.load(r)
by_rule = stats["by_rule"]
print(stats["total_requests"], by_rule.get("unmatched", 0) + by_rule.get("<fallthrough>", 0))
EOF
}

# Prints the server's request counts by rule (for a failure's diagnosis), or says it is gone.
fakellm_by_rule() {
  "$py" -c 'import json, sys, urllib.request
print(json.dumps(json.load(urllib.request.urlopen(sys.argv[1], timeout=5))["by_rule"], indent=1))' \
    "http://127.0.0.1:$port/_fakellm/stats" 2>/dev/null || echo "(fakellm did not answer)"
}

# Installs if needed and starts the server with the rules, logging to LOG; waits until it answers.
fakellm_start() {
  local log=$1
  fakellm_install
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$fakellm_venv/bin/fakellm" serve --host 127.0.0.1 --port "$port" --config "$fakellm_rules" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 150); do
    kill -0 "$server_pid" 2>/dev/null || fail "fakellm exited before it was ready (see $log)"
    fakellm_stats >/dev/null 2>&1 && break
    sleep 0.2
  done
  fakellm_stats >/dev/null 2>&1 || fail "fakellm did not answer on 127.0.0.1:$port within 30 s"
  echo "fakellm $FAKELLM_VERSION serving $(grep -c 'name:' "$fakellm_rules") rules on 127.0.0.1:$port"
}

# Stops the server this file started, if it did.
fakellm_stop() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}

# Writes CONFIG: the text backend is the server (model MODEL), images stay offline; the key is a
# dummy the caller exports as THIRD_PARTY_SERVER_KEY.
fakellm_config() {
  local config=$1 model=$2
  cat >"$config" <<EOF
[backend.text]
provider = "openai"
base_url = "http://127.0.0.1:$port/v1"
model = "$model"
api_key_env = "THIRD_PARTY_SERVER_KEY"
timeout_s = 30
max_retries = 0
EOF
}
