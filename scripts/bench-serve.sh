#!/usr/bin/env bash
# Measures `up` on the `daytona` provider against `ralph-town serve` simulating Daytona's
# cached-snapshot creation time (1.3 s): one teammate, then N with `--parallel N`, each with and
# without setup (setup clones this checkout inside every sandbox). Also the CPU time `serve`
# spends answering `GET /api/sandbox/{id}`.
#
#   cargo build --release && scripts/bench-serve.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
bin=${RALPH_TOWN_BIN:-$PWD/target/release/ralph-town}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
RALPH_TOWN_HOME="$work/serve" "$bin" serve --listen "127.0.0.1:$port" --read-only "$PWD" \
  --simulate "create-delay=1.3s" 2>"$work/serve.log" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null; rm -rf "$work"' EXIT
export DAYTONA_API_URL="http://127.0.0.1:$port/api" RALPH_TOWN_HOME="$work/client"
for _ in $(seq 50); do curl -fs "$DAYTONA_API_URL/health" >/dev/null && break; sleep 0.1; done
# The key `serve` made for itself; curl reads the header from a file, never from its argv.
DAYTONA_API_KEY=$(cat "$work/serve/serve/api-key")
export DAYTONA_API_KEY
(umask 077; printf 'Authorization: Bearer %s\n' "$DAYTONA_API_KEY" >"$work/auth-header")

team() {
  printf 'name = "bench-%s"\nprovider = "daytona"\n\n[defaults]\nrepo = "%s"\n\n' "$1" "$PWD"
  for i in $(seq 1 "$1"); do printf '[[teammate]]\nname = "t%s"\nbranch = "bench/t%s"\n\n' "$i" "$i"; done
}
team 1 >"$work/one.toml"
team "$n" >"$work/many.toml"

now() { date +%s.%N; }
measure() { # label, args...
  local label=$1; shift
  local start end
  start=$(now); "$bin" "$@" --progress none --yes >/dev/null 2>&1; end=$(now)
  printf '%-38s %6.2f s\n' "$label" "$(echo "$end - $start" | bc)"
}
for setup in "--no-setup" ""; do
  word=${setup:+"(no setup)"}; word=${word:-"(with setup)"}
  measure "up of 1 teammate $word" up "$work/one.toml" $setup --parallel 1
  "$bin" down "$work/one.toml" --force >/dev/null 2>&1
  measure "up of $n teammates $word" up "$work/many.toml" $setup --parallel "$n"
  "$bin" down "$work/many.toml" --force >/dev/null 2>&1
done

id=$(curl -fs -X POST "$DAYTONA_API_URL/sandbox" -H @"$work/auth-header" \
  -H 'Content-Type: application/json' -d '{"name":"probe"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
ticks_before=$(awk '{print $14 + $15}' "/proc/$serve_pid/stat")
python3 - "$port" "$id" <<'PY'
import http.client, os, sys
key = os.environ["DAYTONA_API_KEY"]
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(1000):
    connection.request("GET", f"/api/sandbox/{sys.argv[2]}", headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
PY
ticks_after=$(awk '{print $14 + $15}' "/proc/$serve_pid/stat")
hz=$(getconf CLK_TCK)
printf 'serve CPU per GET /api/sandbox/{id}:  %6.3f ms (1000 requests)\n' \
  "$(echo "($ticks_after - $ticks_before) * 1000 / $hz / 1000" | bc -l)"
