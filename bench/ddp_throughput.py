#!/usr/bin/env python3
"""DDP training throughput under Lattice against bare torchrun, same hosts, same run.

Makes two network-namespace hosts on a bridge (tests/netns.py; needs root),
starts a server bound to the bridge (token required) and one agent per host
(`--cpus 1`), and then alternates, --repetitions times each:

  bare     examples/ddp/train.py under torchrun on the two hosts, one node
           each, one rank per node, static rendezvous at host 1
           (bench/ddp_bare.py's bare_steps_per_second: OMP_NUM_THREADS=1,
           GLOO_SOCKET_IFNAME=eth0, no checkpoint directory, no metrics file)
  lattice  the same script with the same arguments as one gang:
           `lattice run --nodes 2 --python <same interpreter>
           --env OMP_NUM_THREADS=1 --env PYTHONWARNINGS=ignore train.py ...`
           (default per-gpu launcher: one rank per node without GPUs; the
           agents set the torchrun variables and GLOO_SOCKET_IFNAME)

Both figures are the script's own `throughput steps_per_s=X` of rank 0: from
the end of its 10th step to the end of its last, so process start-up and the
rendezvous are excluded. Under Lattice the script does what it does there:
rank 0 records loss and accuracy through the SDK every step (the agent ships
them to the server as they come) and saves a checkpoint every --ckpt-every
steps (the script's default, 50), which the agent uploads. The agents stay
up during the bare runs too, so both sides share the machine with them.
Order alternates (bare first in odd rounds, Lattice first in even ones) so
that drift in the machine's load falls on both. With two ranks on two cores
the figures follow any other load closely, so each run also reports how much
CPU other processes on the machine used meanwhile (the machine's busy time
from /proc/stat minus that of this process, the server and the agents, each
with the children they reaped: torchrun and its workers, supervisors and
ranks), and the target line says so when the machine was not quiet. Every run must end with both
ranks at the last step holding the same parameters.

Target: median steps/s under Lattice >= 0.99 x median bare.

    .venv/bin/python bench/ddp_throughput.py                  # 2000 steps, 5 rounds
    .venv/bin/python bench/ddp_throughput.py --smoke          # 30 steps, 1 round
"""

import argparse
import math
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402
import ddp_bare  # noqa: E402  (also puts tests/ on sys.path for netns)
from benchlib import BenchError, median, verdict  # noqa: E402
from gang_recovery import TERMINAL, gang_cluster, private_binary, tail, work_directory  # noqa: E402
from netns import netns_unavailable  # noqa: E402

TARGET_RATIO = 0.99
FINAL = re.compile(r"^\[rank (\d+)\] final rank=(\d+) world=(\d+) params_sha256=([0-9a-f]+) step=(\d+)$", re.M)
RATE = re.compile(r"^\[rank 0\] throughput steps_per_s=(\S+)$", re.M)


