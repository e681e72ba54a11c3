#!/usr/bin/env bash
# Measures the core loop on the `local` provider: `up` of N teammates that each clone a local
# repository (this checkout), then `down`, plus `--version` and `validate` of a 200-teammate
# file. Figures are wall-clock medians over several runs.
#
#   cargo build --release && scripts/bench-local.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
runs=${2:-5}
bin=${RALPH_TOWN_BIN:-target/release/ralph-town}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RALPH_TOWN_HOME="$work/state"

{
  printf 'name = "bench"\n\n[defaults]\nrepo = "%s"\n\n' "$PWD"
  for i in $(seq 1 "$n"); do
    printf '[[teammate]]\nname = "t%s"\nbranch = "bench/t%s"\n\n' "$i" "$i"
  done
} >"$work/team.toml"
{
  printf 'name = "big"\n\n[defaults]\nrepo = "%s"\n\n' "$PWD"
  for i in $(seq 1 200); do
    printf '[[teammate]]\nname = "t%s"\nbranch = "bench/t%s"\nenv = ["A=%s", "B=${HOME}"]\n\n' "$i" "$i" "$i"
  done
} >"$work/big.toml"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
time_ms() { local start end; start=$(now); "$@" >/dev/null 2>&1; end=$(now); echo "($end - $start) * 1000" | bc; }

up=(); down=()
for _ in $(seq 1 "$runs"); do
  up+=("$(time_ms "$bin" up "$work/team.toml" --progress none --parallel "$n")")
  [ "$(ls "$RALPH_TOWN_HOME/sandboxes" | wc -l)" -eq "$n" ] || { echo "up did not create $n sandboxes" >&2; exit 1; }
  down+=("$(time_ms "$bin" down "$work/team.toml")")
done
version=(); validate=()
for _ in $(seq 1 20); do
  version+=("$(time_ms "$bin" --version)")
  validate+=("$(time_ms "$bin" validate "$work/big.toml")")
done
printf 'up of %s teammates:        %6.0f ms (median of %s)\n' "$n" "$(printf '%s\n' "${up[@]}" | median)" "$runs"
printf 'down of %s teammates:      %6.0f ms\n' "$n" "$(printf '%s\n' "${down[@]}" | median)"
printf 'ralph-town --version:      %6.1f ms (median of 20)\n' "$(printf '%s\n' "${version[@]}" | median)"
printf 'validate of 200 teammates: %6.1f ms (median of 20)\n' "$(printf '%s\n' "${validate[@]}" | median)"
