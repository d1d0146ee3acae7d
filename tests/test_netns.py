"""Tests of tests/netns.py (several hosts on one machine) and a real 2-node
DDP run of examples/ddp/train.py across two namespace hosts under torchrun.

Skipped without root or iproute2. Traffic goes only to the namespaces made here.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import netns
from netns import NetnsCluster, netns_cluster, torchrun_argv  # noqa: F401 (netns_cluster is a fixture)

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
DDP_EXAMPLE = REPO / "examples" / "ddp" / "train.py"

# Connects to ADDR:PORT and prints what the server sends, or "unreachable <error>".
CONNECT = textwrap.dedent("""
    import socket, sys
    try:
        with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
            print(s.recv(100).decode())
    except OSError as e:
        print("unreachable", type(e).__name__)
""")

# Listens on ADDR:PORT, prints "listening", then answers every connection with NAME.
SERVE = textwrap.dedent("""
    import socket, sys
    srv = socket.create_server((sys.argv[1], int(sys.argv[2])))
    print("listening", flush=True)
    while True:
        c, _ = srv.accept()
        c.sendall(sys.argv[3].encode())
        c.close()
""")


@pytest.fixture(autouse=True)
def needs_netns():
    netns.skip_unless_netns()


def connect(host, addr, port, timeout=2.0):
    """What host gets from addr:port ("unreachable ..." when it cannot connect)."""
    return host.run([sys.executable, "-c", CONNECT, addr, port, timeout], timeout=30).stdout.strip()


def serve_here(addr, name):
    """A listening socket on this machine that answers with name, served by a thread until
    the socket is closed; (socket, port)."""
    srv = socket.create_server((addr, 0))
    srv.settimeout(0.2)  # so that the thread notices the close

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.sendall(name.encode())
            c.close()
    threading.Thread(target=loop, daemon=True).start()
    return srv, srv.getsockname()[1]


def serve_in(host, port, name):
    p = host.popen([sys.executable, "-u", "-c", SERVE, host.address, port, name], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "listening"
    return p


def test_hosts_reach_the_bridge_and_each_other(netns_cluster):
    cluster = netns_cluster(2)
    h1, h2 = cluster.hosts
    k = cluster.subnet.network_address.packed[2]
    assert (cluster.bridge_address, h1.address, h2.address) == (f"10.77.{k}.1", f"10.77.{k}.11", f"10.77.{k}.12")
    assert str(cluster.subnet) == f"10.77.{k}.0/24" and h1.ifname == h2.ifname == "eth0"
    assert f"inet {h1.address}/24" in h1.run(["ip", "-o", "-4", "addr", "show", "eth0"]).stdout

    srv, port = serve_here(cluster.bridge_address, "bridge")
    try:
        assert connect(h1, cluster.bridge_address, port) == "bridge"
        assert connect(h2, cluster.bridge_address, port) == "bridge"
    finally:
        srv.close()
    serve_in(h1, 7001, "h1")
    serve_in(h2, 7002, "h2")
    assert connect(h2, h1.address, 7001) == "h1"
    assert connect(h1, h2.address, 7002) == "h2"
    # This machine reaches the hosts too, and a host's own loopback is its own.
    with socket.create_connection((h1.address, 7001), timeout=2) as s:
        assert s.recv(10) == b"h1"
    assert connect(h2, "127.0.0.1", 7001).startswith("unreachable")


def test_cut_makes_a_host_unreachable_and_restore_brings_it_back(netns_cluster):
    cluster = netns_cluster(2)
    h1, h2 = cluster.hosts
    serve_in(h1, 7001, "h1")
    assert connect(h2, h1.address, 7001) == "h1"

    h1.cut()
    srv, port = serve_here(cluster.bridge_address, "bridge")
    try:
        assert connect(h2, h1.address, 7001, timeout=1).startswith("unreachable")
        assert connect(h1, cluster.bridge_address, port, timeout=1).startswith("unreachable")
        assert connect(h2, cluster.bridge_address, port) == "bridge"  # the others are unaffected

        h1.restore()
        deadline = time.monotonic() + 10
        while (got := connect(h2, h1.address, 7001, timeout=1)) != "h1" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert got == "h1"
        assert connect(h1, cluster.bridge_address, port) == "bridge"
    finally:
        srv.close()


def ip_state():
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return links, spaces


def wait_gone(pid, timeout=5.0):
    """Whether pid is gone (or a zombie, waiting for init to reap it) within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.02)
    return False


