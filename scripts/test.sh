#!/usr/bin/env bash
# Sets everything up and runs every test: C++ unit tests (plain and under
# ASan+UBSan), end-to-end tests that drive the real binary, the Python SDK's
# tests, a short run of each fuzz target, and a smoke run of each benchmark.
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh --asan

status=0
step() {
  echo
  echo "==== $*"
  if ! "$@"; then
    echo "==== FAILED: $*"
    status=1
  fi
}

step ctest --test-dir build --output-on-failure -j 2 --timeout 300
step ctest --test-dir build-asan --output-on-failure -j 2 --timeout 600
step .venv/bin/python -m pytest -q -p no:cacheprovider tests sdk/python/tests
step scripts/fuzz.sh --seconds 5
if [[ -x bench/run_all.sh ]]; then
  step bench/run_all.sh --smoke
fi
exit $status
