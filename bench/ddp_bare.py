#!/usr/bin/env python3
"""Bare-torchrun baseline for multi-node DDP: what examples/ddp/train.py does without Lattice.

Makes two network-namespace hosts on a bridge (tests/netns.py; needs root),
runs examples/ddp/train.py on them under torchrun (one node per host, one rank
per node, gloo over the hosts' eth0, static rendezvous at host 1) for a fixed
number of steps, and reports the steps per second the script measures itself
(`throughput steps_per_s=X` of rank 0: from the end of its 10th step to the end
of its last, so interpreter, torch and rendezvous start-up are excluded). No
checkpoints, no metrics file: the bare loop.

    .venv/bin/python bench/ddp_bare.py                   # 500 steps, median of 3
    .venv/bin/python bench/ddp_bare.py --steps 2000 --repetitions 5 --step-sleep 0.001
    .venv/bin/python bench/ddp_bare.py --smoke           # 30 steps, once: does it run?

From another benchmark (to compare Lattice with it in the same run, on the same
load):

    sys.path.insert(0, "bench"); import ddp_bare
    baseline = ddp_bare.bare_steps_per_second(steps=500)            # float, steps/s
    with NetnsCluster(2) as cluster: ddp_bare.bare_steps_per_second(500, cluster=cluster)

Prints one line per repetition and `bare_ddp steps_per_s=X` (the median) last.
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402
from benchlib import BenchError  # noqa: E402
from netns import NetnsCluster, netns_unavailable, torchrun_argv  # noqa: E402

EXAMPLE = REPO / "examples" / "ddp" / "train.py"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
MASTER_PORT = 29500  # in a namespace of its own: nothing else listens there


def bare_steps_per_second(steps: int = 500, *, batch: int = 32, hidden: int = 64, step_sleep: float = 0.0,
                          cluster: "NetnsCluster | None" = None, python: str = PYTHON,
                          timeout: float = 600.0) -> float:
    """Runs examples/ddp/train.py for `steps` steps under torchrun on the hosts of cluster
    (one node each; a fresh 2-host NetnsCluster when None) and returns rank 0's
    steps per second. Raises BenchError when the run fails or the ranks disagree.
    """
    if steps <= 10:
        raise ValueError("steps must be more than 10: the first 10 are start-up")
    if cluster is None:
        reason = netns_unavailable()
        if reason:
            raise BenchError(f"needs network namespaces: {reason}")
        with NetnsCluster(2) as fresh:
            return bare_steps_per_second(steps, batch=batch, hidden=hidden, step_sleep=step_sleep, cluster=fresh,
                                         python=python, timeout=timeout)

    env = {k: v for k, v in os.environ.items() if not k.startswith("LATTICE_")}
    env.update(PYTHONPATH=str(REPO / "sdk" / "python"), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    args = ["--steps", steps, "--batch", batch, "--hidden", hidden, "--step-sleep", step_sleep, "--throughput"]
    with tempfile.TemporaryDirectory(prefix="ddp-bare-") as tmp:
        procs = []
        for node_rank, host in enumerate(cluster.hosts):
            argv = torchrun_argv(python, str(EXAMPLE), args, nnodes=len(cluster.hosts), node_rank=node_rank,
                                 master_addr=cluster.hosts[0].address, master_port=MASTER_PORT,
                                 log_dir=os.path.join(tmp, f"torchrun{node_rank}"))
            with open(os.path.join(tmp, f"out{node_rank}"), "w") as out, \
                    open(os.path.join(tmp, f"err{node_rank}"), "w") as err:
                procs.append(host.popen(argv, env=dict(env, GLOO_SOCKET_IFNAME=host.ifname), cwd=tmp,
                                        stdout=out, stderr=err))
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.05)
        outs = [Path(tmp, f"out{i}").read_text() for i in range(len(procs))]
        errs = [Path(tmp, f"err{i}").read_text() for i in range(len(procs))]
        for i, p in enumerate(procs):
            if p.poll() != 0:
                for q in procs:
                    if q.poll() is None:
                        q.kill()
                raise BenchError(f"node {i}: torchrun {'timed out' if p.poll() is None else f'exited {p.poll()}'}"
                                 f"\nstdout:\n{outs[i][-2000:]}\nstderr:\n{errs[i][-3000:]}")

    finals = [[s for s in out.splitlines() if s.startswith("final ")] for out in outs]
    fields = [dict(kv.split("=", 1) for kv in f[-1].split()[1:]) for f in finals if f]
    if len(fields) != len(procs) or len({f["params_sha256"] for f in fields}) != 1 or \
            any(f["step"] != str(steps) for f in fields):
        raise BenchError(f"the ranks did not all end at step {steps} with the same parameters: {finals}")
    rates = [s.split("=", 1)[1] for s in outs[0].splitlines() if s.startswith("throughput steps_per_s=")]
    if not rates or not math.isfinite(float(rates[-1])):
        raise BenchError(f"no throughput line from rank 0:\n{outs[0][-2000:]}")
    return float(rates[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="30 steps, once: checks that it runs and yields a number")
    ap.add_argument("--steps", type=int, default=500, help="steps per run (default 500; --smoke: 30)")
    ap.add_argument("--repetitions", type=int, default=3, help="runs, each on fresh hosts (default 3; --smoke: 1)")
    ap.add_argument("--batch", type=int, default=32, help="samples per rank per step (default 32)")
    ap.add_argument("--hidden", type=int, default=64, help="hidden units (default 64)")
    ap.add_argument("--step-sleep", type=float, default=0.0, help="seconds of sleep per step (default 0)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    if a.smoke:
        a.steps, a.repetitions = 30, 1
    rates = []
    try:
        for i in range(a.repetitions):
            rate = bare_steps_per_second(a.steps, batch=a.batch, hidden=a.hidden, step_sleep=a.step_sleep)
            print(f"run {i + 1}/{a.repetitions}: {a.steps} steps, 2 nodes x 1 rank, steps_per_s={rate:.3f}",
                  flush=True)
            rates.append(rate)
    except BenchError as e:
        print(f"ddp_bare: {e}", file=sys.stderr)
        return 2
    print(f"bare_ddp steps_per_s={benchlib.median(rates):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
