# Sourced by the trial scripts (run from the repository root): picks the binary to test
# (`RALPH_TOWN_BIN`, or a fresh debug build) and makes `origin`, a local repository with one
# commit on `main`, under `$work`.
if [[ -z ${RALPH_TOWN_BIN:-} ]]; then
  cargo build --quiet
  bin=$PWD/target/debug/ralph-town
else
  bin=$RALPH_TOWN_BIN
fi

git_quiet() { git -c user.name=trials -c user.email=trials@example.com "$@" >/dev/null; }
origin=$work/origin
git_quiet init -q -b main "$origin"
echo trials >"$origin/README.md"
git_quiet -C "$origin" add README.md
git_quiet -C "$origin" commit -q -m first
