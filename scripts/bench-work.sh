#!/usr/bin/env bash
# Measures teammates at work:
#  1. `status` of N teammates (default 50) with their command and work fields, on the `daytona`
#     provider against `ralph-town serve --simulate latency=50ms`: every teammate's probe is one
#     toolbox call, and they run at once. Prints each of 5 runs' wall time, the requests a status
#     sent (serve's `/_ralph/stats`) and serve's CPU time a status.
#  2. `logs -f` of M teammates (default 20) on `local` while their commands write L lines a
#     second in all (default 1000): whether every line arrives, how far behind the last one is,
#     and the CPU time of the `ralph-town logs` process per second of wall time.
#
#   cargo build --release && scripts/bench-work.sh [N] [M] [L]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50}
m=${2:-20}
rate=${3:-1000}
seconds=${BENCH_SECONDS:-20}
bin=${RALPH_TOWN_BIN:-$PWD/target/release/ralph-town}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))

origin="$work/origin"
git init -q -b main "$origin"
git -C "$origin" -c user.name=bench -c user.email=bench@localhost commit -q --allow-empty -m first

RALPH_TOWN_HOME="$work/serve" "$bin" serve --listen "127.0.0.1:$port" --read-only "$origin" \
  --simulate "${SIMULATE:-latency=50ms}" 2>"$work/serve.log" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null; RALPH_TOWN_HOME="$work/local" "$bin" down --force "$work/logs.toml" >/dev/null 2>&1; rm -rf "$work"' EXIT
export DAYTONA_API_URL="http://127.0.0.1:$port/api"
for _ in $(seq 50); do curl -fs "$DAYTONA_API_URL/health" >/dev/null && break; sleep 0.1; done
DAYTONA_API_KEY=$(cat "$work/serve/serve/api-key")
export DAYTONA_API_KEY

now() { date +%s.%N; }
requests() {
  curl -fs -H "Authorization: Bearer $DAYTONA_API_KEY" "${DAYTONA_API_URL%/api}/_ralph/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}

# 1. status of N teammates, each with a finished command and a commit.
{
  printf 'name = "bench-status"\nprovider = "daytona"\n\n[defaults]\nrepo = "%s"\n' "$origin"
  printf 'command = "git commit -q --allow-empty -m work"\n\n'
  for i in $(seq 1 "$n"); do printf '[[teammate]]\nname = "t%s"\nbranch = "bench/t%s"\n\n' "$i" "$i"; done
} >"$work/status.toml"
RALPH_TOWN_HOME="$work/client" "$bin" up "$work/status.toml" --yes --progress none \
  --parallel "$n" --wait --wait-timeout 600 >/dev/null 2>&1
best=999
runs=()
sent=$(requests)
# Serve's own CPU time and that of the commands it ran (and waited for).
serve_ticks=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$serve_pid/stat")
for _ in 1 2 3 4 5; do
  start=$(now)
  RALPH_TOWN_HOME="$work/client" "$bin" status --json "$work/status.toml" >"$work/status.json"
  end=$(now)
  took=$(echo "$end - $start" | bc)
  runs+=("$(printf '%.2f' "$took")")
  best=$(echo "if ($took < $best) $took else $best" | bc)
done
serve_cpu=$(echo "scale=2; ($(awk '{print $14 + $15 + $16 + $17}' "/proc/$serve_pid/stat") - $serve_ticks) / $(getconf CLK_TCK) / 5" | bc)
sent=$((($(requests) - sent) / 5))
rows=$(python3 -c 'import json,sys; rows=json.load(open(sys.argv[1])); print(sum(1 for r in rows if r["work"] and r["work"]["ahead"] == 1 and r["command"]["state"] == "exited"))' "$work/status.json")
printf 'status of %s teammates (%s): %s s, best of 5 %.2f s; %s rows with command and work fields; %s requests and serve CPU %.2f s a status\n' \
  "$n" "${SIMULATE:-latency=50ms}" "${runs[*]}" "$best" "$rows" "$sent" "$serve_cpu"
RALPH_TOWN_HOME="$work/client" "$bin" down --force "$work/status.toml" >/dev/null 2>&1
if [[ ${BENCH_ONLY:-} == status ]]; then exit 0; fi

# 2. logs -f of M teammates writing RATE lines a second in all.
per=$((rate / m))
lines=$((per * seconds))
pause=$(echo "scale=4; 1 / $per" | bc)
{
  printf 'name = "bench-logs"\nprovider = "local"\n\n[defaults]\nrepo = "%s"\n' "$origin"
  printf 'command = "sleep 3; for i in $(seq 1 %s); do echo line $i; sleep %s; done"\n\n' "$lines" "$pause"
  for i in $(seq 1 "$m"); do printf '[[teammate]]\nname = "t%s"\nbranch = "bench/t%s"\n\n' "$i" "$i"; done
} >"$work/logs.toml"
export RALPH_TOWN_HOME="$work/local"
"$bin" up "$work/logs.toml" --yes --progress none >/dev/null 2>&1
start=$(now)
"$bin" logs -f --file "$work/logs.toml" >"$work/logs.out" &
logs_pid=$!
# Its CPU ticks (user + system), read while it runs; the last reading is within half a second of
# its end.
ticks=0
while kill -0 "$logs_pid" 2>/dev/null; do
  ticks=$(awk '{print $14 + $15}' "/proc/$logs_pid/stat" 2>/dev/null || echo "$ticks")
  sleep 0.5
done
wait "$logs_pid"
end=$(now)
got=$(grep -c ' | line ' "$work/logs.out" || true)
hz=$(getconf CLK_TCK)
wall=$(echo "$end - $start" | bc)
cpu=$(echo "scale=3; $ticks / $hz" | bc)
printf 'logs -f of %s teammates at %s lines/s for %ss: %s of %s lines; wall %.1f s; ralph-town CPU %.2f s (%.1f%% of a core)\n' \
  "$m" "$rate" "$seconds" "$got" "$((lines * m))" "$wall" "$cpu" "$(echo "scale=2; 100 * $cpu / $wall" | bc)"
