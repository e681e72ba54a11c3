#!/usr/bin/env bash
# Seeded fault trials: for each seed, one `ralph-town up` of a team of N teammates (with setup:
# a clone of a local origin on the teammate's branch) on the `daytona` provider against a
# spawned `ralph-town serve --simulate "$PROFILE,seed=S"`, then one `ralph-town down`. Counts
#   converged   `up` exited 0 and every teammate has exactly one sandbox, labelled `setup=ok`,
#               whose clone is on the teammate's branch (read from serve's state root)
#   duplicates  sandboxes beyond the first of a teammate
#   leftovers   sandboxes of the team still there after `down` (counted once serve has no
#               create in flight, so a create that answers late is counted too)
#
#   scripts/fault-trials.sh [FIRST_SEED [LAST_SEED]]      # default 1 24
#
# Environment: TEAMMATES (default 20), PARALLEL (default 8), PROFILE (the default below),
# RALPH_TOWN_BIN (a binary to test; default: `cargo build` and target/debug/ralph-town),
# TRIAL_TIMEOUT (seconds one `up` or `down` may take before it counts as hung; default 1200).
#
# The default profile imitates a bad day of a cloud API: 4 % of requests answered 500/502 before
# they are handled, 3 % handled but their connection dropped before the answer (a create may
# have happened), 2 % stalled for 95 s before they are handled, creates throttled to 5 per 2 s
# (429 storms with `Retry-After-sandbox-create`), 1 s creation and 200 ms transitions.
set -euo pipefail
cd "$(dirname "$0")/.."
first=${1:-1}
last=${2:-${1:-24}}
teammates=${TEAMMATES:-20}
parallel=${PARALLEL:-8}
profile=${PROFILE:-error-rate=0.04,drop-rate=0.03,stall-rate=0.02,stall=95s,rate-create=5/2s,create-delay=1s,transition-delay=200ms}
trial_timeout=${TRIAL_TIMEOUT:-1200}
work=$(mktemp -d)
serve_pid=
cleanup() {
  if [[ -n $serve_pid ]]; then kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=scripts/trials-common.sh
source scripts/trials-common.sh

# The team's sandboxes in serve's state root, as `teammate setup branch-checked-out` lines.
inventory() { # serve_state team
  python3 - "$1" "$2" <<'PY'
import json, pathlib, sys
root, team = pathlib.Path(sys.argv[1]) / "sandboxes", sys.argv[2]
for record in sorted(root.glob("*/sandbox.json")):
    try:
        sandbox = json.loads(record.read_text())
    except (OSError, ValueError):
        continue  # being written or removed right now
    labels = sandbox.get("labels") or {}
    if labels.get("ralph-town/team") != team:
        continue
    teammate = labels.get("ralph-town/teammate", "<unlabelled>")
    head = record.parent / "home" / "origin" / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
    except OSError:
        ref = ""
    on_branch = ref == "ref: refs/heads/" + labels.get("ralph-town/branch", "?")
    print(teammate, labels.get("ralph-town/setup", "-"), "yes" if on_branch else "no")
PY
}

# Waits (at most the stall plus a margin) until serve has answered every create it received.
quiescent() { # server_url key_file
  local deadline=$((SECONDS + 110))
  while ((SECONDS < deadline)); do
    local pending
    pending=$(curl -fs -H @"$work/auth-header" "$1/_ralph/stats" | python3 -c '
import json, sys
route = json.load(sys.stdin).get("routes", {}).get("POST /api/sandbox", {})
print(route.get("requests", 0) - sum(route.get("statuses", {}).values()))') || pending=1
    [[ $pending == 0 ]] && return 0
    sleep 1
  done
}

converged_runs=0 duplicate_total=0 leftover_total=0 down_failures=0 trials=0
printf 'profile: %s; %s teammates, --parallel %s; binary %s\n' "$profile" "$teammates" "$parallel" "$bin"
for seed in $(seq "$first" "$last"); do
  trials=$((trials + 1))
  trial=$work/seed-$seed
  mkdir -p "$trial"
  team=trial-$seed
  {
    printf 'name = "%s"\nprovider = "daytona"\n\n[defaults]\nrepo = "%s"\nbase_branch = "main"\n\n' "$team" "$origin"
    for i in $(seq 0 $((teammates - 1))); do
      printf '[[teammate]]\nname = "t%s"\nbranch = "feature/t%s"\n\n' "$i" "$i"
    done
  } >"$trial/team.toml"

  RALPH_TOWN_HOME=$trial/serve "$bin" serve --listen 127.0.0.1:0 --read-only "$origin" \
    --simulate "$profile,seed=$seed" 2>"$trial/serve.log" &
  serve_pid=$!
  api_url=
  for _ in $(seq 100); do
    api_url=$(grep -so 'http://127\.0\.0\.1:[0-9]*/api' "$trial/serve.log" | head -1 || true)
    [[ -n $api_url ]] && break
    sleep 0.1
  done
  [[ -n $api_url ]] || { echo "serve did not start:"; cat "$trial/serve.log"; exit 1; }
  key_file=$trial/serve/serve/api-key
  (umask 077; printf 'Authorization: Bearer %s\n' "$(cat "$key_file")" >"$work/auth-header")
  client() {
    DAYTONA_API_URL=$api_url DAYTONA_API_KEY=$(cat "$key_file") RALPH_TOWN_HOME=$trial/client \
      timeout -s KILL "$trial_timeout" "$bin" "$@"
  }

  started=$SECONDS
  up_exit=0
  client up "$trial/team.toml" --parallel "$parallel" --progress plain >"$trial/up.out" 2>"$trial/up.err" || up_exit=$?
  up_time=$((SECONDS - started))
  inventory "$trial/serve" "$team" >"$trial/after-up"
  good=$(awk '$2 == "ok" && $3 == "yes" {print $1}' "$trial/after-up" | sort -u | wc -l)
  total=$(wc -l <"$trial/after-up")
  distinct=$(awk '{print $1}' "$trial/after-up" | sort -u | wc -l)
  duplicates=$((total - distinct))
  converged=no
  if ((up_exit == 0 && good == teammates && total == teammates)); then
    converged=yes
    converged_runs=$((converged_runs + 1))
  fi
  duplicate_total=$((duplicate_total + duplicates))

  down_exit=0
  client down "$trial/team.toml" >"$trial/down.out" 2>"$trial/down.err" || down_exit=$?
  ((down_exit == 0)) || down_failures=$((down_failures + 1))
  quiescent "${api_url%/api}"
  leftovers=$(inventory "$trial/serve" "$team" | wc -l)
  leftover_total=$((leftover_total + leftovers))

  printf 'seed %2s: up exit %s in %4ss, converged %-3s (%s/%s set up, %s sandboxes, %s duplicates); down exit %s, %s left over\n' \
    "$seed" "$up_exit" "$up_time" "$converged" "$good" "$teammates" "$total" "$duplicates" \
    "$down_exit" "$leftovers"
  if [[ $converged == no || $down_exit != 0 ]]; then
    grep -hE 'failed|error' "$trial/up.err" "$trial/down.err" "$trial/down.out" 2>/dev/null | head -5 | sed 's/^/    /'
  fi
  kill "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=
  rm -rf "$trial"
done
printf 'converged %s of %s; duplicates %s; down failed %s; leftovers after down %s\n' \
  "$converged_runs" "$trials" "$duplicate_total" "$down_failures" "$leftover_total"
