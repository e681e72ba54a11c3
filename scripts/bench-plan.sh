#!/usr/bin/env bash
# Measures `plan` of a large team on the `local` provider: N teammates (default 1000) against
# N live sandboxes made by `up --no-setup`, then the CPU time (user + system) of `plan`, the
# median of several runs, next to `validate` of the same file (the part that is not observing).
#
#   cargo build --release && scripts/bench-plan.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
runs=${2:-7}
bin=${RALPH_TOWN_BIN:-target/release/ralph-town}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RALPH_TOWN_HOME="$work/state"

{
  printf 'name = "bench"\n\n[defaults]\nrepo = "%s"\nenv = ["LOG_LEVEL=debug", "MODE=fast"]\n\n' "$PWD"
  for i in $(seq 1 "$n"); do
    printf '[[teammate]]\nname = "t%s"\nbranch = "bench/t%s"\n\n' "$i" "$i"
  done
} >"$work/team.toml"

"$bin" up "$work/team.toml" --no-setup --progress none --parallel 64 >/dev/null
live=$(ls "$RALPH_TOWN_HOME/sandboxes" | wc -l)
[ "$live" -eq "$n" ] || { echo "up made $live sandboxes, not $n" >&2; exit 1; }

median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# CPU milliseconds of one run of the command: `perf stat`'s task clock (user + system, all
# threads), or `getrusage` through Python where perf is missing.
cpu_ms() {
  if command -v perf >/dev/null && perf stat -x, -e task-clock true >/dev/null 2>&1; then
    perf stat -x, -e task-clock "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ { printf "%.1f\n", $1 }'
  else
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{(usage.ru_utime + usage.ru_stime) * 1000:.1f}")' "$@"
  fi
}
plan=(); validate=()
for _ in $(seq 1 "$runs"); do
  plan+=("$(cpu_ms "$bin" plan "$work/team.toml")")
  validate+=("$(cpu_ms "$bin" validate "$work/team.toml")")
done
"$bin" plan "$work/team.toml" | tail -1
printf 'plan of %s teammates against %s sandboxes: %s ms CPU (median of %s)\n' \
  "$n" "$live" "$(printf '%s\n' "${plan[@]}" | median)" "$runs"
printf 'validate of the same file:                %s ms CPU\n' "$(printf '%s\n' "${validate[@]}" | median)"
"$bin" down "$work/team.toml" --force >/dev/null 2>&1 || true
