#!/usr/bin/env python3
"""What the Python SDK costs a training script that logs every step.

Runs examples/digits/train.py (PyTorch on scikit-learn's digits, CPU, 22 steps
an epoch) to completion, N times in each of these variants, alternating so that
all see the same load, and reports the median wall time and CPU time of each:

  no-sdk     the script as it is without Lattice: `import lattice` fails
             (a shadowing module), LATTICE_METRICS_FILE unset, nothing logged
  sdk-noop   `python train.py`: the SDK imported, LATTICE_METRICS_FILE unset,
             so lattice.log() validates and returns
  sdk-active LATTICE_METRICS_FILE set to a temporary file: lattice.log() every
             step (loss) and every epoch (accuracy), buffered, flushed by a
             background thread; the line count is checked afterwards

  lattice-run `lattice run --follow --python PY examples/digits/train.py`
             against a local server and agent started beforehand (`lattice
             server start` under a private LATTICE_HOME, so their start-up is
             not counted): timed from spawning `lattice run` until it exits,
             i.e. snapshot and upload of examples/digits/, scheduling, the
             agent's launch, the script with the SDK active (metrics shipped
             to the server, a checkpoint every epoch, an artifact), and the
             follower seeing the end. Each is a new run, so train.py starts
             fresh (no checkpoint to resume from). The script's own time on
             the agent (started_at to ended_at of the experiment) is shown
             beside it.

Targets: sdk-active within 2% of sdk-noop (median wall time), and the issue's
figure, lattice-run within 2% of sdk-noop (`python train.py` without
Lattice). The script's own time is mostly importing torch and scikit-learn,
so the difference is small against the noise of a loaded machine; CPU time is
the steadier figure. Also prints the cost of one lattice.log() call, measured
in-process. --skip-lattice leaves the lattice-run variant out (then no server
is needed). Standard library only (the script itself needs torch and
scikit-learn).
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import benchlib
from benchlib import REPO, BenchError, Lattice, median, verdict

SCRIPT = REPO / "examples" / "digits" / "train.py"
SDK = REPO / "sdk" / "python"
TARGET_RATIO = 1.02


def run_variant(python, env, args, cwd):
    """Runs train.py once with env (LATTICE_* removed first, then env applied); returns (wall s, CPU s)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LATTICE_")}
    full.update(env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    r = subprocess.run([python, str(SCRIPT), *args], env=full, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise BenchError(f"{SCRIPT.name} exited {r.returncode}: {r.stderr.strip()[-500:]}")
    if "final test accuracy" not in r.stdout:
        raise BenchError(f"{SCRIPT.name} did not finish: {r.stdout[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run_under_lattice(lat, python, args):
    """`lattice run --follow` of train.py once; returns (wall s, the script's own s on the agent)."""
    started = time.perf_counter()
    r = subprocess.run(lat.cmd("run", "--follow", "--python", python, str(SCRIPT), *args), env=lat.env,
                       cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if r.returncode != 0:
        raise BenchError(f"lattice run --follow {SCRIPT.name} exited {r.returncode}: "
                         f"{(r.stdout + r.stderr).strip()[-500:]}")
    if "final test accuracy" not in r.stdout:
        raise BenchError(f"lattice run --follow {SCRIPT.name} did not show the end: {r.stdout[-300:]}")
    m = re.search(r"run (\S+) submitted", r.stderr)
    name = m.group(1) if m else None
    own = float("nan")
    if name:
        exp = lat.run_doc(name)["experiments"][0]
        try:
            own = (datetime.fromisoformat(exp["ended_at"].replace("Z", "+00:00")) -
                   datetime.fromisoformat(exp["started_at"].replace("Z", "+00:00"))).total_seconds()
        except (KeyError, ValueError):
            pass
    return wall, own


def log_call_cost(python, metrics_file, n=100000):
    """Seconds per lattice.log({"loss": x}, step=i) call, (active, no-op), in one process each."""
    code = ("import time, lattice\nlattice.log({'loss': 0.0})\nt = time.perf_counter()\n"
            f"for i in range({n}):\n    lattice.log({{'loss': i * 0.5}}, step=i)\n"
            f"print((time.perf_counter() - t) / {n})\n")
    out = []
    for active in (True, False):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LATTICE_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SDK), os.environ.get("PYTHONPATH")]))
        if active:
            env["LATTICE_METRICS_FILE"] = str(metrics_file)
        r = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"log() timing failed: {r.stderr.strip()[-300:]}")
        out.append(float(r.stdout))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)  # --lattice and --home are for the lattice-run variant
    ap.add_argument("--repetitions", type=int, default=15, help="runs of each variant (default 15; --smoke: 1)")
    ap.add_argument("--epochs", type=int, default=5, help="train.py --epochs (default 5, its own default)")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter with torch and scikit-learn (default: this one)")
    ap.add_argument("--skip-lattice", action="store_true",
                    help="leave out the lattice-run variant (no server or agent)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    reps = 1 if a.smoke else a.repetitions
    print(benchlib.machine_line())

    scratch = Path(tempfile.mkdtemp(prefix="lattice-bench-sdk-"))
    try:
        nosdk = scratch / "nosdk"
        nosdk.mkdir()
        (nosdk / "lattice.py").write_text("raise ImportError('the SDK is left out of this variant')\n")
        sdk_path = os.pathsep.join(filter(None, [str(SDK), os.environ.get("PYTHONPATH")]))
        metrics_file = scratch / "metrics.jsonl"
        variants = {
            "no-sdk": {"PYTHONPATH": str(nosdk)},
            "sdk-noop": {"PYTHONPATH": sdk_path},
            "sdk-active": {"PYTHONPATH": sdk_path, "LATTICE_METRICS_FILE": str(metrics_file)},
        }
        args = ["--epochs", str(a.epochs)]
        cwd = scratch / "cwd"
        cwd.mkdir()
        steps_per_epoch = -(-1347 // 64)  # train.py's split and default batch size
        expected_lines = a.epochs * (steps_per_epoch + 1)

        lat = None
        if not a.skip_lattice:
            lat = Lattice(a.lattice, a.home)
            lat.start()
        names = list(variants) + ([] if lat is None else ["lattice-run"])
        wall = {k: [] for k in names}
        cpu = {k: [] for k in names}
        own = []
        try:
            for name in names:  # warm-up: page cache, .pyc files, the server's first run
                if name == "lattice-run":
                    run_under_lattice(lat, a.python, args)
                else:
                    run_variant(a.python, variants[name], args, cwd)
            for i in range(reps):
                order = list(names)
                if i % 2:
                    order.reverse()
                for name in order:
                    if name == "lattice-run":
                        w, o = run_under_lattice(lat, a.python, args)
                        wall[name].append(w)
                        own.append(o)
                        continue
                    if metrics_file.exists():
                        metrics_file.unlink()
                    w, c = run_variant(a.python, variants[name], args, cwd)
                    wall[name].append(w)
                    cpu[name].append(c)
                    if name == "sdk-active":
                        got = len(metrics_file.read_text().splitlines())
                        if got != expected_lines:
                            raise BenchError(f"sdk-active wrote {got} metric lines, expected {expected_lines}")
        finally:
            if lat is not None:
                lat.close()
        active_call, noop_call = log_call_cost(a.python, scratch / "calls.jsonl", 2000 if a.smoke else 100000)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"examples/digits/train.py --epochs {a.epochs} ({a.epochs * steps_per_epoch} steps, "
          f"{expected_lines} lattice.log() calls when active), {reps} runs of each variant, alternating")
    print(f"  {'variant':<12} {'median wall':>12} {'min wall':>10} {'median CPU':>11}")
    for name in names:
        cpu_text = f"{median(cpu[name]):9.3f} s" if cpu[name] else f"{'-':>11}"
        print(f"  {name:<12} {median(wall[name]):10.3f} s {min(wall[name]):8.3f} s {cpu_text}")
    if own:
        print(f"  lattice-run: the script's own time on the agent (started -> ended), median {median(own):.3f} s")
    ratio = median(wall["sdk-active"]) / median(wall["sdk-noop"])
    ratio_bare = median(wall["sdk-active"]) / median(wall["no-sdk"])
    cpu_ratio = median(cpu["sdk-active"]) / median(cpu["sdk-noop"])
    print(f"  ratio sdk-active / sdk-noop: wall {ratio:.4f}, CPU {cpu_ratio:.4f}; "
          f"sdk-active / no-sdk: wall {ratio_bare:.4f}")
    print(f"one lattice.log() call: {active_call * 1e6:.2f} us active, {noop_call * 1e6:.2f} us no-op; "
          f"x {expected_lines} calls = {active_call * expected_lines * 1e3:.2f} ms, "
          f"{active_call * expected_lines / median(wall['sdk-noop']) * 100:.3f}% of the sdk-noop median")
    targets = [f"sdk-active wall <= {TARGET_RATIO:.2f}x sdk-noop: {ratio:.4f} {verdict(ratio, '<=', TARGET_RATIO)}"]
    if wall.get("lattice-run"):
        run_ratio = median(wall["lattice-run"]) / median(wall["sdk-noop"])
        print(f"  ratio lattice-run / sdk-noop (python train.py without Lattice): wall {run_ratio:.4f} "
              f"(+{(median(wall['lattice-run']) - median(wall['sdk-noop'])) * 1e3:.0f} ms)")
        targets.append(f"lattice run --follow wall <= {TARGET_RATIO:.2f}x python train.py: {run_ratio:.4f} "
                       f"{verdict(run_ratio, '<=', TARGET_RATIO)}")
    return benchlib.report_targets(targets, a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
