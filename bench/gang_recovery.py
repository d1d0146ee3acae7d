#!/usr/bin/env python3
"""Gang recovery: from one node's agent dying to the new attempt's first training step.

Makes three network-namespace hosts on a bridge (tests/netns.py; needs root),
starts a server bound to the bridge (token required) and one agent per host
(`--cpus 1`, so a node holds one rank), and runs examples/ddp/train.py as one
gang of two nodes (`lattice run --nodes 2 --max-restarts 1`, gloo across the
hosts, a short --step-sleep, a checkpoint every --ckpt-every steps). Once
training is under way (rank 0 has logged --warm-steps steps and the server
holds a checkpoint, which the agent uploads once the file has stayed
unchanged for 2 s), it SIGKILLs the agent of one node of the gang
(alternately node rank 1 and node rank 0): the machine's agent dies, and its
ranks with it (their supervisors see the agent go and stop them).
`--kill host` instead SIGKILLs every process in that host's namespace at
once: the kernel closes their connections, so the other node's rank fails
at once. `--kill cut` takes the host's link down instead: nothing is closed
and nothing more is sent, as when a machine loses power, so only the
server's node timeout notices. The third host is the spare.

The figure runs from the kill (the wall clock just before kill(2)) to the
first metric point of the new attempt (the wall-clock time the SDK recorded
for it; the first point stamped after the new attempt was placed: points of
the lost attempt are refused once it is declared lost). The new attempt must
resume from a checkpoint, its first point must be the step after it, and
`lattice status` must then show 2 attempts. The parts:

  kill -> ended     the server ends the old attempt (its log line "gang
                    attempt N of RUN/0 ends: ..."): the node is declared lost
                    --node-timeout (default 6 s) after the server last saw
                    its agent (which includes answering its 2 s long poll),
                    checked once a second; with --kill host a rank on the
                    surviving node usually fails first
  ended -> placed   the experiment queued again and placed on two nodes
                    (the experiment's started_at); with --kill cut it waits
                    for the surviving node's ranks, stuck in a collective,
                    to be aborted
  placed -> ranks   the agents fetched the code, restored the checkpoint and
                    started the ranks (the later of the two agents' "attempt N
                    (RUN/0) started" log lines)
  ranks -> step     interpreter, torch and data start-up, rendezvous, resume
                    from the checkpoint, one training step: the script's own
                    start-up

Each repetition is a fresh run on fresh hosts, server and agents. Target: the
slowest repetition <= 15 s. Standard library only (the ranks use .venv's torch).

    .venv/bin/python bench/gang_recovery.py                 # 5 repetitions
    .venv/bin/python bench/gang_recovery.py --smoke         # 1 repetition
    .venv/bin/python bench/gang_recovery.py --kill host     # every process of the host dies at once
    .venv/bin/python bench/gang_recovery.py --kill cut      # the host goes silent
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
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402
from benchlib import BenchError, median, verdict  # noqa: E402
from netns import NetnsCluster, netns_unavailable  # noqa: E402

EXAMPLE = REPO / "examples" / "ddp" / "train.py"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
TARGET_S = 15.0
TERMINAL = ("succeeded", "failed", "cancelled")
# Published by the peers (their documentation and defaults), not measured here.
KILLS = {  # --kill: what happens to one node of the gang
    "agent": "SIGKILL of a gang node's agent",
    "host": "SIGKILL of every process of a gang node",
    "cut": "a gang node cut off the network",
}
PEERS = [
    ("Ray", "notices a dead node in 15-55 s"),
    ("SkyPilot managed jobs", "recovery begins after >= 60 s"),
    ("Slurm", "the usual SlurmdTimeout is 300 s"),
]
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")


def parse_utc(stamp):
    """'2026-11-26T10:48:02.105Z' -> seconds since the epoch (None for '' or junk)."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def log_times(path, pattern):
    """The times of the lines of a Lattice log file that match pattern (a regex), in order."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        m = LOG_TIME.match(line)
        if m and re.search(pattern, line):
            t = parse_utc(m.group(1))
            if t is not None:
                out.append(t)
    return out


def attempt_end(server_log, run):
    """(time, cause) of the server's first "gang attempt N of RUN/0 ends: CAUSE" line, or (None, None)."""
    pattern = re.compile(rf"^(\S+Z) WARN controller: gang attempt \d+ of {re.escape(run)}/0 ends: (.*)$")
    try:
        lines = Path(server_log).read_text(errors="replace").splitlines()
    except OSError:
        return None, None
    for line in lines:
        m = pattern.match(line)
        if m and parse_utc(m.group(1)) is not None:
            return parse_utc(m.group(1)), m.group(2)
    return None, None


