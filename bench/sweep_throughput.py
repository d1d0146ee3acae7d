#!/usr/bin/env python3
"""Sweep throughput end to end, and sweep expansion.

1. A 1,000-experiment sweep (`--i "range(1000)"`, `--cpus 0.1`) of a script
   that exits at once, on the local server and agent: the time `lattice run`
   takes to return, and the rate at which the sweep completes, from invoking
   `lattice run` until every experiment has succeeded. The peer, in the same
   run: a plain bash loop starting the same number of processes with the
   same parallelism (`xargs -P`, as many as the agent's CPUs / 0.1).
   Targets: submit <= 1 s, >= 50 experiments/s.
2. `lattice run --dry-run --json` of a 1,000,000-point grid (4 dimensions),
   output discarded. Target: <= 1 s.
Standard library only.
"""

import argparse
import os
import subprocess
import time

import benchlib
from benchlib import BenchError, Lattice, verdict


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)
    ap.add_argument("--experiments", type=int, default=1000, help="sweep size (default 1000; --smoke: 40)")
    ap.add_argument("--cpus", type=float, default=0.1, help="CPUs per experiment (default 0.1)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    n = 40 if a.smoke and a.experiments == 1000 else a.experiments
    print(benchlib.machine_line())
    with Lattice(a.lattice, a.home) as lat:
        lat.start()
        script = lat.write_script("quick.sh", "exit 0\n")
        nodes = lat.cli("nodes", "--json").stdout
        import json
        node_cpus = max(nd["cpus"] for nd in json.loads(nodes)["nodes"])
        parallel = max(1, int(node_cpus / a.cpus + 1e-9))
        warm = lat.submit(script, "--cpus", str(a.cpus), "--i", "range(5)")
        lat.wait_terminal(warm, timeout=120)

        started = time.monotonic()
        name = lat.submit(script, "--cpus", str(a.cpus), "--i", f"range({n})")
        submitted = time.monotonic() - started
        doc = lat.wait_terminal(name, timeout=600)
        elapsed = time.monotonic() - started
        states = [e["state"] for e in doc["experiments"]]
        if len(states) != n or any(s != "succeeded" for s in states):
            raise BenchError(f"expected {n} succeeded experiments, got {len(states)}: "
                             f"{ {s: states.count(s) for s in set(states)} }")
        rate = n / elapsed

        t0 = time.monotonic()
        subprocess.run(f"seq {n} | xargs -P {parallel} -n 1 bash {script}", shell=True, check=True)
        bash_elapsed = time.monotonic() - t0
        bash_rate = n / bash_elapsed

        grid = ["--a", "range(10)", "--b", "range(10)", "--c", "range(100)", "--d", "range(100)"]
        if a.smoke:
            grid = ["--a", "range(10)", "--b", "range(10)", "--c", "range(100)"]
        points = 1
        for i in range(1, len(grid), 2):
            points *= int(grid[i][6:-1])
        t0 = time.monotonic()
        with open(os.devnull, "w") as sink:
            r = subprocess.run(lat.cmd("run", "--dry-run", "--json", "--max-experiments", str(points), str(script),
                                       *grid), env=lat.env, stdout=sink, stderr=subprocess.PIPE, text=True)
        dry = time.monotonic() - t0
        if r.returncode != 0:
            raise BenchError(f"dry run exited {r.returncode}: {r.stderr[:300]}")

    print(f"sweep of {n} experiments of a script that exits at once, --cpus {a.cpus} ({parallel} at once)")
    print(f"  `lattice run` returned after               {submitted * 1000:8.1f} ms")
    print(f"  sweep complete after                       {elapsed:8.2f} s   {rate:8.1f} experiments/s")
    print(f"  peer: bash loop, xargs -P {parallel:<3}             {bash_elapsed:8.2f} s   {bash_rate:8.1f} processes/s")
    print(f"  ratio, lattice / bash loop: {rate / bash_rate:.2f}x")
    print(f"dry run of a {points:,}-point grid, --json to /dev/null: {dry * 1000:.0f} ms")
    print("target: " + "; ".join([
        f"submit <= 1 s: {submitted:.3f} s {verdict(submitted, '<=', 1.0)}",
        f">= 50 experiments/s: {rate:.1f} {verdict(rate, '>=', 50.0)}",
        f"1,000,000-point dry run <= 1 s: {dry:.2f} s {verdict(dry, '<=', 1.0)}"]))
    return 0


if __name__ == "__main__":
    benchlib.main_wrapper(main)
