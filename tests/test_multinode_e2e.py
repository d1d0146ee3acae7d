"""Multi-node gangs for real: a server on a bridge, one agent per network-namespace
host, real PyTorch DDP (gloo) across the hosts, and real faults (a network cut,
a killed agent, a failing rank)."""
import json
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness import LATTICE, ROOT, Lattice, pid_alive, wait_for
from netns import NetnsCluster, netns_unavailable

pytestmark = pytest.mark.skipif(netns_unavailable() is not None, reason=netns_unavailable() or "")

DDP = ROOT / "examples" / "ddp" / "train.py"
LIGHTNING = ROOT / "examples" / "lightning" / "train.py"
FINAL = re.compile(r"^\[rank (\d+)\] final rank=(\d+) world=(\d+) params_sha256=([0-9a-f]+) step=(\d+)$", re.M)


class Cluster:
    """A server on the bridge (token required) and an agent in each host."""

    def __init__(self, net: NetnsCluster, home: Path):
        self.net = net
        self.lat = Lattice(home)
        self.lat.env["PYTHONPATH"] = str(ROOT / "sdk" / "python")
        self.server = self.lat.popen("server", "--host", net.bridge_address, "--port", "0",
                                     stdout=subprocess.DEVNULL, stderr=open(home.parent / "server.log", "wb"))
        wait_for(lambda: (home / "server.json").exists(), what="server.json")
        self.url = self.lat.server_info()["url"]
        self.lat.env["LATTICE_SERVER"] = self.url
        self.agents = {}
        for h in net.hosts:
            self.start_agent(h)
        wait_for(lambda: len([n for n in self.lat.json("nodes")["nodes"] if n["state"] == "ready"]) == len(net.hosts),
                 timeout=30, what="every agent registered")

    def stop(self):
        # Our own children: stopped and reaped here (a zombie would look alive to `lattice server stop`).
        for p in [*self.agents.values(), self.server]:
            p.send_signal(signal.SIGTERM)
        for p in [*self.agents.values(), self.server]:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def start_agent(self, host):
        home = self.lat.home
        log = open(home.parent / f"agent-{host.index}.log", "ab")
        self.agents[host.index] = host.popen(
            [str(LATTICE), "--server", self.url, "agent", "--node-id", f"h{host.index}", "--agent-home",
             str(home / f"agent-{host.index}"), "--cpus", "1", "--grace", "5s"],
            env=self.lat.env, stdout=log, stderr=subprocess.STDOUT)

    def host_of(self, node_id):
        return self.net.hosts[int(node_id[1:])]

    def gang_nodes(self, run):
        """The nodes of the experiment's current attempt, in rank order (from its reason)."""
        reason = self.lat.json("status", run)["experiments"][0]["reason"]
        m = re.search(r"running on ([\w, ]+)$", reason)
        return m.group(1).split(", ") if m else []

    def ranks_on(self, host, script="train.py"):
        """Pids of the training processes running in a host's namespace."""
        out = subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True, text=True).stdout.split()
        pids = []
        for pid in out:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(part.endswith(script.encode()) for part in cmd) and pid_alive(int(pid)):
                pids.append(int(pid))
        return pids

    def api(self, path):
        req = urllib.request.Request(f"{self.url}/api/v1{path}")
        req.add_header("Authorization", f"Bearer {(self.lat.home / 'token').read_text().strip()}")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def series(self, run, key):
        req = urllib.request.Request(f"{self.url}/api/v1/runs/{run}/metrics/series?key={key}&max_points=100000")
        token = (self.lat.home / "token").read_text().strip()
        req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=30) as r:
            series = json.loads(r.read())["series"]
        return series[0] if series else {"steps": [], "times": [], "values": []}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three hosts for the whole module (setting them up costs seconds); each
    test's gangs take two of them. The network-cut test runs last."""
    with NetnsCluster(3) as net:
        c = Cluster(net, tmp_path_factory.mktemp("multinode") / "home")
        yield c
        c.stop()


def wait_all_ready(c):
    wait_for(lambda: all(n["state"] == "ready" for n in c.lat.json("nodes")["nodes"]), timeout=30,
             what="every node ready")


def finals_of(log):
    return {int(r): (int(rank), int(world), sha, int(step)) for r, rank, world, sha, step in FINAL.findall(log)}


