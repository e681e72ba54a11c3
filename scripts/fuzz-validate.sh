#!/usr/bin/env bash
# Measures how `ralph-town validate` answers mutated team files: exit codes (101 is a panic),
# runs over 5 s, the largest stderr, the most write() calls for one run, the most memory.
#
#   scripts/fuzz-validate.sh [BINARY] [CASES] [SEED]
#
# BINARY defaults to target/debug/ralph-town, CASES to 3000, SEED to 1. The files are a good team
# file mutated 1 to 3 times each (troublesome fragments, long runs, repeated lines, deletions,
# long strange values, swapped lines), plus the files that once broke `validate`: a 70,000-column
# line, 500 problems, 50,000 duplicate teammates (written out, and compactly within the size
# limit), 12 MB. Each run has $TIMEOUT s (default 130)
# before it counts as a hang (exit 124). Needs python3 and GNU time; strace (optional) counts
# write() calls. Not part of CI: the regression test `tests/team_bounds.rs` runs a few hundred
# such cases on every build.
set -euo pipefail
binary=$(realpath "${1:-target/debug/ralph-town}")
cases=${2:-3000}
timeout=${TIMEOUT:-130}
seed=${3:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" "$cases" "$seed" <<'PY'
import os, random, sys

work, cases, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
base = '''name = "fuzz-${PR_NUMBER:-local}"
provider = "local"

[defaults]
repo = "."
base_branch = "main"
env = ["LOG_LEVEL=debug", "CI"]
secrets = ["GH_TOKEN"]
git = { user_name = "Ralph Bot", user_email = "ralph@example.com" }
auto_stop = "30m"
ttl = "4h"

[[teammate]]
name = "alice"
branch = "feature/login"

[[teammate]]
name = "bob"
branch = "feature/signup"
env = ["FEATURE_FLAG=signup"]
workdir = "src/app"
'''
fragments = ['"', "'", "$", "${", "}", "[", "]]", "=", "\n", "\0", "é", "'''", ",", "#", "\\",
             "\t", "\r", "\u202e", "\u200b", "[[teammate]]\n", 'name = "a"\n', 'branch = "b"\n',
             "ext::sh -c x", "fd::3", "..", "~", "${A:-${B:-${C:-x}}}", "[defaults]\n"]

def mutate(text):
    kind = rng.randrange(6)
    at = rng.randrange(len(text) + 1)
    if kind == 0:
        return text[:at] + rng.choice(fragments) + text[at:]
    if kind == 1:
        return text[:at] + text[at + rng.randrange(20):]
    if kind == 2:
        lines = text.split("\n")
        line = rng.choice(lines)
        return text.replace(line, (line + "\n") * rng.randrange(1, 2000), 1)
    if kind == 3:
        return text[:at] + rng.choice(["x", "é", "\t", " ", "$"]) * rng.randrange(1000, 100000) + text[at:]
    if kind == 4:
        quotes = [i for i in range(len(text)) if text.startswith('= "', i)]
        if not quotes:
            return text
        start = rng.choice(quotes) + 3
        end = text.find('"', start)
        junk = "".join(rng.choice("a-/. \u202eZ_") for _ in range(rng.randrange(1, 80000)))
        return text[:start] + junk + text[end if end >= 0 else start:]
    lines = text.split("\n")
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return "\n".join(lines)

def write(name, text):
    with open(os.path.join(work, name), "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write(text)

for case in range(cases):
    text = base
    for _ in range(rng.randrange(1, 4)):
        text = mutate(text)
    write(f"case-{case:05}.toml", text)

x = "x" * 70000
write("special-wide.toml", f'name = "t"\n[[teammate]]\nname = "a"\nbranch = "b"\nrepo = "."\ngit = {{ user_name = "{x}", bogus = 1 }}\n')
write("special-500-problems.toml", 'name = "t"\n[defaults]\nrepo = "."\n' + "".join(
    f'[[teammate]]\nname = "Bad{i}"\nbranch = "b{i}"\n' for i in range(500)))
write("special-50000-duplicates.toml", 'name = "t"\n[defaults]\nrepo = "."\n' +
      '[[teammate]]\nname = "a"\nbranch = "b"\n' * 50000)
# The same within the size limit, written compactly.
write("special-50000-duplicates-inline.toml", 'name = "t"\nteammate = [' +
      '{ name = "a" },' * 50000 + ']\n[defaults]\nrepo = "."\n')
write("special-12mb.toml", 'name = "t"\n' + '[[teammate]]\nname = "a"\nbranch = "b"\nrepo = "."\n' * 260000)
PY

echo "binary: $binary"
echo "cases: $cases mutated (seed $seed) + 5 special"
results="$work/results"
: > "$results"
for file in "$work"/*.toml; do
  name=$(basename "$file")
  code=0
  (cd "$work" && GH_TOKEN=x /usr/bin/time -f "%e %M" -o "$work/time" \
    timeout "$timeout" "$binary" validate "$file" > /dev/null 2> "$work/stderr") || code=$?
  read -r seconds kilobytes < <(tail -n 1 "$work/time")
  bytes=$(wc -c < "$work/stderr")
  echo "$name $code $seconds $kilobytes $bytes" >> "$results"
done

echo
echo "exit codes (count code):"
awk '{ print $2 }' "$results" | sort | uniq -c | sed 's/^/  /'
awk '
  { if ($3 > 5) slow++; if ($3 > max_s) { max_s = $3; slowest = $1 }
    if ($4 > max_k) { max_k = $4; biggest = $1 }
    if ($5 > max_b) { max_b = $5; loudest = $1 } }
  END {
    printf "panics (exit 101): %d\n", panics
    printf "runs over 5 s: %d (slowest %.2f s: %s)\n", slow, max_s, slowest
    printf "largest stderr: %d bytes (%s)\n", max_b, loudest
    printf "most memory: %.1f MB (%s)\n", max_k / 1024, biggest
  }
  $2 == 101 { panics++ }
' "$results"
echo
echo "special cases (exit, seconds, MB, stderr bytes):"
grep '^special-' "$results" | awk '{ printf "  %-32s %4s %8s s %8.1f MB %10d B\n", $1, $2, $3, $4 / 1024, $5 }'

if command -v strace > /dev/null; then
  echo
  echo "write() calls (strace):"
  for file in "$work"/special-*.toml "$(ls "$work"/case-*.toml | head -n 1)"; do
    calls=$( (cd "$work" && GH_TOKEN=x timeout "$timeout" strace -f -c -e trace=write -o "$work/strace" \
      "$binary" validate "$file" > /dev/null 2>&1) || true
      awk '$NF == "write" { print $4 }' "$work/strace")
    printf "  %-32s %s\n" "$(basename "$file")" "${calls:-0}"
  done
fi
