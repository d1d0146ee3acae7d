#!/usr/bin/env python3
"""Lattice on a real Slurm cluster against plain sbatch, in the same run.

Sets up its own Slurm cluster: two network-namespace hosts on a bridge
(tests/netns.py), slurmctld on this machine and a slurmd in each host
(tests/slurm.py: 2 nodes x 2 CPUs, DefMemPerCPU=100, its fast scheduler
settings), a Lattice server bound to the bridge with Slurm's commands and
SLURM_CONF in its environment, and a cluster `hpc` (`lattice cluster create
hpc --backend slurm --server-url URL`). Lattice runs reach the nodes only
through the pilot jobs the server submits with sbatch.

1. Submit to first output. Lattice: `lattice run --cluster hpc --follow
   --python PY hello.py` (hello.py prints one line), timed from just before
   the CLI is spawned until that line arrives on its stdout (read line by
   line). Peer: `sbatch --output=FILE --wrap 'PY hello.py'`, timed from just
   before sbatch is spawned until FILE holds the line (polled every 10 ms).
   Alternating, --repetitions pairs after one warm-up of each. Before every
   sample Slurm's queue is empty: the previous pilot was released by the
   server (it lets an idle allocation go after ~5 s), so each Lattice run
   pays for a cold allocation, as sbatch does. Target: the ratio of the
   medians lattice/sbatch <= 1.2. Phases, from the server's log, the
   pilot agent's log (its Slurm output file) and slurmctld's log: the CLI
   submitted the run, the server ran sbatch, Slurm started the job, the
   agent registered, the experiment was placed and its process started.
2. A sweep: `lattice run --cluster hpc --cpus 1 --python PY t.py --i
   "range(N)"` (t.py prints its argument), from invoking the CLI until
   `lattice status RUN --json` (polled every 0.5 s) shows every experiment
   succeeded; against N plain `sbatch --wrap 'PY t.py --i K'` (1 CPU each,
   submitted one after another as fast as they go), until squeue (polled
   every 0.5 s) is empty and all N output files exist (their contents are
   checked afterwards). Lattice first, both from an empty queue. Target: Lattice
   finishes first. Also reports what the server asked of Slurm (its log lines
   "submitted Slurm job N: K pilot(s)") and how many pilot agents registered.

PY is the same interpreter on both sides, by absolute path (--python,
default /usr/bin/python3): a `python3` found through PATH may be a pyenv shim
that adds ~0.2 s to every start, on both sides.

Needs root, network namespaces and Slurm + munge (slurm-wlm); without them
--smoke says why and skips, a full run exits 1. Standard library only.

    .venv/bin/python bench/slurm.py                  # 7 pairs, a 1,000-experiment sweep
    .venv/bin/python bench/slurm.py --smoke          # 1 pair, no warm-up, 20 experiments
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402
import harness  # noqa: E402
from benchlib import BenchError, median, verdict  # noqa: E402
from gang_recovery import TERMINAL, parse_utc, private_binary, tail, work_directory  # noqa: E402
from netns import NetnsCluster  # noqa: E402


def _load_slurm_helper():
    """tests/slurm.py, by path: `import slurm` would find this file (bench/ comes first on sys.path)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("slurm", REPO / "tests" / "slurm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["slurm"] = module
    spec.loader.exec_module(module)
    return module


_slurm = _load_slurm_helper()
MAX_WORKDIR_LEN, SlurmCluster, slurm_unavailable = _slurm.MAX_WORKDIR_LEN, _slurm.SlurmCluster, _slurm.slurm_unavailable

TARGET_RATIO = 1.2
HELLO_LINE = "hello from slurm"
CLUSTER = "hpc"
JOB_PREFIX = f"lattice-{CLUSTER}-"  # the server's pilot jobs: lattice-<cluster>-<instance>
SERVER_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")
SLURM_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\] ")