def test_cleanup_kills_processes_and_deletes_everything():
    with NetnsCluster(2, grace=0.5) as cluster:
        h1, h2 = cluster.hosts
        names = [cluster.bridge, h1.veth, h2.veth, h1.netns, h2.netns]
        links, spaces = ip_state()
        assert all(n in links for n in names[:3]) and all(n in spaces for n in names[3:])
        # One process that ignores SIGTERM, one with a child in its group, one that left its group.
        stubborn = h1.popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                             "signal.SIG_IGN); print('up', flush=True); time.sleep(600)"],
                            stdout=subprocess.PIPE, text=True)
        assert stubborn.stdout.readline().strip() == "up"
        parent = h2.popen(["sh", "-c", "sleep 600 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
        child = int(parent.stdout.readline())
        escaped = h2.popen(["setsid", "-f", "sh", "-c", "echo $$; exec sleep 600"], stdout=subprocess.PIPE,
                           text=True)
        runaway = int(escaped.stdout.readline())
        assert netns.pid_alive(child) and netns.pid_alive(runaway)
    assert stubborn.poll() == -signal.SIGKILL and parent.poll() is not None
    assert wait_gone(child) and wait_gone(runaway)
    links, spaces = ip_state()
    assert [n for n in names if n in links or n in spaces] == []
    assert cluster.leftovers() == []
    assert not os.path.exists(f"/var/run/netns/{h1.netns}")


def test_cleanup_on_failure_and_interrupt():
    for exc in (AssertionError, KeyboardInterrupt):
        with pytest.raises(exc):
            with NetnsCluster(1) as cluster:
                proc = cluster.hosts[0].popen(["sleep", "600"])
                raise exc("the test failed here")
        assert proc.poll() is not None and cluster.leftovers() == []


HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from netns import NetnsCluster
    c = NetnsCluster(1).start()
    p = c.hosts[0].popen(["sleep", "600"])
    print(c.tag, p.pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_process_holding_a_cluster_is_stopped(sig):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(Path(__file__).parent)], stdout=subprocess.PIPE,
                              text=True)
    tag, pid = holder.stdout.readline().split()
    holder.send_signal(sig)
    assert holder.wait(timeout=30) == -sig
    if sig == signal.SIGKILL:  # no chance to clean up: the next cluster sweeps
        assert any(n.startswith(tag) for n in netns._netns_names())
        NetnsCluster(1).__enter__().close()
    else:
        assert wait_gone(int(pid))
    assert [n for n in netns._netns_names() + netns._link_names() if netns._tag_of(n) == tag] == []
    assert wait_gone(int(pid))


def test_leftovers_of_a_dead_process_are_swept_and_clusters_do_not_collide():
    # Names of a cluster whose creator was killed outright (a pid that has exited).
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale_ns, stale_link = f"lt{dead.pid:x}.0h0", f"lt{dead.pid:x}.0b"
    subprocess.run(["ip", "netns", "add", stale_ns], check=True)
    subprocess.run(["ip", "link", "add", stale_link, "type", "bridge"], check=True)
    try:
        with NetnsCluster(1) as a, NetnsCluster(1) as b:
            links, spaces = ip_state()
            assert stale_ns not in spaces and stale_link not in links
            assert a.subnet != b.subnet and a.bridge != b.bridge and a.hosts[0].netns != b.hosts[0].netns
            assert connect(a.hosts[0], b.hosts[0].address, 9, timeout=1).startswith("unreachable")
    finally:
        subprocess.run(["ip", "netns", "delete", stale_ns], capture_output=True)
        subprocess.run(["ip", "link", "delete", stale_link], capture_output=True)


def final_lines(text):
    return [line for line in text.splitlines() if line.startswith("final ")]


def run_torchrun_gang(cluster, tmp_path, script_args, timeout=60):
    """examples/ddp/train.py under torchrun, one node per host, all at once; [(rc, stdout, stderr)]."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATTICE_")}
    env.update(PYTHONPATH=str(REPO / "sdk" / "python"), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore",
               PYTHONFAULTHANDLER="1")  # SIGABRT prints every thread's stack: see below
    procs, files = [], []
    for node_rank, host in enumerate(cluster.hosts):
        node_env = dict(env, GLOO_SOCKET_IFNAME=host.ifname, LATTICE_CHECKPOINT_DIR=str(tmp_path / f"ckpt{node_rank}"))
        argv = torchrun_argv(PYTHON, str(DDP_EXAMPLE), script_args, nnodes=len(cluster.hosts), node_rank=node_rank,
                             master_addr=cluster.hosts[0].address, master_port=29500,
                             log_dir=str(tmp_path / f"torchrun{node_rank}"))
        out, err = tmp_path / f"node{node_rank}.out", tmp_path / f"node{node_rank}.err"
        files.append((out, err))
        with out.open("w") as stdout, err.open("w") as stderr:
            procs.append(host.popen(argv, env=node_env, cwd=tmp_path, stdout=stdout, stderr=stderr))
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    if any(p.poll() is None for p in procs):
        for p in procs:  # where they hang: torchrun agents and their workers, all in its process group
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGABRT)
        time.sleep(2)
    results = [(p.poll(), out.read_text(), err.read_text()) for p, (out, err) in zip(procs, files)]
    if any(rc == -signal.SIGABRT for rc, _, _ in results):
        pytest.fail(f"torchrun did not finish within {timeout} s:\n" + "\n".join(
            f"node {i}: exit {rc}\nstdout:\n{out}\nstderr:\n{err[-8000:]}" for i, (rc, out, err) in enumerate(results)))
    return results


def test_ddp_example_across_two_hosts_under_torchrun(netns_cluster, tmp_path):
    cluster = netns_cluster(2)
    results = run_torchrun_gang(cluster, tmp_path, ["--steps", "40", "--ckpt-every", "20", "--throughput"])
    for rc, out, err in results:
        assert rc == 0, f"exit {rc}\n{out}\n{err[-3000:]}"
    finals = [final_lines(out) for _, out, _ in results]
    assert [len(f) for f in finals] == [1, 1], results
    fields = [dict(kv.split("=") for kv in f[0].split()[1:]) for f in finals]
    assert [(f["rank"], f["world"], f["step"]) for f in fields] == [("0", "2", "40"), ("1", "2", "40")]
    assert fields[0]["params_sha256"] == fields[1]["params_sha256"] and len(fields[0]["params_sha256"]) == 64
    assert float(results[0][1].split("throughput steps_per_s=")[1].split()[0]) > 0
    # Only rank 0 (node 0) writes checkpoints.
    assert sorted(p.name for p in (tmp_path / "ckpt0").iterdir()) == ["step-00000020.pt", "step-00000040.pt"]
    assert not (tmp_path / "ckpt1").exists() or list((tmp_path / "ckpt1").iterdir()) == []
