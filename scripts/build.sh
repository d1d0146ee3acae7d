#!/usr/bin/env bash
# Builds lattice (build/) and, with --asan, the sanitized tree build-asan/:
# the unit tests and the libFuzzer targets, built once with clang under
# ASan+UBSan and coverage instrumentation (one tree serves both, which saves
# a whole compile of the library in the test command). --fuzz builds only
# the sanitized tree's fuzz targets (scripts/fuzz.sh). Parallelism follows
# free memory: a Beast translation unit takes ~0.5 GB to compile.
#
#   scripts/build.sh [--asan | --fuzz]
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
case $mode in
  ""|--asan|--fuzz) ;;
  *) echo "usage: scripts/build.sh [--asan | --fuzz]" >&2; exit 2 ;;
esac

jobs=$(nproc)
free_gb=$(awk '/MemAvailable/ {print int($2 / 1048576)}' /proc/meminfo)
if (( free_gb < jobs )); then jobs=$(( free_gb > 0 ? free_gb : 1 )); fi

# build DIR [TARGET...] -- [CMAKE OPTION...]
build() {
  local dir=$1; shift
  local targets=()
  while (($#)) && [[ $1 != -- ]]; do targets+=(--target "$1"); shift; done
  (($#)) && shift
  if [[ ! -f $dir/build.ninja ]]; then
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  fi
  cmake --build "$dir" -j "$jobs" "${targets[@]}"
}

if [[ $mode != --fuzz ]]; then
  build build
fi
if [[ -n $mode ]]; then
  # A sanitized tree from before it also held the fuzz targets (configured
  # with gcc) is configured again from scratch.
  if [[ -f build-asan/CMakeCache.txt ]] && ! grep -q '^LATTICE_FUZZ:BOOL=ON' build-asan/CMakeCache.txt; then
    rm -rf build-asan
  fi
  targets=()
  for src in src/*/*_fuzz.cc; do targets+=("fuzz_$(basename "$src" _fuzz.cc)"); done
  if [[ $mode == --asan ]]; then
    # Only the unit tests and fuzzers are built there: the binary and the
    # benchmark tools are not (a Beast translation unit is costly).
    mapfile -t -O "${#targets[@]}" targets < <(ls src/*/*_test.cpp | cut -d/ -f2 | sort -u | sed 's/.*/lattice_&_tests/')
  fi
  CC=clang-14 CXX=clang++-14 build build-asan "${targets[@]}" -- -DLATTICE_SANITIZE=ON -DLATTICE_FUZZ=ON
fi
