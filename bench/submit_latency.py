#!/usr/bin/env python3
"""Submit to first output on a warm local server.

From invoking `lattice run` of a script that prints one line to that line
arriving through `lattice logs --follow`, minus the same script run bare
(spawn to line). Target: median overhead <= 100 ms, p99 <= 250 ms over 50 runs.

Samples are interleaved (bare, run + logs --follow, run --follow, bare, ...)
so that both sides see the same load. Standard library only.
"""

import argparse
import subprocess
import sys
import time

import benchlib
from benchlib import BenchError, Lattice, median, percentile, verdict

LINE = "hello-from-lattice-bench"
SCRIPTS = {
    "sh": ("hello.sh", f"echo {LINE}\n"),
    "py": ("hello.py", f"print({LINE!r})\n"),
}
TARGET_MEDIAN_MS = 100.0
TARGET_P99_MS = 250.0


def read_until_line(proc, t0, what):
    """Reads proc's stdout until LINE; returns seconds from t0 to its arrival."""
    for raw in proc.stdout:
        if raw.rstrip(b"\r\n").decode(errors="replace") == LINE:
            return time.perf_counter() - t0
    raise BenchError(f"{what} ended (exit {proc.wait()}) without printing {LINE!r}")


def finish(proc, what, timeout=60):
    try:
        proc.stdout.read()
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BenchError(f"{what} did not exit within {timeout} s")
    if code != 0:
        raise BenchError(f"{what} exited {code}")


def bare_sample(argv):
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    dt = read_until_line(p, t0, "the bare script")
    finish(p, "the bare script")
    return dt


def run_then_logs_sample(lat, run_args):
    """`lattice run` (prints the name), then `lattice logs NAME --follow`."""
    t0 = time.perf_counter()
    r = subprocess.run(lat.cmd("run", *run_args), env=lat.env, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    t_submitted = time.perf_counter() - t0
    if r.returncode != 0:
        raise BenchError(f"lattice run exited {r.returncode}: {r.stderr.strip()[:300]}")
    name = r.stdout.strip().splitlines()[-1]
    p = subprocess.Popen(lat.cmd("logs", name, "--follow"), env=lat.env, stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    dt = read_until_line(p, t0, f"lattice logs {name} --follow")
    finish(p, f"lattice logs {name} --follow")
    return dt, t_submitted


def run_follow_sample(lat, run_args):
    t0 = time.perf_counter()
    p = subprocess.Popen(lat.cmd("run", "--follow", *run_args), env=lat.env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    dt = read_until_line(p, t0, "lattice run --follow")
    finish(p, "lattice run --follow")
    return dt


def ms(seconds):
    return seconds * 1000.0


def row(label, samples_s):
    v = [ms(s) for s in samples_s]
    return (f"  {label:<34} {median(v):8.1f} {percentile(v, 90):8.1f} {percentile(v, 99):8.1f} "
            f"{max(v):8.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)
    ap.add_argument("--runs", type=int, default=50, help="samples of each kind (default 50; --smoke: 3)")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured runs of each kind first (default 2)")
    ap.add_argument("--script", choices=sorted(SCRIPTS), default="sh",
                    help="sh: `echo` in a shell script (default); py: `print` in a Python script")
    ap.add_argument("--no-run-follow", action="store_true", help="skip the `lattice run --follow` variant")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    runs = 3 if a.smoke and a.runs == 50 else a.runs
    warmup = 1 if a.smoke else a.warmup
    if runs < 1:
        raise BenchError("--runs must be at least 1")

    print(benchlib.machine_line())
    with Lattice(a.lattice, a.home) as lat:
        filename, text = SCRIPTS[a.script]
        script = lat.write_script(filename, text)
        if a.script == "py":
            bare_argv = [sys.executable, str(script)]
            run_args = ["--python", sys.executable, str(script)]
        else:
            bare_argv = ["bash", str(script)]
            run_args = [str(script)]
        lat.start()
        for _ in range(warmup):
            bare_sample(bare_argv)
            run_then_logs_sample(lat, run_args)
            if not a.no_run_follow:
                run_follow_sample(lat, run_args)

        bare, logs, submit, follow = [], [], [], []
        for _ in range(runs):
            bare.append(bare_sample(bare_argv))
            dt, ts = run_then_logs_sample(lat, run_args)
            logs.append(dt)
            submit.append(ts)
            if not a.no_run_follow:
                follow.append(run_follow_sample(lat, run_args))

    bare_med = median(bare)
    over_logs = [s - bare_med for s in logs]
    over_follow = [s - bare_med for s in follow]
    print(f"submit to first output, {filename}, {runs} samples of each (interleaved), warm local server")
    print(f"  {'':<34} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}   (ms)")
    print(row(f"bare `{' '.join(['python' if a.script == 'py' else 'bash', filename])}`", bare))
    print(row("`lattice run` + `logs --follow`", logs))
    print(row("  of which `lattice run` returns", submit))
    print(row("  overhead (minus bare median)", over_logs))
    if follow:
        print(row("`lattice run --follow`", follow))
        print(row("  overhead (minus bare median)", over_follow))
    m, p99 = ms(median(over_logs)), ms(percentile(over_logs, 99))
    ratio = median(logs) / bare_med if bare_med > 0 else float("inf")
    print(f"  ratio, run + logs --follow median / bare median: {ratio:.1f}x")
    if follow:
        print(f"  ratio, run --follow median / bare median: {median(follow) / bare_med:.1f}x")
    v1 = verdict(m, "<=", TARGET_MEDIAN_MS)
    v2 = verdict(p99, "<=", TARGET_P99_MS)
    print(f"target: median overhead <= {TARGET_MEDIAN_MS:.0f} ms: {m:.1f} ms {v1}; "
          f"p99 overhead <= {TARGET_P99_MS:.0f} ms: {p99:.1f} ms {v2}")
    if follow:
        fm, fp = ms(median(over_follow)), ms(percentile(over_follow, 99))
        print(f"        (run --follow: median {fm:.1f} ms {verdict(fm, '<=', TARGET_MEDIAN_MS)}, "
              f"p99 {fp:.1f} ms {verdict(fp, '<=', TARGET_P99_MS)})")
    if a.smoke:
        figures = [bare_med, median(logs)] + ([median(follow)] if follow else [])
        if not benchlib.finite_positive(*figures):
            raise BenchError("smoke: the figures are not positive finite numbers")
        return 0
    return 3 if a.strict and "FAIL" in (v1, v2) else 0


if __name__ == "__main__":
    benchlib.main_wrapper(main)
