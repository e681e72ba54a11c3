#!/usr/bin/env bash
# ralph-town work check: for every git repository under $HOME (its `.git` at most 8 levels
# deep) and in every directory given as an argument (a teammate's declared workdir, which may lie
# deeper or outside the home), print what would be lost if the sandbox went away. It changes
# nothing. A declared directory without a repository is no work; a repository that cannot be read
# is an error record, never clean.
#
# Output, one record a line, the kind and its value separated by a tab:
#   ralph-town-work-check	1      first line (format version)
#   home	<$HOME>
#   command	<what it does>       the teammate's command still runs (work in progress)
#   repo	<path>                 starts a repository's records
#   uncommitted	<porcelain line>   `git status --porcelain` (untracked files included)
#   unpushed	<oneline commit>     on a local branch (or HEAD) but on no remote ref
#   stash	<stash entry>
#   error	<message>              the repository could not be checked
#   end                          last line: the check finished
set -uo pipefail

# Tabs and newlines in a value would break the record format.
flat() {
  local value=${1//$'\t'/\\t}
  printf '%s' "${value//$'\n'/\\n}"
}

# Prints each non-empty line of $2 as a record of kind $1.
records() {
  local line
  while IFS= read -r line; do
    if [[ -n $line ]]; then printf '%s\t%s\n' "$1" "$(flat "$line")"; fi
  done <<<"$2"
}

in_repo() {
  git -c safe.directory='*' -c core.quotePath=false -C "$@"
}

printf 'ralph-town-work-check\t1\n'
# Without the `end` line the caller treats the check as not done, never as clean.
[[ -d $HOME ]] || exit 1
printf 'home\t%s\n' "$(flat "$HOME")"
# A teammate's command that still runs (its runner's heartbeat is fresh and it recorded no end)
# is work in progress.
work_state="$HOME/.ralph-town/work/state"
work_alive="$HOME/.ralph-town/work/alive"
if [[ -r $work_state && -e $work_alive ]] && ! grep -q '^done' "$work_state" \
  && (($(date +%s) - $(stat -c %Y "$work_alive") < 10)); then
  run=$(awk -F '\t' '$1 == "start" { run = $2 } END { print run + 0 }' "$work_state")
  printf 'command\trunning (run %s)\n' "$run"
fi
# Every repository once: the declared directories (relative ones are under $HOME) and the
# repositories found under the home, skipping trees that never hold a teammate's own work.
repositories() {
  local dir
  for dir in "$@"; do
    [[ $dir == /* ]] || dir=$HOME/$dir
    if [[ -e $dir/.git ]]; then printf '%s\0' "$dir"; fi
  done
  local dotgit
  while IFS= read -r -d '' dotgit; do
    printf '%s\0' "${dotgit%/.git}"
  done < <(find "$HOME" -mindepth 1 -maxdepth 8 \( -name node_modules -o -name .cache \) -prune \
    -o -name .git -prune -print0 2>/dev/null)
}

while IFS= read -r -d '' repo; do
  printf 'repo\t%s\n' "$(flat "$repo")"
  if output=$(in_repo "$repo" status --porcelain 2>&1); then
    records uncommitted "$output"
  else
    records error "git status failed: $output"
    continue
  fi
  heads=(--branches)
  if in_repo "$repo" rev-parse --verify --quiet HEAD >/dev/null; then heads+=(HEAD); fi
  if output=$(in_repo "$repo" log --no-decorate --oneline "${heads[@]}" --not --remotes -- 2>&1); then
    records unpushed "$output"
  else
    records error "git log failed: $output"
  fi
  if output=$(in_repo "$repo" stash list 2>&1); then
    records stash "$output"
  else
    records error "git stash list failed: $output"
  fi
done < <(repositories "$@" | sort -zu)
printf 'end\n'