def _proc_cpu(pid, children):
    """CPU seconds of a process (all its threads), with those of the children it reaped when children."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(c):
    """(busy CPU seconds of the whole machine, of the server and agents themselves, of everything of ours).

    Ours: this process, the server and the agents, each with the children it
    reaped (torchrun and its workers for the bare side; supervisors and ranks
    for Lattice's), so between two snapshots taken with no rank running,
    busy minus ours is what other processes on the machine used.
    """
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    daemons = [c.server.pid] + [p.pid for p in c.agents.values()]
    own = sum(_proc_cpu(p, False) for p in daemons)
    t = os.times()
    ours = sum(_proc_cpu(p, True) for p in daemons) + t.user + t.system + t.children_user + t.children_system
    return busy, own, ours


def lattice_steps_per_second(c, steps, *, batch, hidden, step_sleep, timeout):
    """Runs the script as a 2-node gang through c (a GangCluster); returns (rank 0's steps/s, run name)."""
    script_args = ["--steps", steps, "--batch", batch, "--hidden", hidden, "--step-sleep", step_sleep, "--throughput"]
    run = c.submit("--nodes", "2", "--python", ddp_bare.PYTHON, "--env", "OMP_NUM_THREADS=1",
                   "--env", "PYTHONWARNINGS=ignore", str(ddp_bare.EXAMPLE), *map(str, script_args))
    deadline = time.monotonic() + timeout
    while True:
        doc = c.api(f"/runs/{run}")
        if doc["state"] in TERMINAL:
            break
        if time.monotonic() > deadline:
            c.cli("cancel", run, check=False)
            raise BenchError(f"run {run} did not end within {timeout:.0f} s")
        time.sleep(0.2)
    log = c.logs(run)
    if doc["state"] != "succeeded":
        raise BenchError(f"run {run} ended {doc['state']} ({doc['experiments'][0].get('reason')}):\n{log[-3000:]}"
                         f"\n-- server log:\n{tail(c.server_log())}")
    finals = {int(r): (int(rank), int(world), sha, int(step)) for r, rank, world, sha, step in FINAL.findall(log)}
    if sorted(finals) != [0, 1] or len({f[2] for f in finals.values()}) != 1 or \
            {f[3] for f in finals.values()} != {steps} or {f[1] for f in finals.values()} != {2}:
        raise BenchError(f"run {run}: the ranks did not both end at step {steps} with the same parameters: "
                         f"{finals}\n{log[-2000:]}")
    rates = RATE.findall(log)
    if not rates or not math.isfinite(float(rates[-1])):
        raise BenchError(f"run {run}: no throughput line from rank 0:\n{log[-2000:]}")
    return float(rates[-1]), run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)
    ap.add_argument("--steps", type=int, default=2000, help="steps per run (default 2000; --smoke: 30)")
    ap.add_argument("--repetitions", type=int, default=5, help="rounds of one run each (default 5; --smoke: 1)")
    ap.add_argument("--batch", type=int, default=32, help="samples per rank per step (default 32)")
    ap.add_argument("--hidden", type=int, default=64, help="hidden units (default 64)")
    ap.add_argument("--step-sleep", type=float, default=0.0, help="seconds of sleep per step (default 0)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds allowed for one run (default 300)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    if a.smoke:
        a.steps, a.repetitions = 30, 1
    if a.repetitions < 1 or a.steps <= 10:
        raise BenchError("--repetitions must be at least 1 and --steps more than 10")

    print(benchlib.machine_line())
    reason = netns_unavailable()
    if reason:  # nothing measured: fine for a smoke test, an error for a measurement
        if not a.smoke:
            raise BenchError(f"needs network namespaces: {reason}")
        print(f"ddp_throughput: skipped: needs network namespaces: {reason}")
        return 0
    bare, lat, cpu_lat, cpu_bare, other_lat, other_bare = [], [], [], [], [], []
    with work_directory(a.home, "ddp_throughput") as work:
        binary = private_binary(a.lattice, work)
        print(f"examples/ddp/train.py --steps {a.steps} --batch {a.batch} --hidden {a.hidden} "
              f"--step-sleep {a.step_sleep} --throughput: 2 namespace hosts x 1 rank, gloo over eth0, "
              f"interpreter {ddp_bare.PYTHON}", flush=True)
        with gang_cluster(2, binary, work / "cluster") as c:
            for i in range(a.repetitions):
                order = ("bare", "lattice") if i % 2 == 0 else ("lattice", "bare")
                got, cpu, other = {}, {}, {}
                for side in order:
                    busy0, own0, ours0 = cpu_snapshot(c)
                    t0 = time.monotonic()
                    if side == "bare":
                        got[side] = ddp_bare.bare_steps_per_second(a.steps, batch=a.batch, hidden=a.hidden,
                                                                   step_sleep=a.step_sleep, cluster=c.net,
                                                                   timeout=a.timeout)
                    else:
                        got[side], _ = lattice_steps_per_second(c, a.steps, batch=a.batch, hidden=a.hidden,
                                                                step_sleep=a.step_sleep, timeout=a.timeout)
                    busy1, own1, ours1 = cpu_snapshot(c)
                    wall = time.monotonic() - t0
                    cpu[side] = (own1 - own0) / wall
                    other[side] = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall
                bare.append(got["bare"])
                lat.append(got["lattice"])
                cpu_lat.append(cpu["lattice"])
                cpu_bare.append(cpu["bare"])
                other_lat.append(other["lattice"])
                other_bare.append(other["bare"])
                print(f"round {i + 1}/{a.repetitions} ({' then '.join(order)}): bare torchrun "
                      f"{got['bare']:.2f} steps/s, lattice {got['lattice']:.2f} steps/s "
                      f"({got['lattice'] / got['bare']:.3f}x); server + agents used {cpu['lattice']:.1%} of a "
                      f"core during the Lattice run, {cpu['bare']:.1%} during the bare one; other processes "
                      f"{other['bare']:.2f} / {other['lattice']:.2f} cores (bare / lattice)", flush=True)

    if not benchlib.finite_positive(*bare, *lat):
        raise BenchError(f"the figures are not positive finite numbers: bare {bare}, lattice {lat}")
    mb, ml = median(bare), median(lat)
    ratio = ml / mb
    pair = median([x / y for x, y in zip(lat, bare)])
    print(f"DDP throughput, 2 nodes x 1 rank, {a.steps} steps, {a.repetitions} round{'s' * (a.repetitions != 1)} "
          f"(steps/s)        median      min      max")
    print(f"  bare torchrun (bench/ddp_bare.py)             {mb:9.2f} {min(bare):8.2f} {max(bare):8.2f}")
    print(f"  lattice run --nodes 2                         {ml:9.2f} {min(lat):8.2f} {max(lat):8.2f}")
    print(f"  ratio lattice / bare: {ratio:.3f} (of the medians); median of the rounds' ratios {pair:.3f}")
    print(f"  server + agents, share of one core (median): {median(cpu_lat):.1%} during the Lattice runs "
          f"(submit to end), {median(cpu_bare):.1%} during the bare ones (idle)")
    print(f"  other processes on this machine meanwhile (median, cores of {os.cpu_count()}): "
          f"{median(other_bare):.2f} during the bare runs, {median(other_lat):.2f} during the Lattice runs")
    busy = max(median(other_bare), median(other_lat))
    caveat = f" (not a quiet machine: other processes used {busy:.2f} cores meanwhile)" if busy > 0.1 else ""
    return benchlib.report_targets(
        [f"DDP steps/s under Lattice / bare torchrun >= {TARGET_RATIO}: {ratio:.3f} "
         f"({ml:.2f} vs {mb:.2f}) {verdict(ratio, '>=', TARGET_RATIO)}{caveat}"], a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
