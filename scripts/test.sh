#!/usr/bin/env bash
# Sets everything up and runs every test: C++ unit tests (plain and under
# ASan+UBSan), the web UI's unit tests (Vitest), end-to-end tests that drive
# the real binary (the UI's in Chromium among them), the Python SDK's tests,
# a short run of each fuzz target, and a smoke run of each benchmark.
# Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh --asan
scripts/build-web.sh

status=0
step() {
  echo
  echo "==== $(date -u +%T) $*"
  if ! "$@"; then
    echo "==== FAILED: $*"
    status=1
  fi
}

step ctest --test-dir build --output-on-failure -j 2 --timeout 300
step ctest --test-dir build-asan --output-on-failure -j 2 --timeout 600
step env NO_COLOR=1 npm --prefix web test --silent
# Two files at a time (a file's tests stay together: some share a module
# fixture, like the network-namespace hosts of test_multinode_e2e.py).
step .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile tests sdk/python/tests
step scripts/fuzz.sh --seconds 5
if [[ -x bench/run_all.sh ]]; then
  step bench/run_all.sh --smoke
fi
echo "==== $(date -u +%T) done ($((SECONDS / 60)) min $((SECONDS % 60)) s), status $status"
exit $status
