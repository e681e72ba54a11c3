#!/usr/bin/env bash
# An offline stand-in for a coding agent, for trying `ralph-town up` without an account: it
# reads its task, fails its first run on purpose (so that the restart policy shows), and on a
# later run writes the task into a note and commits it on the teammate's branch.
#
# It runs in the teammate's clone with RALPH_TOWN_TEAMMATE, RALPH_TOWN_TASK_FILE and
# RALPH_TOWN_RUN set by ralph-town's runner. AGENT_FAILING_RUNS (default 1) says how many runs
# fail before one succeeds.
set -euo pipefail

task=$(cat "$RALPH_TOWN_TASK_FILE")
echo "agent: I am $RALPH_TOWN_TEAMMATE, run $RALPH_TOWN_RUN"
echo "agent: my task: ${task%%$'\n'*}"
if ((RALPH_TOWN_RUN <= ${AGENT_FAILING_RUNS:-1})); then
  echo "agent: run $RALPH_TOWN_RUN fails on purpose" >&2
  exit 3
fi
mkdir -p notes
printf '%s\n' "$task" >"notes/$RALPH_TOWN_TEAMMATE.md"
git add "notes/$RALPH_TOWN_TEAMMATE.md"
git commit --quiet --message "$RALPH_TOWN_TEAMMATE: ${task%%$'\n'*}"
echo "agent: committed $(git log -1 --format=%h) on $(git rev-parse --abbrev-ref HEAD)"
