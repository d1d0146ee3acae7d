"""Several hosts on one machine, for end-to-end tests: a bridge and network namespaces.

    from netns import NetnsCluster, netns_unavailable

    with NetnsCluster(2) as cluster:           # bridge 10.77.K.1, hosts 10.77.K.11, .12
        h1, h2 = cluster.hosts
        p = h1.popen(["python3", "-m", "http.server", "--bind", h1.address, "8000"])
        h2.popen(["curl", f"http://{h1.address}:8000/"]).wait()
        h2.cut()                                # h2's link down: unreachable, connections stall
        h2.restore()                            # and back
    # every process started with popen is killed, namespaces, veths and bridge are gone

A process on this machine reaches a host at host.address; a host reaches this
machine at cluster.bridge_address (so a server bound there or to 0.0.0.0 serves
every host) and the other hosts at their addresses. Each host's interface is
named host.ifname ("eth0"): set GLOO_SOCKET_IFNAME/NCCL_SOCKET_IFNAME to it for
PyTorch, or gloo resolves the hostname to a loopback address and hangs.

Processes start through `nsenter --net=/var/run/netns/NAME`, which changes only
the network namespace (`ip netns exec` also remounts /sys and hides the cgroup
mounts, which some daemons need). Each starts in a new session (its own process
group); cleanup sends SIGTERM to those groups, then SIGKILL, then kills whatever
is still inside the namespaces (`ip netns pids`), then deletes namespaces,
veths and the bridge. Cleanup runs on leaving the `with` block, also on an
exception or KeyboardInterrupt, and at interpreter exit for a cluster never
closed, and on SIGTERM (where SIGTERM had its default effect: the process then
still ends by SIGTERM); leftovers of a process that was killed outright (SIGKILL)
are swept by the next NetnsCluster (names carry the creator's pid).

Names are unique per instance (lt<pid hex>.<n>b for the bridge, ...v<i> for the
host-side veths, ...h<i> for the namespaces) and each instance takes a /24 of
10.77.0.0/16 that no interface on this machine uses (chosen under a lock file),
so concurrent tests never collide. Needs root and iproute2; use
netns_unavailable() (a reason string, or None) to skip otherwise.
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import ipaddress
import itertools
import os
import re
import shutil
import signal
import subprocess
import time
from typing import Optional, Sequence

from harness import pid_alive  # a zombie counts as gone

NETNS_DIR = "/var/run/netns"
LOCK_FILE = "/run/lattice-netns.lock"
NAME_RE = re.compile(r"^lt([0-9a-f]+)\.(\d+)[bvh]\d*$")
IFNAME = "eth0"
_counter = itertools.count()
_live: "set[NetnsCluster]" = set()  # started and not closed yet, for the exit handler


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


@functools.lru_cache(maxsize=None)
def netns_unavailable() -> Optional[str]:
    """None when namespaces can be made here, else why not (for pytest.skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    probe = f"lt{os.getpid():x}.probe"
    r = _ip("netns", "add", probe, check=False)
    if r.returncode != 0:
        return f"`ip netns add` does not work here: {r.stderr.strip()}"
    _ip("netns", "delete", probe, check=False)
    return None


def _tag_of(name: str) -> Optional[str]:
    """The tag of the cluster that name belongs to ("lt1f2e.0" for "lt1f2e.0v1"), or None."""
    m = NAME_RE.match(name)
    return f"lt{m.group(1)}.{m.group(2)}" if m else None


def _killpg(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _link_names() -> list[str]:
    out = _ip("-o", "link", "show").stdout
    return [m.group(1) for m in re.finditer(r"^\d+:\s+([^:@\s]+)", out, re.M)]


def _netns_names() -> list[str]:
    return [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.strip()]


def _kill_netns_pids(ns: str) -> None:
    r = _ip("netns", "pids", ns, check=False)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def sweep_stale() -> None:
    """Deletes namespaces and links left by NetnsClusters of processes that no longer run."""
    for ns in _netns_names():
        m = NAME_RE.match(ns)
        if m and not pid_alive(int(m.group(1), 16)):
            _kill_netns_pids(ns)
            _ip("netns", "delete", ns, check=False)
    for link in _link_names():
        m = NAME_RE.match(link)
        if m and not pid_alive(int(m.group(1), 16)):
            _ip("link", "delete", link, check=False)


def _used_subnets() -> set[int]:
    """The third octets k of every 10.77.k.x address on this machine's interfaces."""
    out = _ip("-o", "-4", "addr", "show").stdout
    return {int(m.group(1)) for m in re.finditer(r"\binet 10\.77\.(\d+)\.", out)}


class NetnsHost:
    """One host: a network namespace joined to the cluster's bridge by a veth pair."""

    def __init__(self, cluster: "NetnsCluster", index: int, netns: str, veth: str, address: str) -> None:
        self.cluster = cluster
        self.index = index          # 0-based
        self.netns = netns          # the namespace's name (/var/run/netns/<netns>)
        self.veth = veth            # the bridge-side end, on this machine
        self.ifname = IFNAME        # the interface inside the namespace
        self.address = address      # of ifname, e.g. 10.77.3.11

    def argv(self, argv: Sequence[str]) -> list[str]:
        """argv as run inside this host's network namespace."""
        return ["nsenter", f"--net={NETNS_DIR}/{self.netns}", "--", *map(str, argv)]

    def popen(self, argv: Sequence[str], **kw) -> subprocess.Popen:
        """Starts argv inside the namespace (subprocess.Popen keywords), in a new session.

        The process and its group are killed at cleanup if still running.
        """
        kw.setdefault("start_new_session", True)
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(self.argv(argv), **kw)
        self.cluster._procs.append(proc)
        return proc

    def run(self, argv: Sequence[str], timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        """Runs argv inside the namespace to its end; stdout and stderr captured as text.

        On timeout its process group is killed and subprocess.TimeoutExpired raised.
        """
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        proc = self.popen(argv, **kw)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _killpg(proc, signal.SIGKILL)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(proc.args, timeout, out, err) from None
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def cut(self) -> None:
        """Takes the host off the network (its veth down): packets are dropped, TCP stalls."""
        _ip("link", "set", self.veth, "down")

    def restore(self) -> None:
        """Puts the host back on the network after cut()."""
        _ip("link", "set", self.veth, "up")

    def __repr__(self) -> str:
        return f"NetnsHost({self.netns}, {self.address})"


class NetnsCluster:
    """A bridge on this machine and n_hosts namespace hosts on it; a context manager."""

    def __init__(self, n_hosts: int, grace: float = 2.0) -> None:
        """grace: seconds cleanup waits after SIGTERM before SIGKILL."""
        if not 1 <= n_hosts <= 50:
            raise ValueError(f"n_hosts must be 1..50, not {n_hosts}")
        self.n_hosts = n_hosts
        self.grace = grace
        self.tag = f"lt{os.getpid():x}.{next(_counter)}"
        self.bridge = f"{self.tag}b"
        if len(self.bridge) + 3 > 15:  # ...v<i> must fit IFNAMSIZ
            raise RuntimeError(f"interface names from {self.tag!r} would be too long")
        self.subnet: Optional[ipaddress.IPv4Network] = None
        self.bridge_address: Optional[str] = None
        self.hosts: list[NetnsHost] = []
        self._procs: list[subprocess.Popen] = []
        self._created_bridge = False
        self._closed = False

    # -- set-up -------------------------------------------------------------------------------

    def __enter__(self) -> "NetnsCluster":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> "NetnsCluster":
        reason = netns_unavailable()
        if reason:
            raise RuntimeError(reason)
        _live.add(self)
        _clean_up_on_sigterm()
        os.makedirs(os.path.dirname(LOCK_FILE), exist_ok=True)
        with open(LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # subnet choice and creation, one cluster at a time
            sweep_stale()
            used = _used_subnets()
            k = next((k for k in range(1, 255) if k not in used), None)
            if k is None:
                raise RuntimeError("every 10.77.k.0/24 is in use")
            self.subnet = ipaddress.IPv4Network(f"10.77.{k}.0/24")
            self.bridge_address = f"10.77.{k}.1"
            _ip("link", "add", self.bridge, "type", "bridge")
            self._created_bridge = True
            _ip("addr", "add", f"{self.bridge_address}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i in range(self.n_hosts):
                self._add_host(i, k)
        return self

    def _add_host(self, i: int, k: int) -> None:
        netns, veth, address = f"{self.tag}h{i}", f"{self.tag}v{i}", f"10.77.{k}.{11 + i}"
        _ip("netns", "add", netns)
        self.hosts.append(NetnsHost(self, i, netns, veth, address))  # recorded first: cleanup deletes it
        _ip("link", "add", veth, "type", "veth", "peer", "name", IFNAME, "netns", netns)
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", netns, "addr", "add", f"{address}/24", "dev", IFNAME)
        _ip("-n", netns, "link", "set", IFNAME, "up")
        _ip("-n", netns, "link", "set", "lo", "up")

    # -- clean-up -----------------------------------------------------------------------------

    def close(self, grace: Optional[float] = None) -> None:
        """Kills every process started here (SIGTERM to each process group, SIGKILL after grace
        seconds, default self.grace), deletes namespaces, veths and bridge. Idempotent."""
        if self._closed:
            return
        grace = self.grace if grace is None else grace
        self._closed = True
        running = [p for p in self._procs if p.poll() is None]
        for p in running:
            _killpg(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in running:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self._procs:  # also groups whose leader exited: they may still hold children
            _killpg(p, signal.SIGKILL)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        errors = []
        for h in self.hosts:
            _kill_netns_pids(h.netns)  # anything that left its process group
            for args in (("link", "delete", h.veth), ("netns", "delete", h.netns)):
                r = _ip(*args, check=False)
                if r.returncode != 0 and "Cannot find device" not in r.stderr and "No such file" not in r.stderr:
                    errors.append(f"ip {' '.join(args)}: {r.stderr.strip()}")
        if self._created_bridge:
            r = _ip("link", "delete", self.bridge, check=False)
            if r.returncode != 0 and "Cannot find device" not in r.stderr:
                errors.append(f"ip link delete {self.bridge}: {r.stderr.strip()}")
        _live.discard(self)
        if errors:
            raise RuntimeError("NetnsCluster cleanup: " + "; ".join(errors))

    def leftovers(self) -> list[str]:
        """Namespaces and links of this cluster that still exist (empty after close())."""
        return sorted(n for n in _netns_names() + _link_names() if _tag_of(n) == self.tag)

    def __repr__(self) -> str:
        return f"NetnsCluster({self.tag}, {self.subnet}, {self.hosts})"


@atexit.register
def _close_live() -> None:
    for c in list(_live):
        try:
            c.close(grace=0.5)
        except Exception:
            pass


def _on_sigterm(signum: int, frame: object) -> None:
    """Cleans up, then dies of SIGTERM as the process would have without this handler."""
    _close_live()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _clean_up_on_sigterm() -> None:
    """A SIGTERM to a process holding clusters (a test run being stopped) cleans them up first.

    Installed only where SIGTERM still has its default effect, and only from the main thread.
    """
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        pass


def torchrun_argv(python: str, script: str, script_args: Sequence[str], *, nnodes: int, node_rank: int,
                  master_addr: str, master_port: int, nproc_per_node: int = 1, log_dir: str) -> list[str]:
    """`python -m torch.distributed.run` (torchrun) for a static multi-node rendezvous.

    With Debian's torch 1.13 on Python 3.11, torchrun's default `--redirects 0 --tee 0`
    fails ("'NoneType' object has no attribute 'get'"): its Std.from_str looks the value up
    by iterating an IntFlag, and Python 3.11 no longer yields the 0-valued member. So this
    passes `--redirects 2 --tee 2`: the workers' stderr also goes to files under log_dir
    and to our stderr with a "[default<local rank>]:" prefix; stdout is untouched.
    """
    return [python, "-m", "torch.distributed.run", "--nnodes", str(nnodes), "--nproc_per_node",
            str(nproc_per_node), "--node_rank", str(node_rank), "--master_addr", master_addr,
            "--master_port", str(master_port), "--redirects", "2", "--tee", "2", "--log_dir", log_dir,
            "--monitor_interval", "0.2", script, *map(str, script_args)]


def skip_unless_netns() -> None:
    """pytest.skip() with the reason when namespaces cannot be made here (not root, no iproute2)."""
    import pytest
    reason = netns_unavailable()
    if reason:
        pytest.skip(f"needs network namespaces: {reason}")


try:
    import pytest as _pytest
except ImportError:  # importable without pytest, e.g. by a benchmark
    _pytest = None

if _pytest is not None:
    @_pytest.fixture
    def netns_cluster():
        """Factory fixture: netns_cluster(n_hosts) -> a started NetnsCluster, closed at teardown.

        Skips the test when namespaces cannot be made here. Import it into a test
        module (`from netns import netns_cluster  # noqa: F401`) to use it.
        """
        skip_unless_netns()
        made: list[NetnsCluster] = []

        def make(n_hosts: int) -> NetnsCluster:
            cluster = NetnsCluster(n_hosts).__enter__()
            made.append(cluster)
            return cluster

        yield make
        errors = []
        for c in reversed(made):
            try:
                c.close()
            except RuntimeError as e:
                errors.append(str(e))
        assert not errors, errors