def tail(path, n=25):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class GangCluster:
    """A Lattice server on a NetnsCluster's bridge (token required) and one agent per host.

    The server runs on this machine bound to the bridge address; each agent runs
    inside its host's namespace (`nsenter`), with its own agent home, offering
    --cpus 1 and a 5 s grace. Logs go to files under workdir. close() stops the
    agents and the server (their process groups: SIGTERM, then SIGKILL); the
    NetnsCluster's own cleanup then kills whatever is left in the namespaces.
    """

    def __init__(self, net: NetnsCluster, binary: str, workdir: Path, node_timeout=None, cpus="1"):
        self.net = net
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home = self.dir / "home"
        self.binary = binary
        self.node_timeout = node_timeout
        self.cpus = cpus
        env = {k: v for k, v in os.environ.items() if not k.startswith("LATTICE_")}
        env["LATTICE_HOME"] = str(self.home)
        env["PYTHONPATH"] = str(REPO / "sdk" / "python")  # the SDK for the ranks, through the agents
        self.env = env
        self.server = None
        self.agents = {}
        self.url = None
        self.token = ""

    def server_log(self):
        return self.dir / "server.log"

    def agent_log(self, index):
        return self.dir / f"agent-{index}.log"

    def agent_home(self, index):
        return self.home / f"agent-{index}"

    def start(self, timeout=30.0):
        argv = [self.binary, "server", "--host", self.net.bridge_address, "--port", "0"]
        if self.node_timeout:
            argv += ["--node-timeout", self.node_timeout]
        with open(self.server_log(), "ab") as log:
            self.server = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=log, start_new_session=True)
        info_path = self.home / "server.json"
        deadline = time.monotonic() + timeout
        while not info_path.exists():
            if self.server.poll() is not None:
                raise BenchError(f"the server exited {self.server.returncode}:\n{tail(self.server_log())}")
            if time.monotonic() > deadline:
                raise BenchError(f"the server wrote no server.json within {timeout:.0f} s")
            time.sleep(0.02)
        for _ in range(100):  # written atomically, but be patient with a half-written file anyway
            try:
                info = json.loads(info_path.read_text())
                break
            except ValueError:
                time.sleep(0.02)
        self.url = info["url"]
        self.token = (self.home / "token").read_text().strip()
        self.env["LATTICE_SERVER"] = self.url
        for h in self.net.hosts:
            self.start_agent(h)
        deadline = time.monotonic() + timeout
        while True:
            nodes = self.json("nodes")["nodes"]
            if len([n for n in nodes if n["state"] == "ready"]) == len(self.net.hosts):
                return self
            for i, p in self.agents.items():
                if p.poll() is not None:
                    raise BenchError(f"agent h{i} exited {p.returncode}:\n{tail(self.agent_log(i))}")
            if time.monotonic() > deadline:
                raise BenchError(f"not every agent registered within {timeout:.0f} s: {nodes}")
            time.sleep(0.05)

    def start_agent(self, host):
        with open(self.agent_log(host.index), "ab") as log:
            self.agents[host.index] = host.popen(
                [self.binary, "--server", self.url, "agent", "--node-id", f"h{host.index}", "--agent-home",
                 str(self.agent_home(host.index)), "--cpus", self.cpus, "--grace", "5s"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def agent_pid(self, index):
        """The agent's pid from its agent.pid, checked to be that agent (not a reused pid)."""
        pid = int((self.agent_home(index) / "agent.pid").read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if str(self.agent_home(index)).encode() not in argv:
            raise BenchError(f"pid {pid} in agent h{index}'s agent.pid is not that agent")
        return pid

    def close(self):
        """Stops agents, then the server; a second signal meanwhile does not cut this short."""
        saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            procs = list(self.agents.values()) + ([self.server] if self.server else [])
            for p in procs:
                if p.poll() is None:
                    with contextlib.suppress(OSError):
                        os.killpg(p.pid, signal.SIGTERM)
            deadline = time.monotonic() + 3.0
            for p in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=max(0.0, deadline - time.monotonic()))
            for p in procs:
                with contextlib.suppress(OSError):
                    os.killpg(p.pid, signal.SIGKILL)  # also what a group leader left behind
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=5)
        finally:
            for s, h in saved.items():
                signal.signal(s, h)

    # -- CLI and API -----------------------------------------------------------------------

    def cli(self, *args, timeout=60.0, check=True):
        r = subprocess.run([self.binary, *map(str, args)], env=self.env, capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise BenchError(f"lattice {' '.join(map(str, args))} exited {r.returncode}: {r.stderr.strip()[:800]}")
        return r

    def json(self, *args, **kw):
        return json.loads(self.cli(*args, "--json", **kw).stdout)

    def submit(self, *args):
        return self.cli("run", *args).stdout.strip().splitlines()[-1]

    def api(self, path, timeout=30.0):
        req = urllib.request.Request(self.url + "/api/v1" + path, headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise BenchError(f"GET {path} answered {e.code}: {e.read()[:300]!r}")

    def series(self, run, key="loss"):
        """(steps, times, values) of experiment 0's series, all points (empty before the first)."""
        doc = self.api(f"/runs/{run}/metrics/series?key={urllib.parse.quote(key)}&max_points=100000")
        if not doc.get("series"):
            return [], [], []
        s = doc["series"][0]
        return s["steps"], s["times"], s["values"]

    def gang_nodes(self, doc):
        """The node ids of the experiment's current attempt, in rank order (from its reason)."""
        m = re.search(r"running on ([\w, ]+)$", doc["experiments"][0].get("reason", ""))
        return m.group(1).split(", ") if m else []

    def logs(self, run):
        return self.cli("logs", f"{run}/0", check=False).stdout


@contextlib.contextmanager
def gang_cluster(n_hosts, binary, workdir, **kw):
    """A started GangCluster on a fresh NetnsCluster; everything is gone when the block ends."""
    with NetnsCluster(n_hosts) as net:
        c = GangCluster(net, binary, workdir, **kw)
        try:
            c.start()
            yield c
        finally:
            c.close()


@contextlib.contextmanager
def work_directory(home, name):
    """A directory for one benchmark's homes and logs: under --home when given, else in /tmp; removed at the end."""
    if home:
        base = Path(home).resolve()
        base.mkdir(parents=True, exist_ok=True)
        d = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
    else:
        d = Path(tempfile.mkdtemp(prefix=f"lattice-bench-{name}-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def private_binary(source, workdir):
    """A copy of the lattice binary, so a rebuild meanwhile changes nothing under the benchmark."""
    source = Path(source).resolve()
    if not os.access(source, os.X_OK):
        raise BenchError(f"no lattice binary at {source} (build it with scripts/build.sh)")
    dest = Path(workdir) / "lattice"
    shutil.copy2(source, dest)
    return str(dest)


def netns_pids(netns):
    r = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


# -- one repetition ------------------------------------------------------------------------------


def one_recovery(c: GangCluster, a, victim_rank):
    """Runs the gang, kills one node's agent, and returns the timings (seconds) and facts."""
    run = c.submit("--nodes", "2", "--max-restarts", "1", "--python", PYTHON, str(EXAMPLE),
                   "--steps", a.steps, "--ckpt-every", a.ckpt_every, "--step-sleep", a.step_sleep)
    try:
        return _recover(c, a, run, victim_rank)
    except BenchError as e:
        raise BenchError(f"run {run}: {e}\n-- experiment log (newest attempt):\n{c.logs(run)[-2500:]}"
                         f"\n-- server log:\n{tail(c.server_log())}") from None


def _recover(c, a, run, victim_rank):
    # Training under way: the gang runs and rank 0 has logged some steps.
    deadline = time.monotonic() + a.timeout
    while True:
        doc = c.api(f"/runs/{run}")
        if doc["state"] in TERMINAL:
            raise BenchError(f"the run ended ({doc['state']}) before the kill")
        nodes = c.gang_nodes(doc)
        steps, times, _ = c.series(run)
        ckpts = c.api(f"/runs/{run}/artifacts?kind=checkpoint")["artifacts"] if len(steps) >= a.warm_steps else []
        if len(nodes) == 2 and len(steps) >= a.warm_steps and ckpts:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"no {a.warm_steps} steps and a stored checkpoint within {a.timeout:.0f} s "
                             f"(nodes {nodes}, {len(steps)} steps, {len(ckpts)} checkpoint files)")
        time.sleep(0.1)
    if doc["experiments"][0]["attempts"] != 1:
        raise BenchError(f"attempt {doc['experiments'][0]['attempts']} before the kill")
    victim = nodes[victim_rank]
    vindex = int(victim[1:])
    host = c.net.hosts[vindex]
    pid = c.agent_pid(vindex)
    others = [p for p in netns_pids(host.netns) if p != pid] if a.kill == "host" else []

    t_kill = time.time()
    if a.kill == "cut":
        host.cut()  # its link down: it sends nothing more, as a machine that lost power
    else:
        os.kill(pid, signal.SIGKILL)
    for p in others:  # the whole machine: everything in its namespace
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)

    old_last = max(steps)
    t_requeue_seen = placed = first = None
    deadline = time.monotonic() + a.timeout
    while first is None:
        if time.monotonic() > deadline:
            raise BenchError(f"no step of a new attempt within {a.timeout:.0f} s of the kill")
        doc = c.api(f"/runs/{run}")
        exp = doc["experiments"][0]
        if doc["state"] in TERMINAL:
            raise BenchError(f"the run ended ({doc['state']}, {exp.get('reason')}) before a new attempt's step")
        steps, times, _ = c.series(run)
        if exp["attempts"] >= 2:
            if t_requeue_seen is None:
                t_requeue_seen = time.time()
            placed = parse_utc(exp.get("started_at")) or t_requeue_seen
            # Points of the lost attempt were all recorded before it was declared lost
            # (later ones are refused), so a point stamped after the placement is the new one's.
            new = sorted((t, s) for s, t in zip(steps, times) if t > placed)
            if new:
                first = new[0]
                break
        else:
            old_last = max([old_last] + [s for s, t in zip(steps, times)])
        time.sleep(0.1)

    t_first, first_step = first
    # Nothing of the old attempt may live on on the killed node (its supervisors stop the
    # ranks). A cut-off node's agent lives on and stops its ranks on its own: not checked.
    left = None if a.kill == "cut" else []
    for p in netns_pids(host.netns) if left is not None else []:
        try:
            left.append(Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120])
        except OSError:
            pass
    status = c.json("status", run)
    exp = status["experiments"][0]
    if exp["attempts"] != 2:
        raise BenchError(f"`lattice status` shows {exp['attempts']} attempts, not 2")
    new_nodes = c.gang_nodes(status)
    if victim in new_nodes:
        raise BenchError(f"the new attempt runs on the killed node {victim}: {new_nodes}")
    # The resumed step, from the new attempt's log: its first step must follow it.
    resumed = None
    deadline = time.monotonic() + 10
    while resumed is None and time.monotonic() < deadline:
        m = re.search(r"^\[rank 0\] resumed from step (\d+)$", c.logs(run), re.M)
        resumed = int(m.group(1)) if m else None
        if resumed is None:
            time.sleep(0.1)
    if resumed is None:
        raise BenchError(f"the new attempt did not resume from a checkpoint (its first step is {first_step})")
    if first_step != resumed + 1:
        raise BenchError(f"the new attempt's first point is step {first_step}, but it resumed from step {resumed}")
    ended, why = attempt_end(c.server_log(), run)
    ranks = []
    for node in new_nodes:
        started = [t for t in log_times(c.agent_log(int(node[1:])), rf"\({re.escape(run)}/0\) started") if t >= placed]
        ranks.append(started[0] if started else None)
    t_ranks = max(ranks) if ranks and None not in ranks else None
    c.cli("cancel", run, check=False)
    return {
        "run": run, "victim": victim, "victim_rank": victim_rank, "new_nodes": new_nodes,
        "total": t_first - t_kill,
        "to_ended": ended - t_kill if ended else None, "why": why,
        "ended_to_placed": placed - ended if ended else None,
        "to_placed": placed - t_kill,
        "placed_to_ranks": t_ranks - placed if t_ranks else None,
        "ranks_to_step": t_first - t_ranks if t_ranks else None,
        "placed_to_step": t_first - placed,
        "requeue_seen": t_requeue_seen - t_kill,
        "old_last": old_last, "resumed": resumed, "first_step": first_step, "left": left,
    }


def fmt(v, digits=2):
    return "?" if v is None else f"{v:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(ap)
    ap.add_argument("--repetitions", type=int, default=5, help="fresh runs on fresh hosts (default 5; --smoke: 1)")
    ap.add_argument("--steps", type=int, default=2000, help="the script's --steps (it is cancelled long before)")
    ap.add_argument("--step-sleep", type=float, default=0.05, help="the script's --step-sleep (default 0.05 s)")
    ap.add_argument("--ckpt-every", type=int, default=5, help="the script's --ckpt-every (default 5 steps)")
    ap.add_argument("--warm-steps", type=int, default=20,
                    help="steps rank 0 has logged before the kill (default 20; --smoke: 5)")
    ap.add_argument("--kill", choices=sorted(KILLS), default="agent",
                    help="agent: SIGKILL the node's agent (default); host: SIGKILL every process in its namespace "
                         "at once; cut: take its link down (the machine goes silent, no connection is closed)")
    ap.add_argument("--node-timeout", default=None,
                    help="the server's --node-timeout (default: the server's own, 6s)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds allowed for each wait (default 120)")
    a = ap.parse_args()
    benchlib.SMOKE = a.smoke
    if a.smoke:
        a.repetitions, a.warm_steps = 1, 5
    if a.repetitions < 1:
        raise BenchError("--repetitions must be at least 1")

    print(benchlib.machine_line())
    reason = netns_unavailable()
    if reason:  # nothing measured: fine for a smoke test, an error for a measurement
        if not a.smoke:
            raise BenchError(f"needs network namespaces: {reason}")
        print(f"gang_recovery: skipped: needs network namespaces: {reason}")
        return 0
    results = []
    with work_directory(a.home, "gang_recovery") as work:
        binary = private_binary(a.lattice, work)
        print(f"gang of 2 nodes x 1 rank (examples/ddp/train.py, gloo, --step-sleep {a.step_sleep}, "
              f"--ckpt-every {a.ckpt_every}) on 3 namespace hosts; {KILLS[a.kill]} "
              f"after {a.warm_steps} steps; server --node-timeout {a.node_timeout or '6s (default)'}", flush=True)
        for i in range(a.repetitions):
            with gang_cluster(3, binary, work / f"rep-{i}", node_timeout=a.node_timeout) as c:
                r = one_recovery(c, a, victim_rank=(i + 1) % 2)
            results.append(r)
            print(f"rep {i + 1}/{a.repetitions}: {'cut' if a.kill == 'cut' else 'killed'} {r['victim']} "
                  f"(node rank {r['victim_rank']}), "
                  f"kill -> first step {r['total']:.2f} s = attempt ended {fmt(r['to_ended'])} + placed "
                  f"{fmt(r['ended_to_placed'])} + ranks started {fmt(r['placed_to_ranks'])} + first step "
                  f"{fmt(r['ranks_to_step'])}; ended by: {r['why']}; new gang {', '.join(r['new_nodes'])}; "
                  f"resumed from step {r['resumed']}, the old attempt had logged step {r['old_last']}; "
                  f"processes left on {r['victim']} at the first step: "
                  f"{'not checked' if r['left'] is None else len(r['left'])}",
                  flush=True)

    totals = [r["total"] for r in results]

    def row(label, key):
        v = [r[key] for r in results if r[key] is not None]
        figures = f"{median(v):7.2f} {max(v):7.2f}" if v else f"{'?':>7} {'?':>7}"
        print(f"  {label:<58} {figures}")

    n = len(results)
    head = f"gang recovery after {KILLS[a.kill]}, {n} repetition{'s' * (n != 1)} (s)"
    print(f"{head:<69}  median     max")
    row("kill -> the new attempt's first training step", "total")
    row("  kill -> the old attempt ended (node lost or a rank failed)", "to_ended")
    row("  ended -> experiment queued again and placed", "ended_to_placed")
    row("  placed -> ranks started on both nodes", "placed_to_ranks")
    row("  ranks started -> first step (start-up, rendezvous, resume)", "ranks_to_step")
    row("(2 attempts seen by polling the run, after the kill)", "requeue_seen")
    print("peers, published figures (their documentation and defaults), NOT measured here:")
    for name, text in PEERS:
        print(f"  {name}: {text}")
    for r in results:
        for cmd in r["left"] or []:
            print(f"  warning: still running on killed node {r['victim']} at the new attempt's first step: {cmd}")
    worst = max(totals)
    if a.smoke and not benchlib.finite_positive(*totals):
        raise BenchError("smoke: the figures are not positive finite numbers")
    v = verdict(worst, "<=", TARGET_S)
    return benchlib.report_targets(
        [f"{KILLS[a.kill]} to the new attempt's first step <= {TARGET_S:.0f} s: median {median(totals):.2f} s, "
         f"max {worst:.2f} s {v}"], a.strict)


if __name__ == "__main__":
    benchlib.main_wrapper(main)
