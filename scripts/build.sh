#!/usr/bin/env bash
# Builds lattice (build/) and, with --asan, the same under ASan+UBSan
# (build-asan/). Parallelism follows free memory: a Beast translation unit
# takes ~0.5 GB to compile.
set -euo pipefail
cd "$(dirname "$0")/.."

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

build build
if [[ ${1:-} == --asan ]]; then
  # Only the unit tests run under the sanitizers: the binary and the
  # benchmark tools are not built there (a Beast translation unit is costly).
  mapfile -t tests < <(ls src/*/*_test.cpp | cut -d/ -f2 | sort -u | sed 's/.*/lattice_&_tests/')
  build build-asan "${tests[@]}" -- -DLATTICE_SANITIZE=ON
fi
