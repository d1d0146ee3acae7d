#!/usr/bin/env bash
# Runs every benchmark and prints its figures, each beside its peer, then a
# summary of the targets. With --smoke: tiny sizes, a few seconds each, to
# check that the benchmarks still run and yield numbers (targets not judged).
#
#   bench/run_all.sh [--smoke]
#
# Uses a fresh temporary LATTICE_HOME, and stops the server under it and
# removes it at the end, also on failure or interruption. Needs build/lattice
# and build/bench/{bare_beast_server,sched_bench,tfevents_bench,
# metrics_store_bench,env_build_bench} (scripts/build.sh), .venv
# (scripts/install-deps.sh: torch, scikit-learn, tensorboard, mlflow-skinny,
# numpy, uv), the test wheels (scripts/install-deps.sh) and wrk.
# LATTICE_BIN, BARE_BEAST_SERVER, SCHED_BENCH, TFEVENTS_BENCH,
# METRICS_STORE_BENCH, ENV_BUILD_BENCH and PYTHON override the paths.
# gang_recovery and ddp_throughput need root and iproute2 (network
# namespaces), slurm also Slurm and munge (slurm-wlm); without them --smoke
# prints why and skips them, and a full run lists them as failed to measure.
# web_ui needs Chromium and node (scripts/install-deps.sh) and web/dist
# (scripts/build-web.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=()
case "${1:-}" in
  "") ;;
  --smoke) mode=(--smoke) ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

LATTICE_BIN=$(realpath -m "${LATTICE_BIN:-build/lattice}")
BARE_BEAST_SERVER=$(realpath -m "${BARE_BEAST_SERVER:-build/bench/bare_beast_server}")
PYTHON=${PYTHON:-.venv/bin/python}
export LATTICE_BIN BARE_BEAST_SERVER
for f in "$LATTICE_BIN" "$BARE_BEAST_SERVER"; do
  [[ -x $f ]] || { echo "run_all: $f is missing; build with scripts/build.sh" >&2; exit 1; }
done
[[ -x $PYTHON ]] || { echo "run_all: $PYTHON is missing; run scripts/install-deps.sh" >&2; exit 1; }

root=$(mktemp -d "${TMPDIR:-/tmp}/lattice-bench-all.XXXXXX")
export LATTICE_HOME=$root/home
unset LATTICE_SERVER LATTICE_TOKEN LATTICE_PYTHON
child=""
cleanup() {
  if [[ -n $child ]]; then
    kill -TERM "$child" 2>/dev/null || true  # the benchmark stops its server and cleans up
    wait "$child" 2>/dev/null || true
  fi
  "$LATTICE_BIN" server stop >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Private copies, so that a rebuild during the run changes nothing under it.
mkdir "$root/bin"
cp "$LATTICE_BIN" "$root/bin/lattice"
cp "$BARE_BEAST_SERVER" "$root/bin/bare_beast_server"
LATTICE_BIN=$root/bin/lattice
BARE_BEAST_SERVER=$root/bin/bare_beast_server

echo "lattice benchmarks${mode:+ (smoke)}: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs," \
     "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
failed=()
for bench in submit_latency log_throughput api_throughput sweep_throughput metrics_ingest sdk_overhead \
             snapshot_dedup gang_recovery ddp_throughput slurm web_ui estimate_cold; do
  echo
  echo "== $bench =="
  out=$root/$bench.out
  : > "$out"
  # In the background, so that a signal reaches the trap at once (bash runs
  # traps only between foreground commands); tail shows the output live.
  "$PYTHON" "bench/$bench.py" "${mode[@]}" --home "$LATTICE_HOME" > "$out" 2>&1 &
  child=$!
  tail -n +1 -s 0.1 -f --pid="$child" "$out" &
  viewer=$!
  if wait "$child"; then status=0; else status=$?; fi
  child=""
  wait "$viewer" || true
  ((status == 0)) || failed+=("$bench")
done

# Event-file and JSON-lines readers against TensorBoard's (no server).
echo
echo "== tfevents_read =="
if "$PYTHON" bench/tfevents_read.py "${mode[@]}" 2>&1 | tee "$root/tfevents_read.out"; then :; else failed+=("tfevents_read"); fi

# Building a run's Python environment: Lattice's builder against uv by hand
# (C++ tool + uv, local wheels, no server).
ENV_BUILD_BENCH=$(realpath -m "${ENV_BUILD_BENCH:-build/bench/env_build_bench}")
export ENV_BUILD_BENCH
echo
echo "== env_build =="
if "$PYTHON" bench/env_build.py "${mode[@]}" 2>&1 | tee "$root/env_build.out"; then :; else failed+=("env_build"); fi

# The pure scheduler on a simulated cluster (C++, no server).
SCHED_BENCH=$(realpath -m "${SCHED_BENCH:-build/bench/sched_bench}")
echo
echo "== sched_bench =="
if "$SCHED_BENCH" "${mode[@]}" | tee "$root/sched_bench.out"; then :; else failed+=("sched_bench"); fi

# The metrics store in-process: append with fsync, downsampled reads, decoding
# (C++, no server; JSON lines, no targets line).
METRICS_STORE_BENCH=$(realpath -m "${METRICS_STORE_BENCH:-build/bench/metrics_store_bench}")
echo
echo "== metrics_store_bench =="
if "$METRICS_STORE_BENCH" "${mode[@]}" --dir "$root" | tee "$root/metrics_store_bench.out" &&
   grep -q '"bench":"read"' "$root/metrics_store_bench.out"; then :; else failed+=("metrics_store_bench"); fi

echo
echo "== summary =="
for bench in submit_latency log_throughput api_throughput sweep_throughput metrics_ingest sdk_overhead \
             snapshot_dedup gang_recovery ddp_throughput slurm web_ui estimate_cold tfevents_read env_build \
             sched_bench; do
  grep -h '^target:' "$root/$bench.out" 2>/dev/null | sed "s/^target:/$bench:/" || true
done
if ((${#failed[@]})); then
  echo "run_all: failed to measure: ${failed[*]}" >&2
  exit 1
fi
