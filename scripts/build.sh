#!/usr/bin/env bash
# Builds lattice (build/) and, with --asan, the same under ASan+UBSan
# (build-asan/). Parallelism follows free memory: a Beast translation unit
# takes ~0.5 GB to compile.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
free_gb=$(awk '/MemAvailable/ {print int($2 / 1048576)}' /proc/meminfo)
if (( free_gb < jobs )); then jobs=$(( free_gb > 0 ? free_gb : 1 )); fi

build() {
  local dir=$1; shift
  if [[ ! -f $dir/build.ninja ]]; then
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  fi
  cmake --build "$dir" -j "$jobs"
}

build build
if [[ ${1:-} == --asan ]]; then
  build build-asan -DLATTICE_SANITIZE=ON
fi
