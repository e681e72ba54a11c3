#!/usr/bin/env bash
# Kill trials: for each seed, `ralph-town up` of a team of N teammates (with setup: a clone of a
# local origin on the teammate's branch) on the `local` provider, killed with SIGKILL after a
# seeded random delay (mostly mid-setup), then one plain `up` (no `--yes`, no terminal), then
# `down`. Counts
#   converged   the second `up` exited 0 and every teammate has exactly one sandbox, set up
#               (`setup` ok), whose clone is on the teammate's branch
#   recreated   sandboxes the second `up` replaced (a killed run should need none)
#   leftovers   sandboxes of the team still there after `down`
#
#   scripts/kill-trials.sh [FIRST_SEED [LAST_SEED]]      # default 1 20
#
# Environment: TEAMMATES (default 20), PARALLEL (default 8), MAX_DELAY (the latest kill, in
# seconds; default 4), RALPH_TOWN_BIN (a binary to test; default: `cargo build` and
# target/debug/ralph-town).
set -euo pipefail
cd "$(dirname "$0")/.."
first=${1:-1}
last=${2:-${1:-20}}
teammates=${TEAMMATES:-20}
parallel=${PARALLEL:-8}
max_delay=${MAX_DELAY:-4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=scripts/trials-common.sh
source scripts/trials-common.sh

# `teammate setup id` per sandbox of the team, from `status --json`.
inventory() { # team_file
  "$bin" status --json "$1" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
rows = answer["teammates"] if isinstance(answer, dict) else answer
for row in rows:
    if row.get("sandbox_id"):
        print(row["teammate"], row.get("setup") or "-", row["sandbox_id"])'
}

converged_runs=0 recreated_total=0 leftover_total=0 down_failures=0 trials=0
printf '%s teammates, --parallel %s, killed within %s s; binary %s\n' "$teammates" "$parallel" "$max_delay" "$bin"
for seed in $(seq "$first" "$last"); do
  trials=$((trials + 1))
  trial=$work/seed-$seed
  mkdir -p "$trial"
  export RALPH_TOWN_HOME=$trial/state
  {
    printf 'name = "kill-%s"\nprovider = "local"\n\n[defaults]\nrepo = "%s"\nbase_branch = "main"\n\n' "$seed" "$origin"
    for i in $(seq 0 $((teammates - 1))); do
      printf '[[teammate]]\nname = "t%s"\nbranch = "feature/t%s"\n\n' "$i" "$i"
    done
  } >"$trial/team.toml"
  delay=$(python3 -c "import random; print(round(random.Random($seed).uniform(0.2, $max_delay), 2))")

  "$bin" up "$trial/team.toml" --parallel "$parallel" --progress none >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  inventory "$trial/team.toml" >"$trial/after-kill"

  up_exit=0
  "$bin" up "$trial/team.toml" --parallel "$parallel" --progress plain </dev/null >"$trial/up.out" 2>"$trial/up.err" || up_exit=$?
  inventory "$trial/team.toml" >"$trial/after-up"
  on_branch=0
  while read -r teammate setup _; do
    [[ $setup == ok ]] || continue
    head=$("$bin" exec "$teammate" -f "$trial/team.toml" -- git rev-parse --abbrev-ref HEAD 2>/dev/null || true)
    [[ $head == "feature/$teammate" ]] && on_branch=$((on_branch + 1))
  done <"$trial/after-up"
  total=$(wc -l <"$trial/after-up")
  distinct=$(awk '{print $1}' "$trial/after-up" | sort -u | wc -l)
  # Sandboxes present after the kill that the second `up` no longer has: replaced.
  recreated=$(comm -23 <(awk '{print $3}' "$trial/after-kill" | sort) <(awk '{print $3}' "$trial/after-up" | sort) | wc -l)
  converged=no
  if ((up_exit == 0 && on_branch == teammates && total == teammates && distinct == teammates)); then
    converged=yes
    converged_runs=$((converged_runs + 1))
  fi
  recreated_total=$((recreated_total + recreated))

  down_exit=0
  "$bin" down "$trial/team.toml" </dev/null >"$trial/down.out" 2>"$trial/down.err" || down_exit=$?
  ((down_exit == 0)) || down_failures=$((down_failures + 1))
  leftovers=$(inventory "$trial/team.toml" | wc -l)
  leftover_total=$((leftover_total + leftovers))

  printf 'seed %2s: killed after %4s s with %2s sandboxes (%2s set up); up exit %s, converged %-3s (%s/%s on their branch, %s sandboxes), %s recreated; down exit %s, %s left over\n' \
    "$seed" "$delay" "$(wc -l <"$trial/after-kill")" "$(awk '$2 == "ok"' "$trial/after-kill" | wc -l)" \
    "$up_exit" "$converged" "$on_branch" "$teammates" "$total" "$recreated" "$down_exit" "$leftovers"
  if [[ $converged == no || $down_exit != 0 ]]; then
    grep -hE 'failed|error|refus' "$trial/up.err" "$trial/down.err" 2>/dev/null | head -5 | sed 's/^/    /'
  fi
  rm -rf "$trial"
done
printf 'converged %s of %s; recreated %s; down failed %s; leftovers after down %s\n' \
  "$converged_runs" "$trials" "$recreated_total" "$down_failures" "$leftover_total"
