#!/usr/bin/env python3
"""`lattice estimate` as a whole cold process: the estimator and the instance
catalog are pure, so an answer should take no longer than starting a program.

Times `lattice estimate --params 7e9 --precision bf16 --gpus 8` (text) and
the same with `--json`, each a fresh process (spawn to exit, output read),
N = 50 each (--smoke: 5), interleaved with a peer in the same run: `python3
-S -c` computing the same ZeRO formulas and printing them (no site packages:
the floor of a script-based estimator, with no catalog or fits at all). The
JSON answer is checked against the peer's figures. Target: median and p95
<= 50 ms for both forms. No server is started; nothing is written.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import benchlib
from benchlib import REPO, BenchError, median, percentile, verdict

TARGET_MS = 50.0
ARGS = ["estimate", "--params", "7e9", "--precision", "bf16", "--gpus", "8"]
PEER = r"""
p = 7e9; n = 8; w = 2; g = 2; k = 12
stages = {"none": (w + g + k) * p, "ZeRO-1": (w + g) * p + k * p / n,
          "ZeRO-2": w * p + (g + k) * p / n, "ZeRO-3/FSDP": (w + g + k) * p / n}
for name, total in stages.items():
    print(name, round(total))
print("checkpoint", round(w * p), round((w + k) * p))
"""


def sample(argv, env):
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    dt = (time.perf_counter() - t0) * 1000.0
    if r.returncode != 0:
        raise BenchError(f"{' '.join(argv[:3])} ... exited {r.returncode}: {r.stderr.decode()[:300]}")
    return dt, r.stdout


def check_agreement(ours_json, peer_text):
    doc = json.loads(ours_json)
    ours = {row["sharding"]: row["total_bytes"] for row in doc["per_gpu"]}
    peer = {}
    for line in peer_text.decode().splitlines():
        name, *values = line.split()
        peer[name] = [int(v) for v in values]
    for name, (total,) in ((k, v) for k, v in peer.items() if k != "checkpoint"):
        if ours.get(name) != total:
            raise BenchError(f"{name}: lattice says {ours.get(name)} bytes per GPU, the peer {total}")
    if [doc["checkpoint"]["weights_only_bytes"], doc["checkpoint"]["with_optimizer_bytes"]] != peer["checkpoint"]:
        raise BenchError(f"checkpoint: lattice {doc['checkpoint']}, peer {peer['checkpoint']}")
    if not doc["instances"]:
        raise BenchError("lattice listed no instance type for a 7B training on 8 GPUs")


def line(label, values):
    return f"  {label:<44} median {median(values):6.2f} ms   p95 {percentile(values, 95):6.2f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="5 samples of each: checks that the benchmark runs")
    ap.add_argument("--strict", action="store_true", help="exit with status 3 when a target is missed")
    ap.add_argument("--lattice", default=os.environ.get("LATTICE_BIN", str(REPO / "build" / "lattice")),
                    help="the lattice binary (default: $LATTICE_BIN, else build/lattice)")
    ap.add_argument("--home", default=None, help="accepted for run_all.sh; unused (no server, nothing written)")
    ap.add_argument("-n", type=int, default=None, help="samples of each form (default 50; --smoke: 5)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    n = a.n or (5 if a.smoke else 50)
    if not os.access(a.lattice, os.X_OK):
        raise BenchError(f"{a.lattice} is missing; build the lattice target")
    # The built-in catalog, and no server: as a user's first command would run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATTICE_")}
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    ours_text, ours_json, peer = [], [], []
    _, first_json = sample([a.lattice, *ARGS, "--json"], env)  # also warms the page cache, as "cold" means here
    _, first_peer = sample([python, "-S", "-c", PEER], env)
    check_agreement(first_json, first_peer)
    for _ in range(n):
        ours_text.append(sample([a.lattice, *ARGS], env)[0])
        ours_json.append(sample([a.lattice, *ARGS, "--json"], env)[0])
        peer.append(sample([python, "-S", "-c", PEER], env)[0])
    print(benchlib.machine_line())
    print(f"lattice estimate {' '.join(ARGS[1:])}: {n} fresh processes each, interleaved")
    print(line("ours, text (breakdown + fitting instances)", ours_text))
    print(line("ours, --json", ours_json))
    print(line("peer: python3 -S -c (formulas only)", peer))
    ratio = median(ours_text) / median(peer)
    print(f"  ratio, ours text / peer (medians): {ratio:.2f}x")
    targets = []
    for label, values in (("text", ours_text), ("json", ours_json)):
        for stat, value in (("median", median(values)), ("p95", percentile(values, 95))):
            targets.append(f"{label} {stat} <= {TARGET_MS:.0f} ms: {value:.1f} {verdict(value, '<=', TARGET_MS)}")
    return benchlib.report_targets(targets, a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