def log_lines(path, stamp=SERVER_TIME):
    """(time, line) of every stamped line of a log file: Lattice's (UTC, 'Z') or slurmctld's (local time)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        m = stamp.match(line)
        if not m:
            continue
        t = parse_utc(m.group(1)) if stamp is SERVER_TIME else datetime.fromisoformat(m.group(1)).timestamp()
        if t is not None:
            out.append((t, line))
    return out


def first_time(lines, pattern, after=0.0):
    """The time of the first line matching pattern (a regex) stamped at or after `after`, or None."""
    for t, line in lines:
        if t >= after - 0.002 and re.search(pattern, line):  # log stamps are to the millisecond
            return t
    return None


def wait_until(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Testbed:
    """NetnsCluster(2) + SlurmCluster + a Lattice server on the bridge with a slurm cluster `hpc`."""

    def __init__(self, net, slurm, work, binary):
        self.net = net
        self.slurm = slurm
        self.work = work
        self.binary = binary
        self.home = work / "home"
        self.server_log = work / "server.log"
        self.lat = harness.Lattice(self.home)  # its CLI is harness.LATTICE: our private copy
        self.lat.env.update(slurm.env())
        self.server = None
        self.url = None

    def start(self, timeout=30.0):
        with open(self.server_log, "wb") as log:
            # Its own session: a Ctrl-C reaches the benchmark, which stops it in order.
            self.server = self.lat.popen("server", "--host", self.net.bridge_address, "--port", "0",
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                         start_new_session=True)
        info = self.home / "server.json"
        deadline = time.monotonic() + timeout
        while not info.exists():
            if self.server.poll() is not None:
                raise BenchError(f"the server exited {self.server.returncode}:\n{tail(self.server_log)}")
            if time.monotonic() > deadline:
                raise BenchError(f"the server wrote no server.json within {timeout:.0f} s")
            time.sleep(0.02)
        for _ in range(100):  # written atomically; patient with a half-written file anyway
            try:
                self.url = self.lat.server_info()["url"]
                break
            except (ValueError, KeyError):
                time.sleep(0.02)
        self.lat.env["LATTICE_SERVER"] = self.url
        self.cli("cluster", "create", CLUSTER, "--backend", "slurm", "--server-url", self.url)

    def stop(self):
        if self.server is None or self.server.poll() is not None:
            return
        with contextlib.suppress(OSError):
            os.killpg(self.server.pid, signal.SIGTERM)
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.server.pid, signal.SIGKILL)
            self.server.wait(timeout=10)

    def cli(self, *args, cwd=None, timeout=120.0):
        r = subprocess.run([self.binary, *map(str, args)], env=self.lat.env, capture_output=True, text=True,
                           timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise BenchError(f"lattice {' '.join(map(str, args))} exited {r.returncode}: {r.stderr.strip()[:800]}"
                             f"\n-- server log:\n{tail(self.server_log)}")
        return r

    def cli_text(self, *args):
        """stdout and stderr of a CLI command, whatever its exit status (for error messages)."""
        r = subprocess.run([self.binary, *map(str, args)], env=self.lat.env, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        return r.stdout + r.stderr

    def status(self, run):
        return json.loads(self.cli("status", run, "--json").stdout)

    def queue_empty(self):
        return not self.slurm.squeue_jobs()

    def wait_queue_empty(self, timeout=60.0):
        """Until squeue lists nothing: the last sbatch job ended and the server released its pilots."""
        wait_until(self.queue_empty, timeout, "an empty Slurm queue (idle pilots are released after ~5 s)")

    def pilot_out(self, job):
        return self.home / "clusters" / CLUSTER / f"slurm-{job}.out"


@contextlib.contextmanager
def testbed(work, binary):
    """A started Testbed; on leaving (also on an error or a signal) the server stops, every Slurm job is
    cancelled, the Slurm daemons and job steps are killed and the namespaces removed."""
    stack = contextlib.ExitStack()
    on_term, before_term = None, None
    try:
        net = stack.enter_context(NetnsCluster(2))
        slurm_dir = work / "slurm"
        if len(str(slurm_dir)) > MAX_WORKDIR_LEN:  # Slurm's unix sockets live there: keep the path short
            slurm_dir = Path(tempfile.mkdtemp(prefix="lattice-bench-slurm-"))
            stack.callback(shutil.rmtree, slurm_dir, ignore_errors=True)
        try:
            slurm = stack.enter_context(SlurmCluster(net, slurm_dir))
        except RuntimeError as e:
            raise BenchError(f"Slurm did not start: {e}") from None
        bed = Testbed(net, slurm, work, binary)
        stack.callback(bed.stop)  # first: the server, then Slurm, then the namespaces
        # On SIGTERM tests/slurm.py stops Slurm at once, then passes it on (to benchlib: SystemExit, and
        # the clean-up below). Stop the server before that, while Slurm still answers its squeue (else
        # its last backend pass waits ~10 s for slurmctld).
        before_term = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            bed.stop()
            if callable(before_term):
                before_term(signum, frame)
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, on_term)
        bed.start()
        yield bed
    finally:
        # A second signal meanwhile must not cut the clean-up short.
        saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            stack.close()
        finally:
            for s, h in saved.items():
                signal.signal(s, before_term if h is on_term and on_term is not None else h)


# -- 1. submit to first output -------------------------------------------------------------------


def lattice_hello(bed, code, py, timeout):
    """One `lattice run --follow`: seconds to the line, and the phases (absolute wall-clock times)."""
    err = bed.work / "cli-stderr.txt"
    argv = [bed.binary, "run", "--cluster", CLUSTER, "--follow", "--python", py, "hello.py"]
    with open(err, "w") as errf:
        t0 = time.time()
        m0 = time.monotonic()
        p = subprocess.Popen(argv, env=bed.lat.env, cwd=code, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=errf)
    watchdog = threading.Timer(timeout, p.kill)
    watchdog.start()
    seen = None
    try:
        for raw in p.stdout:
            if raw.decode(errors="replace").rstrip("\n") == HELLO_LINE:
                seen = time.monotonic() - m0
                break
        p.stdout.read()  # the rest, until the CLI exits with the script
        rc = p.wait()
    finally:
        watchdog.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    stderr = err.read_text(errors="replace")
    m = re.search(r"run (\S+) submitted", stderr)
    if seen is None or rc != 0 or not m:
        raise BenchError(f"lattice run --follow exited {rc} (line seen: {seen is not None}); stderr: "
                         f"{stderr.strip()[:800]}\n-- server log:\n{tail(bed.server_log)}")
    run = m.group(1)
    return seen, lattice_phases(bed, run, t0, t0 + seen)


def lattice_phases(bed, run, t0, t_line):
    """Wall-clock times of the steps between spawning the CLI (t0) and the line (t_line); None where unknown."""
    server = log_lines(bed.server_log)
    ph = {"t0": t0, "line": t_line}
    ph["submitted"] = first_time(server, rf"api: run {re.escape(run)} submitted", t0)
    job = None
    for t, line in server:
        m = re.search(r"slurm: submitted Slurm job (\d+): ", line)
        if m and t >= t0 - 0.002:
            job, ph["sbatch"] = m.group(1), t
            break
    ph["job"] = job
    if job:
        ctld = log_lines(bed.slurm.ctld_log, SLURM_TIME)
        ph["slurm_started"] = first_time(ctld, rf"(Started|Allocate) JobId={job}\b", t0)
        ph["registered"] = first_time(server, rf"controller: node \S+-{job} .*registered", t0)
        agent = log_lines(bed.pilot_out(job))
        ph["launched"] = first_time(agent, rf"attempt \d+ \({re.escape(run)}/0\) started", t0)
    exp = bed.status(run)["experiments"][0]
    ph["placed"] = parse_utc(exp.get("started_at"))
    return ph


def sbatch_hello(bed, code, py, out, timeout):
    """One `sbatch --wrap`: seconds until the output file holds the line, and the phases."""
    argv = ["sbatch", "--parsable", f"--output={out}", "--wrap", f"{py} hello.py"]
    t0 = time.time()
    m0 = time.monotonic()
    r = subprocess.run(argv, env=bed.slurm.env(), cwd=code, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise BenchError(f"sbatch exited {r.returncode}: {r.stderr.strip()}")
    job = r.stdout.strip().split(";")[0]
    deadline = m0 + timeout
    while True:
        try:
            if HELLO_LINE in out.read_text(errors="replace"):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"sbatch job {job}: no '{HELLO_LINE}' in {out} within {timeout:.0f} s\n"
                             f"{bed.slurm.logs_tail()}")
        time.sleep(0.01)
    seen = time.monotonic() - m0
    ctld = log_lines(bed.slurm.ctld_log, SLURM_TIME)
    ph = {"t0": t0, "line": t0 + seen, "job": job,
          "accepted": first_time(ctld, rf"_slurm_rpc_submit_batch_job: JobId={job}\b", t0),
          "slurm_started": first_time(ctld, rf"(Started|Allocate) JobId={job}\b", t0)}
    return seen, ph


def span(ph, a, b):
    return ph[b] - ph[a] if ph.get(a) is not None and ph.get(b) is not None else None


LATTICE_PHASES = [  # (label, from, to)
    ("CLI spawned -> run stored by the server (snapshot, submit)", "t0", "submitted"),
    ("run stored -> server ran sbatch (pilot job submitted)", "submitted", "sbatch"),
    ("sbatch -> Slurm started the pilot job (scheduler pass)", "sbatch", "slurm_started"),
    ("job started -> its agent registered with the server", "slurm_started", "registered"),
    ("agent registered -> experiment placed", "registered", "placed"),
    ("placed -> agent started the process (code fetched)", "placed", "launched"),
    ("process started -> line on the CLI's stdout", "launched", "line"),
]
SBATCH_PHASES = [
    ("sbatch spawned -> slurmctld accepted the job", "t0", "accepted"),
    ("accepted -> Slurm started the job (scheduler pass)", "accepted", "slurm_started"),
    ("job started -> line in the output file", "slurm_started", "line"),
]


def fmt(v, digits=3):
    return "?" if v is None else f"{v:.{digits}f}"


def submit_to_output(bed, code, py, a):
    lat, bare, lat_ph, bare_ph = [], [], [], []
    outdir = bed.work / "sbatch-hello"
    outdir.mkdir()
    total = a.warmups + a.repetitions
    for i in range(total):
        warm = i < a.warmups
        order = ("lattice", "sbatch") if i % 2 == 0 else ("sbatch", "lattice")
        got = {}
        for side in order:
            bed.wait_queue_empty()  # no pilot alive: a cold allocation, and nothing else in Slurm's way
            if side == "lattice":
                got[side] = lattice_hello(bed, code, py, a.timeout)
            else:
                got[side] = sbatch_hello(bed, code, py, outdir / f"hello-{i}.out", a.timeout)
        (lt, lph), (bt, bph) = got["lattice"], got["sbatch"]
        label = f"warm-up {i + 1}" if warm else f"rep {i + 1 - a.warmups}/{a.repetitions}"
        print(f"{label} ({' then '.join(order)}): lattice {lt:.3f} s (job {lph['job']}: "
              + ", ".join(f"{fmt(span(lph, f, t))}" for _, f, t in LATTICE_PHASES)
              + f"); sbatch {bt:.3f} s (job {bph['job']}: "
              + ", ".join(f"{fmt(span(bph, f, t))}" for _, f, t in SBATCH_PHASES) + ")", flush=True)
        if not warm:
            lat.append(lt)
            bare.append(bt)
            lat_ph.append(lph)
            bare_ph.append(bph)
    return lat, bare, lat_ph, bare_ph


def print_phases(title, phases, samples):
    print(f"  {title:<66}  median     min     max")
    for label, f, t in phases:
        v = [x for x in (span(ph, f, t) for ph in samples) if x is not None]
        fig = f"{median(v):7.3f} {min(v):7.3f} {max(v):7.3f}" if v else f"{'?':>7} {'?':>7} {'?':>7}"
        print(f"    {label:<64}{fig}")


# -- 2. sweep ------------------------------------------------------------------------------------


def sweep_trouble(bed, run, doc):
    """What went wrong with a sweep, for the error: the first experiments that did not succeed (state, node,
    reason, log), the pilot agents' warnings and the server log's end."""
    bad = [(i, e) for i, e in enumerate(doc["experiments"]) if e["state"] != "succeeded"][:3]
    out = "".join(f"\n-- {run}/{i}: {e['state']}, node {e.get('node')}: {e.get('reason')}\n"
                  f"{bed.cli_text('logs', f'{run}/{i}')[-1000:]}" for i, e in bad)
    warnings = []
    for f in sorted((bed.home / "clusters" / CLUSTER).glob("slurm-*.out")):
        lines = [line for line in f.read_text(errors="replace").splitlines() if " WARN " in line or "ERROR" in line]
        if lines:  # the first few, and how many in all (a failing ship is retried every 2 s)
            warnings.append(f"{f.name}: {len(lines)} warnings, first: " + " | ".join(lines[:3]))
    if warnings:
        out += "\n-- pilot agents' warnings:\n" + "\n".join(warnings[:10])
    return out + f"\n-- server log:\n{tail(bed.server_log, 40)}"


def lattice_sweep(bed, code, py, n, timeout, stall):
    bed.wait_queue_empty()
    t_wall = time.time()
    m0 = time.monotonic()
    r = bed.cli("run", "--cluster", CLUSTER, "--cpus", "1", "--python", py, "t.py", "--i", f"range({n})", cwd=code)
    submitted = time.monotonic() - m0
    run = r.stdout.strip().splitlines()[-1]
    deadline = m0 + timeout
    done, progress_at = -1, time.monotonic()
    while True:
        doc = bed.status(run)
        if doc["state"] in TERMINAL:
            break
        now_done = sum(e["state"] in TERMINAL for e in doc["experiments"])
        if now_done != done:
            done, progress_at = now_done, time.monotonic()
        if time.monotonic() > deadline or time.monotonic() - progress_at > stall:
            raise BenchError(f"the sweep {run} did not end within {timeout:.0f} s or made no progress for "
                             f"{stall:.0f} s ({done} of {n} experiments ended){sweep_trouble(bed, run, doc)}")
        time.sleep(0.5)
    elapsed = time.monotonic() - m0
    states = [e["state"] for e in doc["experiments"]]
    if doc["state"] != "succeeded" or len(states) != n or any(s != "succeeded" for s in states):
        raise BenchError(f"the sweep {run} ended {doc['state']}: "
                         f"{ {s: states.count(s) for s in set(states)} }{sweep_trouble(bed, run, doc)}")
    for i in sorted({0, n // 2, n - 1}):  # a sample of the logs
        out = bed.cli("logs", f"{run}/{i}").stdout
        if f"i = {i}" not in out:
            raise BenchError(f"{run}/{i}'s log lacks 'i = {i}': {out[:300]!r}")
    server = [(t, line) for t, line in log_lines(bed.server_log) if t >= t_wall - 0.002]
    submits = [(int(m.group(1)), int(m.group(2))) for _, line in server
               if (m := re.search(r"slurm: submitted Slurm job (\d+): (\d+) pilot", line))]
    registered = sum(1 for _, line in server if re.search(r"controller: node \S+ .*registered", line))
    released = sum(len(m.group(1).split()) for _, line in server
                   if (m := re.search(r"slurm: released (.*) \(no work", line)))
    first_reg = first_time(server, r"controller: node \S+ .*registered", t_wall)
    return {"run": run, "elapsed": elapsed, "submitted": submitted, "submits": submits, "registered": registered,
            "released": released, "first_registered": first_reg - t_wall if first_reg else None}


def sbatch_sweep(bed, code, py, n, timeout):
    bed.wait_queue_empty()
    outdir = bed.work / "sbatch-sweep"
    outdir.mkdir()
    env = bed.slurm.env()
    m0 = time.monotonic()
    for i in range(n):
        r = subprocess.run(["sbatch", "--parsable", f"--output={outdir}/t-{i}.out", "--wrap", f"{py} t.py --i {i}"],
                           env=env, cwd=code, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise BenchError(f"sbatch {i + 1} of {n} exited {r.returncode}: {r.stderr.strip()}")
    submitted = time.monotonic() - m0
    deadline = m0 + timeout
    paths = [outdir / f"t-{i}.out" for i in range(n)]
    while True:
        if bed.queue_empty() and all(p.exists() for p in paths):
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{len(bed.slurm.squeue_jobs())} sbatch jobs still queued or running after "
                             f"{timeout:.0f} s")
        time.sleep(0.5)
    elapsed = time.monotonic() - m0
    bad = [i for i, p in enumerate(paths) if f"i = {i}" not in p.read_text(errors="replace")]
    if bad:
        raise BenchError(f"{len(bad)} sbatch jobs lack their line, e.g. t-{bad[0]}.out: "
                         f"{paths[bad[0]].read_text(errors='replace')[:300]!r}")
    return {"elapsed": elapsed, "submitted": submitted}


# -- main ----------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)
    ap.add_argument("--repetitions", type=int, default=7,
                    help="submit-to-output pairs, alternating which side goes first (default 7; --smoke: 1)")
    ap.add_argument("--warmups", type=int, default=1, help="pairs not counted, first (default 1; --smoke: 0)")
    ap.add_argument("--experiments", type=int, default=1000, help="sweep size (default 1000; --smoke: 20)")
    ap.add_argument("--python", default="/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK)
                    else shutil.which("python3"),
                    help="interpreter for hello.py and t.py on both sides, by absolute path (default /usr/bin/python3)")
    ap.add_argument("--skip-sweep", action="store_true", help="only the submit-to-output figure")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds allowed for one submit-to-output sample")
    ap.add_argument("--sweep-timeout", type=float, default=1800.0, help="seconds allowed for each sweep")
    ap.add_argument("--stall", type=float, default=None,
                    help="seconds the Lattice sweep may go without an experiment ending before it is an error "
                         "(default 60; --smoke: 20)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    if a.smoke:
        a.repetitions, a.warmups = 1, 0
        if a.experiments == 1000:
            a.experiments = 20
    if a.stall is None:
        a.stall = 20.0 if a.smoke else 60.0
    if a.repetitions < 1 or a.warmups < 0 or a.experiments < 1:
        raise BenchError("--repetitions and --experiments must be at least 1, --warmups at least 0")
    if not a.python or not os.path.isabs(a.python) or not os.access(a.python, os.X_OK):
        raise BenchError(f"--python must be an executable absolute path, not {a.python!r}")

    print(benchlib.machine_line())
    reason = slurm_unavailable()
    if reason:  # nothing measured: fine for a smoke test, an error for a measurement
        if not a.smoke:
            raise BenchError(f"needs Slurm and network namespaces: {reason}")
        print(f"slurm: skipped: needs Slurm and network namespaces: {reason}")
        return 0

    with work_directory(a.home, "slurm") as work:
        binary = private_binary(a.lattice, work)
        harness.LATTICE = Path(binary)
        code = work / "code"
        code.mkdir()
        (code / "hello.py").write_text(f"print({HELLO_LINE!r}, flush=True)\n")
        (code / "t.py").write_text("import sys\nprint('i =', sys.argv[2], flush=True)\n")
        with testbed(work, binary) as bed:
            slurm_version = bed.slurm.run(["sinfo", "--version"]).stdout.strip()
            print(f"{slurm_version}: 2 nodes x {bed.slurm.cpus} CPUs, DefMemPerCPU={bed.slurm.def_mem_per_cpu}, "
                  f"nodes are network namespaces on this machine; Lattice server on {bed.url}, cluster "
                  f"{CLUSTER} (slurm); interpreter {a.python}", flush=True)
            print(f"submit -> first output, {a.warmups} warm-up + {a.repetitions} alternating pairs; "
                  f"per sample (s): lattice ({'; '.join(f'{f}->{t}' for _, f, t in LATTICE_PHASES)}), "
                  f"sbatch ({'; '.join(f'{f}->{t}' for _, f, t in SBATCH_PHASES)})", flush=True)
            lat, bare, lat_ph, bare_ph = submit_to_output(bed, code, a.python, a)
            sweep = None
            if not a.skip_sweep:
                n = a.experiments
                print(f"sweep of {n} experiments (t.py --i \"range({n})\", 1 CPU each), Lattice first ...",
                      flush=True)
                ls = lattice_sweep(bed, code, a.python, n, a.sweep_timeout, a.stall)
                pilots = sum(k for _, k in ls["submits"])
                print(f"  lattice: `lattice run` returned in {ls['submitted']:.3f} s; all {n} succeeded after "
                      f"{ls['elapsed']:.2f} s ({n / ls['elapsed']:.1f} experiments/s); the server ran sbatch "
                      f"{len(ls['submits'])} time(s) for {pilots} pilot(s) "
                      f"({', '.join(f'job {j}: {k}' for j, k in ls['submits'])}), {ls['registered']} pilot agents "
                      f"registered (first after {fmt(ls['first_registered'], 2)} s), {ls['released']} allocations "
                      f"released (unstarted array tasks cancelled, idle pilots let go)", flush=True)
                ss = sbatch_sweep(bed, code, a.python, n, a.sweep_timeout)
                print(f"  sbatch: {n} sbatch --wrap submitted in {ss['submitted']:.2f} s "
                      f"({n / ss['submitted']:.0f}/s); all done after {ss['elapsed']:.2f} s "
                      f"({n / ss['elapsed']:.1f} jobs/s)", flush=True)
                sweep = (ls, ss)

    lm, bm = median(lat), median(bare)
    ratio = lm / bm
    print(f"submit -> first output, {len(lat)} pairs (s)                         median     min     max")
    print(f"  lattice run --cluster {CLUSTER} --follow (cold pilot allocation)     "
          f"{lm:7.3f} {min(lat):7.3f} {max(lat):7.3f}")
    print(f"  sbatch --wrap, until the output file holds the line              "
          f"{bm:7.3f} {min(bare):7.3f} {max(bare):7.3f}")
    print(f"  ratio of the medians lattice/sbatch: {ratio:.3f}")
    print_phases("lattice phases", LATTICE_PHASES, lat_ph)
    print_phases("sbatch phases", SBATCH_PHASES, bare_ph)
    # Slurm starts batch jobs in a pass about once a second, whenever it comes: a wait of 0 to 1 s that
    # either side may draw. Without it (each sample minus its own wait) what remains is each side's own cost.
    own_lat = [t - w for t, p in zip(lat, lat_ph) if (w := span(p, "sbatch", "slurm_started")) is not None]
    own_bare = [t - w for t, p in zip(bare, bare_ph) if (w := span(p, "accepted", "slurm_started")) is not None]
    if own_lat and own_bare:
        print(f"  without Slurm's wait for its scheduler pass (job submitted -> started): lattice median "
              f"{median(own_lat):.3f} s, sbatch {median(own_bare):.3f} s (+{median(own_lat) - median(own_bare):.3f} s)")
        waits_lat = [w for p in lat_ph if (w := span(p, "sbatch", "slurm_started")) is not None]
        waits_bare = [w for p in bare_ph if (w := span(p, "accepted", "slurm_started")) is not None]
        print(f"  that wait: lattice's pilot jobs median {median(waits_lat):.3f} s, sbatch's jobs "
              f"{median(waits_bare):.3f} s")
    figures = [lm, bm]
    targets = [f"submit to first output lattice/sbatch <= {TARGET_RATIO}: {lm:.3f} / {bm:.3f} s = {ratio:.3f}x "
               f"{verdict(ratio, '<=', TARGET_RATIO)}"]
    if sweep:
        ls, ss = sweep
        sratio = ls["elapsed"] / ss["elapsed"]
        print(f"sweep of {a.experiments}: lattice {ls['elapsed']:.2f} s, sbatch {ss['elapsed']:.2f} s, "
              f"ratio lattice/sbatch {sratio:.3f}")
        figures += [ls["elapsed"], ss["elapsed"]]
        targets.append(f"{a.experiments}-experiment sweep finishes before {a.experiments} sbatch: "
                       f"{ls['elapsed']:.2f} / {ss['elapsed']:.2f} s = {sratio:.3f}x {verdict(sratio, '<=', 1.0)}")
    if a.smoke and not benchlib.finite_positive(*figures):
        raise BenchError("smoke: the figures are not positive finite numbers")
    return benchlib.report_targets(targets, a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
