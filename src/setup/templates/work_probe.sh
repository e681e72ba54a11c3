#!/usr/bin/env bash
# ralph-town work probe: what a teammate's command and repository are doing. It changes nothing.
# Arguments: the workdir (relative ones are under $HOME), the base branch (empty: the remote's
# HEAD), the teammate's branch.
#
# Output, one record a line, the kind and its values separated by tabs:
#   ralph-town-work	1            first line (format version)
#   now	<seconds>              the sandbox clock
#   state	<record...>            each line of the runner's state file, as written
#   alive	<seconds>|none         seconds since the runner's last heartbeat (the time it wrote)
#   ahead	<count>                commits on HEAD that the base branch lacks
#   dirty	<count>                `git status --porcelain` lines
#   subject	<text>               the last commit's subject
#   pushed	yes|no|none          HEAD is on its upstream branch / is not / it has none
#   unpushed	<count>              commits on HEAD its upstream lacks
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
# Shell builtins where they do: a status of many teammates runs this in every sandbox at once.
printf 'now\t%(%s)T\n' -1
if [[ -r $work/state ]]; then
  while IFS= read -r line; do
    printf 'state\t%s\n' "$line"
  done <"$work/state"
fi
beat=
if [[ -r $work/alive ]]; then read -r beat <"$work/alive" || true; fi
if [[ $beat =~ ^[0-9]+$ ]]; then
  printf -v now '%(%s)T' -1
  printf 'alive\t%s\n' "$((now - beat))"
else
  printf 'alive\tnone\n'
fi

git_in() { git -c safe.directory='*' -C "$workdir" "$@"; }
if [[ -e $workdir/.git ]]; then
  # One `git status` gives the dirty files and how the branch stands against its upstream.
  if status=$(git_in status --porcelain=v2 --branch 2>&1); then
    dirty=0 upstream= ahead=
    while IFS= read -r line; do
      case $line in
        "# branch.upstream "*) upstream=${line#"# branch.upstream "} ;;
        "# branch.ab "*) ahead=${line#"# branch.ab +"}; ahead=${ahead%% *} ;;
        "#"*) ;;
        ?*) dirty=$((dirty + 1)) ;;
      esac
    done <<<"$status"
    printf 'dirty\t%s\n' "$dirty"
    if [[ -n $upstream && -n $ahead ]]; then
      if ((ahead == 0)); then printf 'pushed\tyes\n'; else printf 'pushed\tno\n'; fi
      printf 'unpushed\t%s\n' "$ahead"
    else
      printf 'pushed\tnone\n'
    fi
  else
    printf 'error\t%s\n' "$(flat "git status failed: $status")"
  fi
  if [[ -n $base ]]; then
    base_ref=refs/remotes/origin/$base
  else
    base_ref=refs/remotes/origin/HEAD
  fi
  # The subject of the last commit, then the count of commits the base lacks.
  if log=$(git_in log -1 --format=%s HEAD 2>/dev/null); then
    printf 'subject\t%s\n' "$(flat "$log")"
  fi
  if count=$(git_in rev-list --count "$base_ref..HEAD" 2>/dev/null); then
    printf 'ahead\t%s\n' "$count"
  fi
fi
printf 'end\n'
