"""Real OpenSSH servers inside network-namespace hosts (tests/netns.py), for tests of
the ssh backend: it ssh-es into hosts as root, copies a binary and starts it.

    from netns import NetnsCluster
    from sshd import SshHosts, sshd_unavailable

    with NetnsCluster(2) as cluster, SshHosts(cluster, tmp_path) as ssh:
        h1 = cluster.hosts[0]
        ssh.run(h1, "hostname -I").stdout         # "10.77.K.11 \n": runs inside h1's namespace
        ssh.host_spec(h1)                         # "root@10.77.K.11", Lattice's [user@]host[:port]
        ssh.ssh_argv(h1, "uname", "-a")           # an ssh command line, for subprocess
        ssh.identity, ssh.known_hosts             # client private key, known_hosts file
        ssh.kill_sshd(h1); ssh.start_sshd(h1)     # "Connection refused" in between
        ssh.rotate_host_key(h1)                   # the known_hosts entry for h1 is now wrong
    # every sshd and every process started through them is gone

Each host runs `/usr/sbin/sshd -D -e -f <tmp>/hostN/sshd_config` through host.popen
(nsenter: its own network namespace, but this machine's filesystem, users and
processes). So a "remote" root login lands in this machine's /root, sees the same
files and its processes show up in this machine's `ps`. Only the network differs.
Everything this module writes is in the temp directory (keys, configs, known_hosts,
logs, pid files) except /run/sshd, the privilege separation directory sshd insists
on; nothing under /root/.ssh or /etc/ssh is written or used for configuration (the
client runs with `-F none` and its own key and known_hosts, the servers with their own
config and `PermitUserRC no`).

Cleanup. sshd forks a child per connection and that child calls setsid(); the command
of a session without a tty runs in yet another new session. Killing the listener's
process group therefore reaches no session, and a remote command without a tty
outlives its connection: it gets no SIGHUP (measured in tests/test_sshd_infra.py).
So the listener runs with LATTICE_SSHD_TAG=<tag> in its environment (inherited by its
per-connection children) and the config's `SetEnv` gives the same variable to every
session (remote commands see it). close() kills every process carrying the tag, the
sessions and process groups of those, the listeners' descendants, and anything in the
hosts' namespaces with the temp directory in its command line. If the test process
dies before close(), NetnsCluster's own cleanup (its SIGTERM handler, atexit, or the
next cluster's sweep_stale()) kills every process in the namespaces, these included.

Needs root (namespaces, and sshd binds port 22 and switches users), openssh-server and
openssh-client; sshd_unavailable() says why not (a reason string) or None.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterable, Optional

from harness import pid_alive  # a zombie counts as gone
from netns import NETNS_DIR, NetnsCluster, NetnsHost, netns_unavailable

SSHD = "/usr/sbin/sshd"  # absolute: sshd re-executes itself per connection and refuses a relative path
PRIVSEP_DIR = "/run/sshd"  # compiled into Debian's sshd; it exits with "Missing privilege separation directory"
TAG_VAR = "LATTICE_SSHD_TAG"
USER = "root"
_counter = itertools.count()


@functools.lru_cache(maxsize=None)
def sshd_unavailable() -> Optional[str]:
    """None when SshHosts can run here, else why not (for pytest.skip)."""
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} is not installed (apt-get install openssh-server)"
    for tool in ("ssh", "ssh-keygen", "scp"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install openssh-client)"
    reason = netns_unavailable()
    if reason:
        return reason
    try:
        import pwd
        pwd.getpwnam("sshd")
    except KeyError:  # sshd: "Privilege separation user sshd does not exist"
        return "the privilege separation user `sshd` does not exist"
    # With UsePAM no, sshd itself refuses a locked account even for a key ("User root not allowed
    # because account is locked"); Linux marks a locked password with a leading "!".
    try:
        with open("/etc/shadow") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name == USER and rest.startswith("!"):
                    return "root's account is locked (password field starts with '!'): sshd refuses it without PAM"
    except OSError:
        pass
    return None


def _keygen(path: Path, comment: str) -> None:
    """A new ed25519 key pair at path and path.pub (replacing any), no passphrase, mode 0600."""
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)  # ssh-keygen would ask "Overwrite (y/n)?"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=True)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # gone meanwhile, or a kernel thread
        return b""


def _stat_fields(pid: int) -> Optional[tuple[int, int, int]]:
    """(ppid, pgid, sid) of a live, non-zombie process, else None."""
    text = _read(f"/proc/{pid}/stat").decode(errors="replace")
    if not text:
        return None
    fields = text.rsplit(")", 1)[-1].split()  # the command name in (...) may hold spaces
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[2]), int(fields[3])


def _netns_inode(pid: int) -> Optional[int]:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


class SshHosts:
    """An sshd in each host of a started NetnsCluster; root logs in with a key made here.

    A context manager; close() is idempotent. All files live under tmp_dir:
        client_ed25519[.pub], authorized_keys, known_hosts,
        hostN/{ssh_host_ed25519_key[.pub], sshd_config, sshd.pid, sshd.log}
    """

    def __init__(self, cluster: NetnsCluster, tmp_dir: os.PathLike | str, port: int = 22,
                 prefill_known_hosts: bool = True, connect_timeout: int = 5) -> None:
        """Makes the keys and configs and starts every sshd (waiting until each accepts TCP).

        port: the same for every host (each has its own namespace, so 22 never clashes).
        prefill_known_hosts: write every host's key into known_hosts now, so the first ssh
        already verifies it (False: start empty and let StrictHostKeyChecking=accept-new learn).
        """
        if not cluster.hosts:
            raise ValueError("the NetnsCluster must be started (it has no hosts)")
        self.cluster = cluster
        self.hosts: list[NetnsHost] = list(cluster.hosts)
        self.dir = Path(tmp_dir).resolve()  # absolute: it goes into configs and ssh options
        self.port = port
        self.connect_timeout = connect_timeout
        self.tag = f"lt-sshd-{os.getpid():x}-{next(_counter)}"
        self._procs: dict[int, subprocess.Popen] = {}  # host index -> its running listener
        self._closed = False
        self._netns_inodes = {os.stat(f"{NETNS_DIR}/{h.netns}").st_ino for h in self.hosts}
        try:
            self._set_up(prefill_known_hosts)
            for h in self.hosts:
                self.start_sshd(h)
        except BaseException:
            self.close()
            raise

    def _set_up(self, prefill_known_hosts: bool) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # sshd checks that this directory exists, is owned by root and not group/world writable
        # ("/run/sshd must be owned by root and not group or world-writable.").
        if not os.path.isdir(PRIVSEP_DIR):
            os.makedirs(PRIVSEP_DIR, exist_ok=True)
            os.chmod(PRIVSEP_DIR, 0o755)
        _keygen(self.identity, f"lattice-test-client@{self.tag}")
        shutil.copyfile(self.identity.with_name(self.identity.name + ".pub"), self.authorized_keys)
        self.known_hosts.write_text("")
        for h in self.hosts:
            self._host_dir(h).mkdir(exist_ok=True)
            _keygen(self._host_key(h), f"{h.netns}@{self.tag}")
            self._write_config(h)
        if prefill_known_hosts:
            self.known_hosts.write_text("".join(self.known_hosts_line(h) for h in self.hosts))

    # -- paths ----------------------------------------------------------------------------------

    @property
    def identity(self) -> Path:
        """The client's private key (ed25519, no passphrase, 0600): ssh -i, Lattice's `identity`."""
        return self.dir / "client_ed25519"

    @property
    def known_hosts(self) -> Path:
        """The client's known_hosts (ssh -o UserKnownHostsFile=...)."""
        return self.dir / "known_hosts"

    @property
    def authorized_keys(self) -> Path:
        return self.dir / "authorized_keys"

    def _host_dir(self, host: NetnsHost) -> Path:
        return self.dir / f"host{host.index}"

    def _host_key(self, host: NetnsHost) -> Path:
        return self._host_dir(host) / "ssh_host_ed25519_key"

    def config_path(self, host: NetnsHost) -> Path:
        return self._host_dir(host) / "sshd_config"

    def log_path(self, host: NetnsHost) -> Path:
        """sshd's log (its stderr, -e) for this host; appended to across restarts."""
        return self._host_dir(host) / "sshd.log"

    def log_tail(self, host: NetnsHost, n: int = 4000) -> str:
        return _read(str(self.log_path(host)))[-n:].decode(errors="replace")

    # -- addressing -----------------------------------------------------------------------------

    def destination(self, host: NetnsHost) -> str:
        """ssh's destination argument: root@ADDRESS (the port goes in -p)."""
        return f"{USER}@{host.address}"

    def host_spec(self, host: NetnsHost) -> str:
        """Lattice's host form [user@]host[:port]: root@ADDRESS, plus :PORT when not 22."""
        return self.destination(host) + ("" if self.port == 22 else f":{self.port}")

    def host_public_key(self, host: NetnsHost) -> str:
        """The host's current public key, "ssh-ed25519 AAAA... comment"."""
        return self._host_key(host).with_name(self._host_key(host).name + ".pub").read_text().strip()

    def known_hosts_line(self, host: NetnsHost) -> str:
        """A known_hosts line for the host's current key ("[ADDR]:PORT" when the port is not 22)."""
        name = host.address if self.port == 22 else f"[{host.address}]:{self.port}"
        return f"{name} {self.host_public_key(host)}\n"

    def client_options(self) -> list[str]:
        """The options ssh_argv and scp_argv use, without the port (for other ssh-based tools).

        -F none: no ~/.ssh/config or /etc/ssh/ssh_config, whose Host/ProxyJump/... could send
        traffic elsewhere or change behaviour; IdentitiesOnly: only our key, not an agent's;
        GlobalKnownHostsFile=/dev/null: only our known_hosts counts.
        """
        return ["-F", "none", "-i", str(self.identity), "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
                "-o", f"ConnectTimeout={self.connect_timeout}"]

    def ssh_argv(self, host: NetnsHost, *remote: str) -> list[str]:
        """`ssh [options] root@ADDRESS REMOTE...` run from this machine (outside the namespaces).

        As with ssh itself, REMOTE words are joined by spaces and run by root's shell on the
        host (bash -c), so shell syntax works and arguments with spaces need shlex.quote.
        """
        port = [] if self.port == 22 else ["-p", str(self.port)]
        return ["ssh", *self.client_options(), *port, self.destination(host), *remote]

    def scp_argv(self, *args: str) -> list[str]:
        """`scp [options] ARGS...`; name remote files as f"{ssh.destination(host)}:{path}"."""
        port = [] if self.port == 22 else ["-P", str(self.port)]
        return ["scp", "-q", *self.client_options(), *port, *args]

    def run(self, host: NetnsHost, *remote: str, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """Runs ssh_argv(host, *remote) to its end (subprocess.run keywords; text, output captured)."""
        kw.setdefault("capture_output", "stdout" not in kw and "stderr" not in kw)
        kw.setdefault("text", True)
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)  # else ssh would read the test's stdin
        return subprocess.run(self.ssh_argv(host, *remote), timeout=timeout, **kw)

    # -- servers --------------------------------------------------------------------------------

    def _write_config(self, host: NetnsHost) -> None:
        d = self._host_dir(host)
        lines = [
            "# One test host's sshd, written by tests/sshd.py (see there); not the machine's /etc/ssh.",
            f"Port {self.port}",
            f"ListenAddress {host.address}",  # this host's address only: never 0.0.0.0 on the machine
            "AddressFamily inet",
            f"HostKey {self._host_key(host)}",
            f"PidFile {d / 'sshd.pid'}",
            # Absolute, in the temp dir. StrictModes would reject it, since /tmp is world-writable: the
            # client sees "Permission denied (publickey)." and the log says "Authentication refused:
            # bad ownership or modes for directory /tmp".
            f"AuthorizedKeysFile {self.authorized_keys}",
            "StrictModes no",
            "PermitRootLogin prohibit-password",  # keys only, as the backend logs in
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            # No PAM: Debian's /etc/pam.d/sshd would run pam_loginuid, pam_motd, pam_env etc. on this
            # machine. The price: sshd then itself refuses a locked account (see sshd_unavailable).
            "UsePAM no",
            "PermitUserRC no",  # /root/.ssh/rc is this machine's: never run it
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "UseDNS no",  # no reverse lookup of the client's address (no traffic, no delay)
            "Subsystem sftp internal-sftp",  # scp speaks SFTP since OpenSSH 9.0
            "LogLevel VERBOSE",
            "MaxStartups 200",  # default 10:30:100 drops concurrent unauthenticated connections
            "MaxSessions 100",
            "LoginGraceTime 30",
            f"SetEnv {TAG_VAR}={self.tag}",  # marks every session's processes for close()
        ]
        self.config_path(host).write_text("\n".join(lines) + "\n")

    def sshd_running(self, host: NetnsHost) -> bool:
        p = self._procs.get(host.index)
        return p is not None and p.poll() is None

    def sshd_pid(self, host: NetnsHost) -> Optional[int]:
        """The pid of the host's listening sshd (on this machine: one pid namespace), None if stopped."""
        return self._procs[host.index].pid if self.sshd_running(host) else None

    def start_sshd(self, host: NetnsHost, timeout: float = 10.0) -> None:
        """Starts the host's sshd (if not running) and waits until it accepts TCP connections."""
        if self._closed:
            raise RuntimeError("SshHosts is closed")
        if self.sshd_running(host):
            return
        config = str(self.config_path(host))
        # `sshd -t` checks config and host key and says what is wrong, before we wait for a port.
        check = host.run([SSHD, "-t", "-f", config], timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"sshd -t -f {config} failed ({check.returncode}): {check.stderr.strip()}")
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               TAG_VAR: self.tag}
        with open(self.log_path(host), "ab") as log:
            proc = host.popen([SSHD, "-D", "-e", "-f", config], stdout=log, stderr=subprocess.STDOUT, env=env)
        self._procs[host.index] = proc
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd on {host} exited with {proc.returncode}:\n{self.log_tail(host)}")
            try:
                # A TCP connect from this machine proves the listener is up in the namespace, on the
                # bridge. sshd just logs it ("Connection closed by ... [preauth]" or similar).
                with socket.create_connection((host.address, self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd on {host} did not accept TCP within {timeout}s:\n{self.log_tail(host)}")
            time.sleep(0.02)

    def kill_sshd(self, host: NetnsHost, sessions: bool = False) -> None:
        """Stops the host's listening sshd (SIGTERM, then SIGKILL): new connections get
        "Connection refused". Established sessions go on, as with a real sshd restart, unless
        sessions=True, which kills them and every process started through them as well."""
        proc = self._procs.pop(host.index, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if sessions:
            self._kill_until_gone(lambda: self._targets(only=host), "sessions of " + repr(host))

    def forget_host_key(self, host: NetnsHost) -> None:
        """Removes the host's lines from known_hosts (ssh-keygen -R): next ssh learns the key anew."""
        name = host.address if self.port == 22 else f"[{host.address}]:{self.port}"
        subprocess.run(["ssh-keygen", "-R", name, "-f", str(self.known_hosts)], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30, check=True)
        Path(str(self.known_hosts) + ".old").unlink(missing_ok=True)

    def rotate_host_key(self, host: NetnsHost, update_known_hosts: bool = False) -> None:
        """Gives the host a new host key and restarts its sshd (sessions go on).

        known_hosts keeps the old key unless update_known_hosts, so ssh now fails with
        "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!" ... "Host key verification failed.".
        """
        self.kill_sshd(host)
        _keygen(self._host_key(host), f"{host.netns}@{self.tag}")
        if update_known_hosts:
            self.forget_host_key(host)
            with open(self.known_hosts, "a") as f:
                f.write(self.known_hosts_line(host))
        self.start_sshd(host)

    # -- clean-up -------------------------------------------------------------------------------

    def _targets(self, only: Optional[NetnsHost] = None) -> dict[int, tuple[int, int, int]]:
        """pid -> (ppid, pgid, sid) of every live process that close() must end.

        Those with our tag in their environment (listeners, per-connection sshds, sessions), all
        in the sessions and process groups of those, the listeners' descendants (that cleared
        their environment), and (for close) processes in the hosts' namespaces that have the temp
        directory in their command line. Never this process, its group or its session.
        """
        marker = f"{TAG_VAR}={self.tag}".encode()
        tmp = str(self.dir).encode()
        own = (os.getpid(), os.getpgrp(), os.getsid(0))
        inodes = self._netns_inodes
        if only is not None:
            inodes = {os.stat(f"{NETNS_DIR}/{only.netns}").st_ino}
        procs: dict[int, tuple[int, int, int]] = {}
        for pid in _all_pids():
            st = _stat_fields(pid)
            if st is not None and pid != own[0]:
                procs[pid] = st
        found: set[int] = set()
        for pid in procs:
            if _netns_inode(pid) not in inodes:
                continue  # a client on this machine, or some other namespace's process
            if marker in _read(f"/proc/{pid}/environ").split(b"\0"):
                found.add(pid)
            elif only is None and tmp in _read(f"/proc/{pid}/cmdline"):
                found.add(pid)
        listeners = {p.pid for i, p in self._procs.items() if only is None or i == only.index}
        found |= listeners & procs.keys()
        # Descendants of everything found so far (parent links), then whole sessions/groups.
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in procs.items():
            children.setdefault(ppid, []).append(pid)
        stack = list(found)
        while stack:
            for c in children.get(stack.pop(), ()):
                if c not in found:
                    found.add(c)
                    stack.append(c)
        groups = {procs[p][1] for p in found} - {own[1], 0, 1}
        sessions = {procs[p][2] for p in found} - {own[2], 0, 1}
        found |= {pid for pid, (_, pgid, sid) in procs.items() if pgid in groups or sid in sessions}
        found.discard(own[0])
        return {pid: procs[pid] for pid in found}

    def _kill_until_gone(self, targets, what: str, timeout: float = 10.0) -> None:
        """SIGKILLs targets() (and their process groups) until none is left; raises if that fails."""
        deadline = time.monotonic() + timeout
        while True:
            left = targets()
            if not left:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"SshHosts: could not end {what}: {'; '.join(self._describe(left))}")
            own_pgid = os.getpgrp()
            for pid, (_, pgid, _) in left.items():
                for kill, target in ((os.kill, pid), (os.killpg, pgid)):
                    if kill is os.killpg and pgid in (own_pgid, 0, 1):
                        continue
                    try:
                        kill(target, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            time.sleep(0.05)

    @staticmethod
    def _describe(pids: Iterable[int]) -> list[str]:
        return [f"{pid}: " + _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace").strip()
                for pid in sorted(pids)]

    def leftovers(self) -> list[str]:
        """"PID: CMDLINE" of each process close() would end (empty after close())."""
        return self._describe(self._targets())

    def close(self, grace: float = 2.0) -> None:
        """Stops every sshd (SIGTERM, grace seconds), then SIGKILLs every process started through
        them and checks none is left. Idempotent; raises RuntimeError if something survives."""
        if self._closed:
            return
        self._closed = True
        for p in self._procs.values():
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + grace
        for p in self._procs.values():
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        try:
            # Listeners that ignored SIGTERM are still in _procs, so _targets finds them.
            self._kill_until_gone(self._targets, "the processes started through sshd")
        finally:
            for p in self._procs.values():
                try:
                    p.wait(timeout=5)  # reap our children (the listeners)
                except subprocess.TimeoutExpired:
                    pass
            self._procs.clear()

    def __enter__(self) -> "SshHosts":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SshHosts({self.tag}, {self.dir}, {self.hosts})"


def skip_unless_sshd() -> None:
    """pytest.skip() with the reason when SshHosts cannot run here."""
    import pytest
    reason = sshd_unavailable()
    if reason:
        pytest.skip(f"needs sshd in network namespaces: {reason}")


try:
    import pytest as _pytest
except ImportError:  # importable without pytest
    _pytest = None

if _pytest is not None:
    @_pytest.fixture(scope="module")
    def ssh_hosts(tmp_path_factory):
        """(NetnsCluster, SshHosts): 2 namespace hosts, each with a running sshd; one per module.

        Skips when unavailable. Import it into a test module
        (`from sshd import ssh_hosts  # noqa: F401`). Tests that kill or cut a host should
        bring it back (start_sshd, restore) before they end: the hosts are shared.
        """
        skip_unless_sshd()
        with NetnsCluster(2) as cluster, SshHosts(cluster, tmp_path_factory.mktemp("sshd")) as ssh:
            yield cluster, ssh
            # Closed before the cluster (inner `with` first): close() checks nothing it started is left.
