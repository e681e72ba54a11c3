#!/usr/bin/env bash
# Measures what `serve`'s metrics history costs: starts `serve` with N started sandboxes
# (default 50), waits 20 s, then prints serve's CPU time (its own and its reaped children's,
# where the samples run) over 60 s, and how many points one sandbox has. Compare the default
# 15 s interval with sampling off in practice:
#
#   cargo build && scripts/bench-metrics.sh 50 && scripts/bench-metrics.sh 50 metrics-interval=1h
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
simulate=${2:-}
bin=${RALPH_TOWN_BIN:-$PWD/target/debug/ralph-town}
home=$(mktemp -d)
export RALPH_TOWN_HOME=$home HOME=$home
key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=$((20000 + RANDOM % 20000))
RALPH_TOWN_SERVE_API_KEY=$key "$bin" serve --listen "127.0.0.1:$port" \
  ${simulate:+--simulate "$simulate"} >/dev/null 2>&1 &
pid=$!
trap 'kill $pid; wait $pid 2>/dev/null; rm -rf "$home"' EXIT
api=http://127.0.0.1:$port/api
until curl -sf "$api/health" >/dev/null; do sleep 0.2; done
for _ in $(seq 1 "$n"); do
  curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{}' \
    "$api/sandbox" >/dev/null
done
sleep 20
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat"; }
before=$(ticks)
sleep 60
after=$(ticks)
hz=$(getconf CLK_TCK)
echo "N=$n simulate='$simulate': $((after - before)) ticks in 60 s =" \
  "$(echo "scale=2; ($after - $before) * 100 / $hz / 60" | bc) % of one CPU"
id=$(curl -sf -H "Authorization: Bearer $key" "$api/sandbox" |
  python3 -c 'import json, sys; d = json.load(sys.stdin); print((d["items"] if isinstance(d, dict) else d)[0]["id"])')
curl -sf -H "Authorization: Bearer $key" \
  "$api/sandbox/$id/telemetry/metrics?metricNames=daytona.sandbox.filesystem.usage" |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)["series"][0]["dataPoints"]), "points of one sandbox")'
