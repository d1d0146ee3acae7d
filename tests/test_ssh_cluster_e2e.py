"""The ssh cluster backend end to end, through the user-facing commands only.

Two network-namespace hosts run real OpenSSH servers (tests/sshd.py); a Lattice server
listens on the bridge with a token, and no agent is started by hand: `lattice cluster
create --backend ssh` makes the server copy itself to each host and start an agent
there over ssh. Runs go there with `lattice run --cluster`: a sweep over both hosts,
a 2-node DDP gang. Faults: a killed agent, a cut host and a changed host key each take
their node down with the reason (an experiment running there resumes elsewhere), and
the backend brings the node back by itself. The token is never on a command line, in
a log or in an API answer.

The hosts share this machine's filesystem and users, so the "remote" ~/.lattice is
/root/.lattice: the test removes the binary it makes the server copy there (named by
its hash) before and after, and the agent homes of its own nodes afterwards.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness import LATTICE, ROOT, Lattice, pid_alive, script_dir, terminate, wait_for  # noqa: F401 (fixture)
from netns import NetnsCluster
from sshd import SshHosts, sshd_unavailable

pytestmark = pytest.mark.skipif(sshd_unavailable() is not None,
                                reason=f"needs sshd in namespaces: {sshd_unavailable()}")

DDP = ROOT / "examples" / "ddp" / "train.py"
PYTHON = ROOT / ".venv" / "bin" / "python"  # the hosts' login PATH may find a python3 without torch
FINAL = re.compile(r"^\[rank (\d+)\] final rank=(\d+) world=(\d+) params_sha256=([0-9a-f]+) step=(\d+)$", re.M)
REMOTE_HOME = Path(os.path.expanduser("~root"))  # root's home on the hosts: this machine's
NAME = "lab"


def binary_hash16():
    h = hashlib.sha256()
    with open(LATTICE, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


class SshCluster:
    """The server on the bridge, the sshd hosts, and helpers to look at them."""

    def __init__(self, net: NetnsCluster, ssh: SshHosts, home: Path):
        self.net, self.ssh = net, ssh
        self.lat = Lattice(home)
        self.server_log = home.parent / "server.log"
        self.server = self.lat.popen("server", "--host", net.bridge_address, "--port", "0",
                                     stdout=subprocess.DEVNULL, stderr=open(self.server_log, "wb"))
        wait_for(lambda: (home / "server.json").exists(), what="server.json")
        self.url = self.lat.server_info()["url"]
        self.lat.env["LATTICE_SERVER"] = self.url
        self.token = (home / "token").read_text().strip()
        self.nodes_ids = [h.address for h in net.hosts]  # port 22: the node id is the address

    def restart_server(self):
        """Stops the server and starts another on the same home and port (the agents' URL)."""
        port = self.url.rsplit(":", 1)[1]
        self.stop()
        (self.lat.home / "server.json").unlink(missing_ok=True)
        self.server = self.lat.popen("server", "--host", self.net.bridge_address, "--port", port,
                                     stdout=subprocess.DEVNULL, stderr=open(self.server_log, "ab"))
        wait_for(lambda: (self.lat.home / "server.json").exists(), what="server.json")
        assert self.lat.server_info()["url"] == self.url

    def stop(self):
        terminate(self.server)

    def api(self, path):
        req = urllib.request.Request(f"{self.url}/api/v1{path}")
        req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode()

    def nodes(self):
        return {n["id"]: n for n in json.loads(self.api("/nodes"))["nodes"]}

    def node_ready(self, node):
        n = self.nodes().get(node)
        return n is not None and n["state"] == "ready"

    def host_status(self, node):
        for h in self.lat.json("cluster", "show", NAME)["status"].get("hosts", []):
            if h["node"] == node:
                return h
        return {}

    def agent_pid(self, node):
        """The pid of the agent the backend started for the node (its own pid file), if alive."""
        try:
            pid = int((REMOTE_HOME / ".lattice" / "agents" / node / "agent.pid").read_text())
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        if b"agent" in cmd and node.encode() in cmd and pid_alive(pid):
            return pid
        return None

    def host(self, node):
        return self.net.hosts[self.nodes_ids.index(node)]

    def run(self, *args):
        out = self.lat.run("run", "--cluster", NAME, "--python", PYTHON, *args).stdout
        return out.strip().splitlines()[-1]

    def assert_token_not_in_ps(self):
        assert self.token not in ps_args()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sshcluster")
    remote_bin = REMOTE_HOME / ".lattice" / "bin" / f"lattice-{binary_hash16()}"
    remote_bin.unlink(missing_ok=True)  # so the first start copies it
    nodes = []
    try:
        with NetnsCluster(2) as net, SshHosts(net, tmp / "sshd") as ssh:
            nodes = [h.address for h in net.hosts]
            c = SshCluster(net, ssh, tmp / "home")
            try:
                yield c
            finally:
                c.stop()
            # SshHosts.close() then ends anything still running through sshd.
    finally:
        remote_bin.unlink(missing_ok=True)
        for node in nodes:
            shutil.rmtree(REMOTE_HOME / ".lattice" / "agents" / node, ignore_errors=True)
        for d in ("bin", "agents"):
            try:
                (REMOTE_HOME / ".lattice" / d).rmdir()  # only if empty: someone else's may be there
            except OSError:
                pass


def test_create_starts_an_agent_on_each_host_after_copying_the_binary(env):
    lat = env.lat
    hosts = ",".join(env.ssh.host_spec(h) for h in env.net.hosts)
    lat.run("cluster", "create", NAME, "--backend", "ssh", "--hosts", hosts, "--identity", env.ssh.identity,
            "--server-url", env.url)
    wait_for(lambda: all(env.node_ready(n) for n in env.nodes_ids), timeout=30, interval=0.2,
             what="both hosts' agents registered")
    nodes = env.nodes()
    for h in env.net.hosts:
        n = nodes[h.address]
        assert n["cluster"] == NAME and n["allocation"] == f"ssh root@{h.address}", n
        assert n["address"] == h.address  # the agent runs inside the host's namespace
    # The backend's own view catches up within a step.
    show = wait_for(lambda: (s := lat.json("cluster", "show", NAME))["status"].get("hosts") and
                    all(h["state"] == "running" for h in s["status"]["hosts"]) and s, timeout=10, interval=0.2,
                    what="both hosts running in `lattice cluster show`")
    assert show["backend"] == "ssh" and show["status"]["known_hosts"].startswith(str(lat.home)), show
    copies = {h["node"]: h["copies"] for h in show["status"]["hosts"]}
    # The hosts share one filesystem: whichever looked first copied, the other may have found it there.
    assert set(copies) == set(env.nodes_ids) and 1 <= sum(copies.values()) <= 2, show
    assert all(h["restarts"] == 0 and h["host"] == f"root@{h['node']}" for h in show["status"]["hosts"]), show
    env.assert_token_not_in_ps()


def test_a_sweep_runs_on_both_hosts(env, script_dir):
    cpus = min(n["cpus"] for n in env.nodes().values())
    script = script_dir / "sweep.py"
    script.write_text("import sys, time\ntime.sleep(2)\nprint('x =', sys.argv[1])\n")
    run = env.run("--cpus", cpus, script, "[1, 2]")  # one experiment fills a node: they go to both
    doc = env.lat.wait_state(run, ("succeeded", "failed"), timeout=60)
    assert doc["state"] == "succeeded", doc
    assert {e["node"] for e in doc["experiments"]} == set(env.nodes_ids), doc["experiments"]
    assert env.lat.run("logs", f"{run}/1").stdout.strip() == "x = 2"


def test_ddp_runs_across_the_two_hosts(env):
    run = env.run("--nodes", "2", DDP, "--steps", "10", "--ckpt-every", "5")
    doc = env.lat.wait_state(run, ("succeeded", "failed"), timeout=120)
    log = env.lat.run("logs", f"{run}/0").stdout
    assert doc["state"] == "succeeded", log
    finals = {int(r): (int(rank), int(world), sha, int(step)) for r, rank, world, sha, step in FINAL.findall(log)}
    assert sorted(finals) == [0, 1] and {f[1] for f in finals.values()} == {2}, log
    assert len({f[2] for f in finals.values()}) == 1 and {f[3] for f in finals.values()} == {10}, log


@pytest.fixture
def sleeper(script_dir):
    script = script_dir / "sleeper.py"
    script.write_text("import os, time\nprint('attempt', os.environ['LATTICE_ATTEMPT'], flush=True)\n"
                      "time.sleep(300)\n")
    return script


def current_node(env, run):
    exp = env.lat.json("status", run)["experiments"][0]
    return exp["node"] if exp["state"] == "running" else None


def test_a_killed_agent_takes_its_node_down_its_experiment_resumes_elsewhere_and_it_comes_back(env, sleeper):
    lat = env.lat
    copies = {n: env.host_status(n)["copies"] for n in env.nodes_ids}
    run = env.run("--max-restarts", "1", sleeper)
    victim = wait_for(lambda: current_node(env, run), timeout=30, what="the experiment running")
    other = next(n for n in env.nodes_ids if n != victim)
    pid = env.agent_pid(victim)
    assert pid, f"no agent process for {victim}"
    os.kill(pid, signal.SIGKILL)
    # The backend saw its connection end; the node is down with why, for the API and the CLI.
    down = wait_for(lambda: (n := env.nodes()[victim])["state"] == "lost" and "killed by signal 9" in n["reason"] and n,
                    timeout=15, interval=0.1, what="the node down with the reason")
    assert down["reason"] == "the agent was killed by signal 9", down
    doc = wait_for(lambda: (d := lat.json("status", run))["experiments"][0]["attempts"] == 2
                   and current_node(env, run) == other and d, timeout=30, what="a second attempt elsewhere")
    assert doc["experiments"][0]["restarts"] == 1
    # Restarted after its backoff, with the binary already there.
    wait_for(lambda: env.node_ready(victim), timeout=30, interval=0.2, what="the agent restarted")
    st = env.host_status(victim)
    assert st["restarts"] >= 1 and st["copies"] == copies[victim], st
    assert st["last_failure"] == "the agent was killed by signal 9", st
    assert env.agent_pid(victim) not in (None, pid)
    lat.run("cancel", run)
    lat.wait_state(run, ("cancelled", "failed", "succeeded"), timeout=60)


def test_a_cut_host_goes_down_with_the_reason_the_other_goes_on_and_it_comes_back(env, script_dir):
    victim = env.nodes_ids[1]
    host = env.host(victim)
    ssh_reason = re.compile(r"Timeout, server \S+ not responding|Connection timed out|No route to host")
    host.cut()
    try:
        n = wait_for(lambda: (n := env.nodes()[victim])["state"] == "lost" and ssh_reason.search(n["reason"]) and n,
                     timeout=30, interval=0.2, what="the cut node down with ssh's reason")
        st = env.host_status(victim)
        assert st["state"] == "down" and ssh_reason.search(st["reason"]) and "retry_in_ms" in st, st
        assert env.node_ready(env.nodes_ids[0])
        script = script_dir / "quick.py"
        script.write_text("print('still working')\n")
        run = env.run(script)
        doc = env.lat.wait_state(run, ("succeeded", "failed"), timeout=60)
        assert doc["state"] == "succeeded" and doc["experiments"][0]["node"] == env.nodes_ids[0], doc
    finally:
        host.restore()
    # The old agent may come back first (its session had not noticed the cut); the backend's next
    # connection replaces it with one it supervises.
    wait_for(lambda: env.host_status(victim)["state"] == "running" and env.node_ready(victim), timeout=60,
             interval=0.2, what="the cut node back")
    both_nodes_take_work(env, script_dir)


def both_nodes_take_work(env, script_dir):
    cpus = min(n["cpus"] for n in env.nodes().values())
    script = script_dir / "both.py"
    script.write_text("import time\ntime.sleep(1)\n")
    run = env.run("--cpus", cpus, script, "[1, 2]")  # one experiment fills a node
    doc = env.lat.wait_state(run, ("succeeded", "failed"), timeout=60)
    assert doc["state"] == "succeeded" and {e["node"] for e in doc["experiments"]} == set(env.nodes_ids), doc


def test_a_changed_host_key_is_refused_with_the_reason_until_the_old_one_is_removed(env, script_dir):
    victim = env.nodes_ids[0]
    host = env.host(victim)
    env.ssh.rotate_host_key(host)  # its sshd restarts with a new key; the agent's session goes on
    assert env.node_ready(victim)
    os.kill(env.agent_pid(victim), signal.SIGKILL)
    n = wait_for(lambda: (n := env.nodes()[victim])["state"] == "lost" and "Host key verification failed" in n["reason"]
                 and n, timeout=30, interval=0.2, what="the host key refused")
    known_hosts = env.lat.json("cluster", "show", NAME)["status"]["known_hosts"]
    assert n["reason"].startswith("Host key verification failed.") and known_hosts in n["reason"], n
    assert env.host_status(victim)["state"] == "down"
    # What the reason says to do, if the change was expected.
    fix = re.search(r"ssh-keygen -R (\S+) -f (\S+)\)$", n["reason"])
    assert fix and fix.group(1) == host.address and fix.group(2) == known_hosts, n["reason"]
    subprocess.run(["ssh-keygen", "-R", fix.group(1), "-f", fix.group(2)], capture_output=True, check=True, timeout=30)
    wait_for(lambda: env.host_status(victim)["state"] == "running" and env.node_ready(victim), timeout=60,
             interval=0.2, what="the node back with the new key")


def test_a_server_restart_ends_the_agents_and_the_next_server_starts_them_again_without_copying(env):
    pids = [env.agent_pid(n) for n in env.nodes_ids]
    assert all(pids), pids
    t = time.monotonic()
    env.restart_server()
    stopped_in = time.monotonic() - t
    # Their connections' stdin closed: the agents stopped by themselves, before the server exited.
    assert not any(pid_alive(p) for p in pids) and stopped_in < 10, stopped_in
    wait_for(lambda: all(env.host_status(n).get("state") == "running" and env.node_ready(n) for n in env.nodes_ids),
             timeout=30, interval=0.2, what="the agents started by the new server")
    for n in env.nodes_ids:
        st = env.host_status(n)
        assert st["copies"] == 0 and st["restarts"] == 0, st  # a new backend: the binary was there


def test_the_token_is_on_no_command_line_in_no_log_and_in_no_api_answer(env):
    env.assert_token_not_in_ps()
    for path in [env.server_log, *env.lat.home.rglob("*"),
                 *[p for n in env.nodes_ids for p in (REMOTE_HOME / ".lattice" / "agents" / n).rglob("*")]]:
        if path.is_file() and path != env.lat.home / "token":
            assert env.token.encode() not in path.read_bytes(), path
    logs = list((env.lat.home / "clusters" / NAME).glob("ssh-*.log"))
    assert len(logs) == 2 and all(b"lattice-ssh: the agent" in p.read_bytes() for p in logs), logs
    for path in ["/nodes", "/clusters", f"/clusters/{NAME}", "/runs"]:
        assert env.token not in env.api(path), path


def test_delete_stops_the_agents(env):
    pids = [env.agent_pid(n) for n in env.nodes_ids]
    assert all(pids), pids
    env.lat.run("cluster", "delete", NAME)
    wait_for(lambda: not any(pid_alive(p) for p in pids), timeout=15, interval=0.1, what="the agents stopped")
    assert env.lat.json("cluster", "list")  # the server goes on
    assert all(f"root@{n}" not in ps_args() for n in env.nodes_ids)  # no ssh client left either


def ps_args():
    return subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, timeout=10).stdout
