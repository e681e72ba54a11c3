# Runs one exec'd command and reports its exit code on fd 3 the moment it ends. What the command
# started in the background lives on, as a container keeps running a server that `cmd &` left
# behind.
#
# $1 is what holds that background: `sandbox` (the sandbox's init, under bubblewrap: this script
# ends at once) or `group` (this script, which waits for every other process of its process
# group, without bubblewrap). $2 is the command.
exec 5<&-
scope=$1
/bin/sh -c "$2" 3>&-
code=$?
printf '%s\n' "$code" >&3
[ "$scope" = sandbox ] && exit "$code"
# The output pipe closes once the background lets go of it too; the caller stops reading then.
exec 3>&- >/dev/null 2>&1 </dev/null
me=$$
while :; do
  others=
  for stat in /proc/[0-9]*/stat; do
    pid=${stat#/proc/}
    pid=${pid%/stat}
    [ "$pid" = "$me" ] && continue
    line=
    read -r line <"$stat" 2>/dev/null || [ -n "$line" ] || continue
    # Fields after the command name (which may hold spaces): state, ppid, pgid, ...
    set -- ${line##*) }
    if [ "${3-}" = "$me" ]; then
      others=1
      break
    fi
  done
  [ -n "$others" ] || exit "$code"
  sleep 1
done
