# Runs one exec'd command, reports its exit code on fd 3 the moment it ends, then keeps the
# command's place while what it started in the background lives, as a container keeps running
# a server that `cmd &` left behind.
#
# $1 is what the background is: `namespace` (every other process in this pid namespace, under
# bubblewrap, whose namespace ends with this script) or `group` (every other process in this
# script's process group, without it). $2 is the command.
scope=$1
/bin/sh -c "$2" 3>&-
code=$?
printf '%s\n' "$code" >&3
# The output pipe closes once the background lets go of it too; the caller stops reading then.
exec 3>&- >/dev/null 2>&1 </dev/null
me=$$
while :; do
  others=
  for stat in /proc/[0-9]*/stat; do
    pid=${stat#/proc/}
    pid=${pid%/stat}
    [ "$pid" = "$me" ] && continue
    if [ "$scope" = namespace ]; then
      # Pid 1 is bubblewrap's init, which ends the namespace when this script ends.
      [ "$pid" = 1 ] && continue
      others=1
      break
    fi
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