def test_ddp_across_two_hosts_agrees_and_each_ranks_log_can_be_read_alone(cluster):
    lat = cluster.lat
    nodes = {n["id"]: n["address"] for n in lat.json("nodes")["nodes"]}
    assert nodes == {f"h{h.index}": h.address for h in cluster.net.hosts}  # each agent found its address
    run = lat.run("run", "--nodes", "2", DDP, "--steps", "30", "--ckpt-every", "10").stdout.strip().splitlines()[-1]
    doc = lat.wait_state(run, ("succeeded", "failed"), timeout=180)
    log = lat.run("logs", f"{run}/0").stdout
    assert doc["state"] == "succeeded", log
    assert doc["nodes"] == 2 and doc["launcher"] == "per-gpu"
    finals = finals_of(log)
    assert sorted(finals) == [0, 1], log
    assert {f[1] for f in finals.values()} == {2}  # the world size every rank saw
    assert len({f[2] for f in finals.values()}) == 1, f"ranks disagree: {finals}"
    assert {f[3] for f in finals.values()} == {30}
    one = lat.run("logs", f"{run}/0", "--rank", "1").stdout
    assert "final rank=1 world=2" in one and "[rank" not in one and "rank=0" not in one, one
    loss = cluster.series(run, "loss")  # rank 0 logged; the other rank's SDK stays silent
    assert sorted(loss["steps"]) == list(range(1, 31)) or sorted(loss["steps"]) == list(range(30)), loss["steps"]


def test_ddp_across_three_hosts(cluster):
    lat = cluster.lat
    wait_all_ready(cluster)
    run = lat.run("run", "--nodes", "3", DDP, "--steps", "12").stdout.strip().splitlines()[-1]
    doc = lat.wait_state(run, ("succeeded", "failed"), timeout=180)
    log = lat.run("logs", f"{run}/0").stdout
    assert doc["state"] == "succeeded", log
    finals = finals_of(log)
    assert sorted(finals) == [0, 1, 2] and {f[1] for f in finals.values()} == {3}, log
    assert len({f[2] for f in finals.values()}) == 1 and {f[3] for f in finals.values()} == {12}


def test_a_sweep_of_multi_node_experiments_runs_each_as_its_own_gang(cluster):
    lat = cluster.lat
    wait_all_ready(cluster)
    run = lat.run("run", "--nodes", "2", DDP, "--steps", "[8, 12]").stdout.strip().splitlines()[-1]
    doc = lat.wait_state(run, ("succeeded", "failed"), timeout=180)
    assert doc["state"] == "succeeded", [e["reason"] for e in doc["experiments"]]
    for i, steps in enumerate([8, 12]):
        finals = finals_of(lat.run("logs", f"{run}/{i}").stdout)
        assert sorted(finals) == [0, 1] and {f[3] for f in finals.values()} == {steps}
        assert len({f[2] for f in finals.values()}) == 1


def test_lightning_ddp_with_num_nodes_2_runs_across_two_hosts(cluster):
    lat = cluster.lat
    wait_all_ready(cluster)
    run = lat.run("run", "--nodes", "2", LIGHTNING, "--epochs", "2", "--logger", "lattice").stdout.strip().splitlines()[-1]
    doc = lat.wait_state(run, ("succeeded", "failed"), timeout=240)
    log = lat.run("logs", f"{run}/0").stdout
    assert doc["state"] == "succeeded", log
    # Lightning saw the gang Lattice started: two nodes, one process each.
    assert re.search(r"^\[rank 0\] .*GLOBAL_RANK: 0, MEMBER: 1/2", log, re.M), log
    assert re.search(r"^\[rank 1\] .*GLOBAL_RANK: 1, MEMBER: 2/2", log, re.M), log
    acc = cluster.series(run, "val_acc")  # rank 0's logger; synced over both ranks
    assert len(acc["steps"]) == 2 and acc["values"][-1] > 0.5, acc


