#!/usr/bin/env bash
# ralph-town work probe: what a teammate's command and repository are doing. It changes nothing.
# Arguments: the workdir (relative ones are under $HOME), the base branch (empty: the remote's
# HEAD), the teammate's branch.
#
# Output, one record a line, the kind and its values separated by tabs:
#   ralph-town-work	1            first line (format version)
#   now	<seconds>              the sandbox clock
#   state	<record...>            each line of the runner's state file, as written
#   alive	<seconds>|none         seconds since the runner's last heartbeat
#   ahead	<count>                commits on HEAD that the base branch lacks
#   dirty	<count>                `git status --porcelain` lines
#   subject	<text>               the last commit's subject
#   pushed	yes|no|none          HEAD is on the remote branch / is not / there is none
#   unpushed	<count>              commits on HEAD the remote branch lacks
#   error	<message>              the repository could not be read
#   end                          last line: the probe finished
set -uo pipefail

flat() {
  local value=${1//$'\t'/\\t}
  printf '%s' "${value//$'\n'/\\n}"
}

work="$HOME/.ralph-town/work"
workdir=${1:-}
base=${2:-}
branch=${3:-}
case $workdir in
  /*) ;;
  "" | "~") workdir=$HOME ;;
  "~/"*) workdir="$HOME/${workdir#"~/"}" ;;
  *) workdir="$HOME/$workdir" ;;
esac

printf 'ralph-town-work\t1\n'
printf 'now\t%s\n' "$(date +%s)"
if [[ -r $work/state ]]; then
  while IFS= read -r line; do
    printf 'state\t%s\n' "$line"
  done <"$work/state"
fi
if [[ -e $work/alive ]]; then
  printf 'alive\t%s\n' "$(($(date +%s) - $(stat -c %Y "$work/alive")))"
else
  printf 'alive\tnone\n'
fi

git_in() { git -c safe.directory='*' -C "$workdir" "$@"; }
if [[ -e $workdir/.git ]]; then
  if [[ -z $base ]]; then
    base=$(git_in symbolic-ref --quiet --short refs/remotes/origin/HEAD 2>/dev/null) || base=
    base=${base#origin/}
  fi
  if [[ -n $base ]] && git_in rev-parse --verify --quiet "refs/remotes/origin/$base" >/dev/null; then
    printf 'ahead\t%s\n' "$(git_in rev-list --count "refs/remotes/origin/$base..HEAD" 2>/dev/null || echo 0)"
  fi
  if status=$(git_in status --porcelain 2>&1); then
    printf 'dirty\t%s\n' "$(grep -c . <<<"$status")"
  else
    printf 'error\t%s\n' "$(flat "git status failed: $status")"
  fi
  if subject=$(git_in log -1 --format=%s 2>/dev/null); then
    printf 'subject\t%s\n' "$(flat "$subject")"
  fi
  if [[ -n $branch ]] && git_in rev-parse --verify --quiet "refs/remotes/origin/$branch" >/dev/null; then
    unpushed=$(git_in rev-list --count "refs/remotes/origin/$branch..HEAD" 2>/dev/null || echo 0)
    if ((unpushed == 0)); then printf 'pushed\tyes\n'; else printf 'pushed\tno\n'; fi
    printf 'unpushed\t%s\n' "$unpushed"
  else
    printf 'pushed\tnone\n'
    printf 'unpushed\t%s\n' "$(git_in rev-list --count HEAD --not --remotes 2>/dev/null || echo 0)"
  fi
fi
printf 'end\n'
