#!/usr/bin/env bash
# Builds the libFuzzer targets (each src/<layer>/<name>_fuzz.cc becomes
# fuzz_<name>) with clang in build-asan/ (scripts/build.sh --fuzz; the same
# sanitized tree as the unit tests under ASan), then runs each for N seconds
# (default 10) over a scratch copy of its seed corpus fuzz/corpus/<name>/,
# so the repository is never modified. Prints one line per target and a
# total; exits non-zero if any target crashed, and keeps the crashing input
# in build-asan/crashes/<name>/ (replay it: build-asan/fuzz_<name> FILE).
#
#   scripts/fuzz.sh [--seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
while (($#)); do
  case $1 in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    *) echo "usage: scripts/fuzz.sh [--seconds N]" >&2; exit 2 ;;
  esac
done

dir=build-asan
scripts/build.sh --fuzz
names=()
for src in src/*/*_fuzz.cc; do
  names+=("$(basename "$src" _fuzz.cc)")
done

# UBSan prints no stack by default; the frames in our code are the point.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
for name in "${names[@]}"; do
  corpus=$work/$name/corpus
  mkdir -p "$corpus" "$work/$name/tmp" "$dir/crashes/$name"
  if [[ -d fuzz/corpus/$name ]]; then cp fuzz/corpus/"$name"/* "$corpus"/; fi
  seeds=$(find "$corpus" -type f | wc -l)
  log=$work/$name/log
  rc=0
  TMPDIR=$work/$name/tmp "$dir/fuzz_$name" -max_total_time="$seconds" -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$dir/crashes/$name/" "$corpus" >"$log" 2>&1 || rc=$?
  execs=$(awk '/^stat::number_of_executed_units:/ {print $NF}' "$log")
  grown=$(find "$corpus" -type f | wc -l)
  if (( rc == 0 )); then
    passed=$((passed + 1))
    echo "fuzz_$name: ok, ${execs:-?} execs in ${seconds}s, corpus $seeds -> $grown inputs"
  else
    failed=$((failed + 1))
    echo "fuzz_$name: FAILED (exit $rc) after ${execs:-?} execs; the gist of its report:"
    # The error, the frames in our sources, and where the input was saved.
    grep -E "ERROR|runtime error|what\(\):|SUMMARY|Test unit written| $PWD/src/" "$log" |
      grep -v NEW_FUNC | cut -c1-300 | head -n 25 | sed 's/^/    /' || true
  fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