def test_a_failing_rank_stops_the_whole_gang_and_fails_the_experiment_with_its_cause(cluster, tmp_path):
    lat = cluster.lat
    wait_all_ready(cluster)
    script = tmp_path / "code" / "fail.py"
    script.parent.mkdir()
    script.write_text(
        "import os, time, torch, torch.distributed as dist\n"
        "dist.init_process_group('gloo')\n"
        "t = torch.zeros(1)\n"
        "dist.all_reduce(t)\n"
        "print('up', flush=True)\n"
        "if dist.get_rank() == 1:\n"
        "    raise SystemExit(3)\n"
        "while True:\n"
        "    dist.all_reduce(t)\n"
        "    time.sleep(0.05)\n")
    run = lat.run("run", "--nodes", "2", "--grace", "60s", script).stdout.strip().splitlines()[-1]
    wait_for(lambda: lat.run("logs", f"{run}/0").stdout.count("up\n") == 2, timeout=120, what="both ranks up")
    started = time.monotonic()
    doc = lat.wait_state(run, ("failed", "succeeded"), timeout=30)
    assert time.monotonic() - started <= 10
    exp = doc["experiments"][0]
    assert doc["state"] == "failed" and exp["exit_code"] == 3
    assert re.match(r"rank 1 on h\d exited with code 3; --max-restarts is 0$", exp["reason"]), exp["reason"]
    # Rank 0, blocked in a collective and given a 60 s grace, was aborted at once.
    wait_for(lambda: not any(cluster.ranks_on(h, "fail.py") for h in cluster.net.hosts), timeout=10,
             what="no rank left")


def test_cancel_gives_every_rank_its_grace_to_checkpoint_and_stop(cluster):
    lat = cluster.lat
    wait_all_ready(cluster)
    run = lat.run("run", "--nodes", "2", "--grace", "20s", DDP, "--steps", "100000", "--ckpt-every", "1000",
                  "--step-sleep", "0.05").stdout.strip().splitlines()[-1]
    wait_for(lambda: len(cluster.series(run, "loss")["steps"]) >= 5, timeout=120, what="5 steps")
    lat.run("cancel", run)
    doc = lat.wait_state(run, ("cancelled", "failed", "succeeded"), timeout=30)
    assert doc["state"] == "cancelled"
    log = lat.run("logs", f"{run}/0").stdout
    stopped = re.search(r"^\[rank 0\] stopping at step (\d+): asked to stop$", log, re.M)
    assert stopped, log
    assert "[rank 1] stopping at step " + stopped.group(1) in log  # both ranks agreed on the step
    step = int(stopped.group(1))
    wait_for(lambda: any(a["path"].startswith(f"step-{step:08d}")
                         for a in cluster.api(f"/runs/{run}/artifacts?kind=checkpoint")["artifacts"]),
             timeout=20, what=f"the checkpoint of step {step}")


def start_training_gang(cluster, steps, step_sleep, wait_steps):
    """Starts a 2-node DDP run (checkpoint every 5 steps, one restart allowed) and waits until
    it trained wait_steps steps; returns the run and the hosts of node rank 0 and 1."""
    wait_all_ready(cluster)
    run = cluster.lat.run("run", "--nodes", "2", "--max-restarts", "1", DDP, "--steps", steps, "--ckpt-every", "5",
                          "--step-sleep", step_sleep).stdout.strip().splitlines()[-1]
    wait_for(lambda: len(cluster.gang_nodes(run)) == 2, timeout=120, what="the gang running")
    wait_for(lambda: len(cluster.series(run, "loss")["steps"]) >= wait_steps, timeout=120,
             what=f"{wait_steps} steps")
    first, second = cluster.gang_nodes(run)
    return run, cluster.host_of(first), cluster.host_of(second)


def test_a_killed_agent_stops_the_gang_within_10s_and_it_runs_again(cluster):
    lat = cluster.lat
    run, survivor, victim = start_training_gang(cluster, steps=100000, step_sleep=0.05, wait_steps=10)
    old_ranks = cluster.ranks_on(survivor) + cluster.ranks_on(victim)
    killed_at = time.monotonic()
    cluster.agents[victim.index].send_signal(signal.SIGKILL)  # the machine's agent dies; its ranks with it
    cluster.agents[victim.index].wait(10)
    wait_for(lambda: not any(pid_alive(p) for p in old_ranks), timeout=15, interval=0.1, what="the old ranks gone")
    assert time.monotonic() - killed_at <= 10
    wait_for(lambda: lat.json("status", run)["experiments"][0]["attempts"] == 2, timeout=30, what="a second attempt")
    wait_for(lambda: re.search(r"^\[rank 0\] resumed from step \d+$", lat.run("logs", f"{run}/0").stdout, re.M),
             timeout=120, what="the second attempt resuming from the checkpoint")
    lat.run("cancel", run)
    lat.wait_state(run, ("cancelled", "failed", "succeeded"), timeout=60)
    cluster.start_agent(victim)  # for the tests after this one
    wait_all_ready(cluster)


def test_a_stopped_agent_lets_its_ranks_checkpoint_and_the_gang_loses_no_step(cluster):
    # A machine told it goes away (a preemption notice): its agent gets SIGTERM.
    lat = cluster.lat
    run, survivor, victim = start_training_gang(cluster, steps=100000, step_sleep=0.05, wait_steps=10)
    cluster.agents[victim.index].send_signal(signal.SIGTERM)
    cluster.agents[victim.index].wait(60)
    wait_for(lambda: re.search(r"^\[rank 0\] resumed from step \d+$", lat.run("logs", f"{run}/0").stdout, re.M),
             timeout=120, what="the second attempt resuming")
    first = lat.run("logs", f"{run}/0", "--attempt", "1").stdout
    second = lat.run("logs", f"{run}/0", "--attempt", "2").stdout
    stopped = re.search(r"^\[rank 0\] stopping at step (\d+): asked to stop$", first, re.M)
    resumed = re.search(r"^\[rank 0\] resumed from step (\d+)$", second, re.M)
    assert stopped and resumed, first + second
    assert resumed.group(1) == stopped.group(1), "the stop checkpoint was not the one restored"
    lat.run("cancel", run)
    lat.wait_state(run, ("cancelled", "failed", "succeeded"), timeout=60)
    cluster.start_agent(victim)
    wait_all_ready(cluster)


def test_a_cut_node_stops_the_gang_within_10s_and_it_resumes_elsewhere_from_the_checkpoint(cluster):
    lat = cluster.lat
    run, survivor, victim = start_training_gang(cluster, steps=70, step_sleep=0.1, wait_steps=15)
    survivor_ranks = cluster.ranks_on(survivor)
    assert survivor_ranks and cluster.ranks_on(victim)
    cut_at = time.monotonic()
    victim.cut()
    try:
        _cut_and_resume(cluster, run, victim, survivor_ranks, cut_at)
    finally:
        victim.restore()
    # The cut node comes back: its stale attempt was stopped and it is usable again.
    wait_for(lambda: any(n["id"] == f"h{victim.index}" and n["state"] == "ready" for n in lat.json("nodes")["nodes"]),
             timeout=30, what="the cut node back")
    assert not cluster.ranks_on(victim)


def _cut_and_resume(cluster, run, victim, survivor_ranks, cut_at):
    lat = cluster.lat
    # The server loses the victim and aborts the survivor's ranks; the victim's
    # agent, cut off, stops its own ranks: nothing is left hanging in a collective.
    wait_for(lambda: not any(pid_alive(p) for p in survivor_ranks) and not cluster.ranks_on(victim),
             timeout=15, interval=0.1, what="every rank of the cut gang gone")
    stopped_in = time.monotonic() - cut_at
    assert stopped_in <= 10, f"the gang took {stopped_in:.1f}s to stop"
    doc = lat.wait_state(run, ("succeeded", "failed"), timeout=240)
    exp = doc["experiments"][0]
    log = lat.run("logs", f"{run}/0").stdout
    assert doc["state"] == "succeeded", log
    assert exp["attempts"] == 2 and exp["restarts"] == 1
    resumed = re.search(r"^\[rank 0\] resumed from step (\d+)$", log, re.M)
    assert resumed and int(resumed.group(1)) >= 5, log
    assert exp["node"] != f"h{victim.index}"
    finals = finals_of(log)
    assert len({f[2] for f in finals.values()}) == 1 and {f[3] for f in finals.values()} == {70}, log
    steps = cluster.series(run, "loss")["steps"]
    assert len(steps) == len(set(steps)), "a step was recorded twice"
    assert sorted(steps) == list(range(steps[0], steps[0] + 70)), "a step is missing"
