"""A real Slurm cluster (Debian's slurm-wlm 22.05 with munge) on NetnsCluster hosts, for end-to-end tests.

    from netns import NetnsCluster
    from slurm import SlurmCluster, slurm_unavailable

    with NetnsCluster(2) as hosts, SlurmCluster(hosts, tmp_path) as slurm:  # nodes n1, n2: idle
        job = slurm.sbatch("--output", f"{tmp_path}/out", "--wrap", "hostname")
        slurm.wait_job(job, "COMPLETED")
        slurm.stop_controller()                     # slurmctld down: sbatch fails
        slurm.start_controller()                    # back, with the jobs it knew
    # every job cancelled; slurmd's, their job steps and slurmctld are gone

slurmctld runs on this machine and listens on every address, at a free port chosen at start;
the nodes reach it at the NetnsCluster's bridge address. Node nK is NetnsCluster host K-1: its
slurmd runs inside that host's network namespace (through nsenter --net, which keeps the cgroup
mounts slurmd needs) and reaches the controller through the bridge; so do the job steps it starts,
which therefore see the machine at cluster.bridge_address like any other host. Each node has 2 CPUs
and 2000 MB, and a job gets 100 MB per CPU unless it asks for more: two one-CPU jobs share a node.
Configuration, state, spool, logs and pid files are all in the directory given. Every Slurm command
needs env() (SLURM_CONF): use run(), or pass env=slurm.env().

munged is shared: the system's one (/run/munge/munge.socket.2) is used, and started, once, when it
does not answer; it is left running at exit (it is a system daemon, and another test process may
use it), and a munged this module did not start is never stopped.

Clean-up (close(), also on an exception in the `with` block, at interpreter exit and on SIGTERM)
cancels every job, stops the slurmd's, kills what they left in the namespaces (slurmstepd and the
job's processes), then stops slurmctld. Daemons carry OWNER_VAR=<pid of the test process> in their
environment, so that a SlurmCluster whose test process was killed outright (SIGKILL) is swept by
the next one (sweep_stale()); the NetnsCluster sweeps the namespaces themselves.

Needs root, the Slurm and munge binaries and network namespaces: slurm_unavailable() says why
not (a reason string for pytest.skip, or None).

Fixtures (import them into a test module): `slurm_cluster`, module-scoped, (NetnsCluster,
SlurmCluster) with two hosts; `clean_slurm`, the same SlurmCluster reset() for each test.

Timings on this machine (2 cores): start() ~0.3 s; sbatch to the job's first output 0.1-1.0 s
(slurmctld starts a batch job in its next once-a-second pass, not at submission); a Slurm command
with slurmctld down fails after ~9 s (it retries for about MessageTimeout).
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping, NamedTuple, Optional, Sequence, Union

import netns
from harness import pid_alive  # a zombie counts as gone
from netns import NetnsCluster

SLURM_BINARIES = ("slurmctld", "slurmd", "slurmstepd", "sbatch", "srun", "squeue", "sinfo", "scontrol",
                  "scancel", "munged", "munge", "unmunge")
MUNGE_KEY = "/etc/munge/munge.key"
MUNGE_LOCK = "/run/lattice-munge.lock"
OWNER_VAR = "LATTICE_TEST_SLURM_OWNER"  # in the daemons' environment: "<pid of the test process>:<workdir>"
# Unix sockets live in the spool directory ("<spool>/<node>_<job>.<step>", at most 107 bytes):
# keep the directory well below that.
MAX_WORKDIR_LEN = 70
_live: "set[SlurmCluster]" = set()  # started and not closed, for the exit and SIGTERM handlers


@functools.lru_cache(maxsize=None)
def slurm_unavailable() -> Optional[str]:
    """None when a SlurmCluster can run here, else why not (for pytest.skip)."""
    missing = [b for b in SLURM_BINARIES if shutil.which(b) is None and not os.access(f"/usr/sbin/{b}", os.X_OK)]
    if missing:
        return f"Slurm/munge binaries missing: {', '.join(missing)} (apt-get install slurm-wlm munge)"
    return netns.netns_unavailable()


def _which(name: str) -> str:
    """The binary's path: the daemons are in /usr/sbin, which a test's PATH may lack."""
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_port() -> int:
    """A TCP port free on this machine now (bound to every address, as slurmctld will)."""
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError as e:
        return f"<{e}>"


# -- munge --------------------------------------------------------------------------------------

def munge_works() -> bool:
    """Whether a munged answers on the default socket (a credential made and decoded)."""
    try:
        cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=10)
        if cred.returncode != 0:
            return False
        return subprocess.run(["unmunge"], input=cred.stdout, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_munged() -> None:
    """Starts the system's munged unless one answers already; raises RuntimeError when it cannot."""
    if munge_works():
        return
    os.makedirs(os.path.dirname(MUNGE_LOCK), exist_ok=True)
    with open(MUNGE_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # test processes starting at once: one munged
        if not munge_works():
            _start_munged()


def _start_munged() -> None:
    if not os.path.exists(MUNGE_KEY):  # the package creates it; a stripped-down image may not have
        subprocess.run([_which("mungekey"), "--create", f"--keyfile={MUNGE_KEY}"], check=True, capture_output=True)
        shutil.chown(MUNGE_KEY, "munge", "munge")
        os.chmod(MUNGE_KEY, 0o400)
    os.makedirs("/run/munge", exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    # munged forks into the background itself; --force: start despite a stale socket or pid file
    r = subprocess.run([_which("munged"), "--force"], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not munge_works():
        if time.monotonic() > deadline:
            raise RuntimeError(f"munged does not answer (munged --force exited {r.returncode}: "
                               f"{r.stderr.strip()})")
        time.sleep(0.05)


# -- processes ----------------------------------------------------------------------------------

def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(kv.split("=", 1) for kv in raw.decode(errors="replace").split("\0") if "=" in kv)


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _net_ns(pid: int) -> Optional[str]:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _kill_all(pids: Sequence[int], grace: float) -> list[int]:
    """SIGTERM, up to grace seconds, SIGKILL; the pids still alive after that (should be none)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
    return [p for p in pids if pid_alive(p)]


def _stop(proc: Optional[subprocess.Popen], grace: float) -> None:
    """SIGTERM to proc's process group, SIGKILL after grace seconds; waits for proc. The group gets a
    SIGKILL in the end in any case, for children that outlive their parent (slurmctld's slurmscriptd)."""
    if proc is None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def sweep_stale() -> None:
    """Kills the daemons (and their job steps) of SlurmClusters whose test process no longer runs."""
    stale = []
    for pid in _pids():
        owner = _environ(pid).get(OWNER_VAR, "")
        m = re.match(r"(\d+):", owner)
        if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            stale.append(pid)
    if stale:
        _kill_all(stale, grace=1.0)


# -- the cluster --------------------------------------------------------------------------------

class SqueueRow(NamedTuple):
    job_id: str   # "12", or "12_3" for a task of an array job
    state: str    # PENDING, RUNNING, COMPLETING, ...
    reason: str   # why pending ("None" when running), e.g. Resources, Priority, BeginTime
    name: str


class SlurmCluster:
    """slurmctld on this machine and a slurmd on each host of a started NetnsCluster; a context manager."""

    def __init__(self, cluster: NetnsCluster, workdir: Union[str, Path], *, cpus: int = 2, real_memory: int = 2000,
                 def_mem_per_cpu: int = 100, conf: Optional[Mapping[str, str]] = None, grace: float = 3.0) -> None:
        """cluster: started, with at least one host (node n<K> is cluster.hosts[K-1]); workdir: a directory
        of this cluster's own (made if missing). cpus/real_memory (MB): per node. conf: slurm.conf
        keys to add or override (e.g. {"SlurmdTimeout": "5"}). grace: seconds between SIGTERM and
        SIGKILL when stopping a daemon."""
        if not cluster.hosts or cluster.bridge_address is None:
            raise ValueError("SlurmCluster needs a started NetnsCluster with at least one host")
        self.cluster = cluster
        self.workdir = Path(workdir).resolve()
        self._short_dir: Optional[Path] = None
        if len(str(self.workdir)) > MAX_WORKDIR_LEN:
            # Slurm's unix socket paths must stay short (pytest-xdist's temporary
            # directories are long): work in a short directory of our own.
            self._short_dir = Path(tempfile.mkdtemp(prefix="lslurm-", dir="/tmp"))
            self.workdir = self._short_dir
        self.conf_path = self.workdir / "slurm.conf"
        self.nodes = [f"n{h.index + 1}" for h in cluster.hosts]
        self.cpus = cpus
        self.real_memory = real_memory
        self.def_mem_per_cpu = def_mem_per_cpu
        self.extra_conf = dict(conf or {})
        self.grace = grace
        self.ctld_port: Optional[int] = None
        self.slurmd_port: Optional[int] = None
        self._ctld: Optional[subprocess.Popen] = None
        self._slurmds: dict[str, subprocess.Popen] = {}
        self._closed = False

    # -- paths --------------------------------------------------------------------------------

    @property
    def ctld_log(self) -> Path:
        return self.workdir / "log" / "slurmctld.log"

    def slurmd_log(self, node: str) -> Path:
        return self.workdir / "log" / f"slurmd-{node}.log"

    def host(self, node: str) -> netns.NetnsHost:
        """The NetnsHost that runs node ("n1" -> cluster.hosts[0])."""
        return self.cluster.hosts[self.nodes.index(node)]

    # -- configuration ------------------------------------------------------------------------

    def _conf_text(self) -> str:
        w = self.workdir
        hostname = socket.gethostname().split(".")[0]  # `hostname -s`: slurmctld checks it is this machine
        keys = {
            "ClusterName": "lattice",
            # name(address): slurmd's and job steps reach the controller at the bridge address
            "SlurmctldHost": f"{hostname}({self.cluster.bridge_address})",
            "SlurmctldPort": str(self.ctld_port),
            "SlurmdPort": str(self.slurmd_port),
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "MpiDefault": "none",
            # no cgroups: linuxproc tracks a step's processes by parentage, task/none binds nothing
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            # No slurmdbd here: finished jobs are recorded in a text file that `sacct --completion` reads.
            "JobCompType": "jobcomp/filetxt",
            "JobCompLoc": str(w / "jobcomp.log"),
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core_Memory",  # CPUs and memory are consumable: jobs pack
            "DefMemPerCPU": str(self.def_mem_per_cpu),
            "SchedulerType": "sched/backfill",
            # Start jobs fast. slurmctld does not start a batch job at submission but in its once-a-second
            # background pass, after batch_sched_delay (3 s by default), or in a backfill pass (every
            # bf_interval, 30 s by default), whichever comes first. Measured: defaults ~2.5 s from sbatch to
            # output; these ~0.5 s (0.1 to 1 s). sched_min_interval=0: never throttle the scheduler;
            # sched_interval: the full-queue pass every 2 s instead of 60.
            "SchedulerParameters": "batch_sched_delay=0,sched_min_interval=0,sched_interval=2,bf_interval=1",
            "PreemptType": "preempt/none",
            "JobRequeue": "1",
            "MaxArraySize": "1001",
            # The nodes are what slurm.conf says, not this machine's hardware (they share its cores and
            # memory): never drained for having fewer than configured.
            "SlurmdParameters": "config_overrides",
            "ReturnToService": "2",  # a node that was DOWN comes back when its slurmd registers
            "MailProg": "/bin/true",
            "PlugStackConfig": str(w / "plugstack.conf"),  # empty: no SPANK plugins of this machine
            # Timers: short, so tests do not wait. MinJobAge: finished jobs leave squeue within seconds.
            "MessageTimeout": "10",
            "SlurmctldTimeout": "10",
            "SlurmdTimeout": "20",
            "KillWait": "5",
            "MinJobAge": "5",
            "InactiveLimit": "0",
            "Waittime": "0",
            "StateSaveLocation": str(w / "state"),
            "SlurmdSpoolDir": str(w / "spool" / "%n"),
            "SlurmctldPidFile": str(w / "run" / "slurmctld.pid"),
            "SlurmdPidFile": str(w / "run" / "slurmd-%n.pid"),
            "SlurmctldLogFile": str(self.ctld_log),
            "SlurmdLogFile": str(w / "log" / "slurmd-%n.log"),
            "SlurmctldDebug": "info",
            "SlurmdDebug": "info",
        }
        keys.update(self.extra_conf)
        lines = [f"# written by tests/slurm.py for {self.workdir}"] + [f"{k}={v}" for k, v in keys.items()]
        for node, host in zip(self.nodes, self.cluster.hosts):
            lines.append(f"NodeName={node} NodeAddr={host.address} CPUs={self.cpus} "
                         f"RealMemory={self.real_memory} State=UNKNOWN")
        lines.append(f"PartitionName=debug Nodes={','.join(self.nodes)} Default=YES MaxTime=INFINITE State=UP")
        return "\n".join(lines) + "\n"

    # -- environment and commands -------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for Slurm commands: SLURM_CONF set; the caller's SLURM_* (as inside a job of
        another cluster) and LATTICE_* (a developer's own server) left out, as jobs inherit it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "LATTICE_"))}
        env["SLURM_CONF"] = str(self.conf_path)
        env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        env.update(extra)
        return env

    def _daemon_env(self) -> dict[str, str]:
        return self.env(**{OWNER_VAR: f"{os.getpid()}:{self.workdir}"})

    def run(self, argv: Sequence[str], *, check: bool = False, timeout: float = 30, node: Optional[str] = None,
            env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
        """Runs a Slurm command (sbatch, squeue, ...) to its end with env(), output captured as text.

        node: run it inside that node's host (e.g. srun from a node), else on this machine.
        env: variables added to env(). check: raise RuntimeError (with stderr) on a non-zero exit.
        """
        full_env = self.env(**(env or {}))
        argv = [str(a) for a in argv]
        # From the work directory: a job without --output writes slurm-<id>.out where it was submitted.
        if node is not None:
            r = self.host(node).run(argv, timeout=timeout, env=full_env, cwd=self.workdir)
        else:
            r = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL, cwd=self.workdir)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
        return r

    def sbatch(self, *args: Union[str, os.PathLike], **kw) -> str:
        """Submits with sbatch --parsable ARGS; the job id ("12"). Raises RuntimeError when sbatch fails."""
        out = self.run(["sbatch", "--parsable", *args], check=True, **kw).stdout.strip()
        return out.split(";")[0]  # "<id>[;<cluster>]"

    def squeue_jobs(self) -> list[SqueueRow]:
        """The jobs slurmctld knows (array tasks one per row); raises RuntimeError when it does not answer."""
        out = self.run(["squeue", "--noheader", "--array", "--format=%i|%T|%r|%j"], check=True).stdout
        return [SqueueRow(*line.split("|", 3)) for line in out.splitlines() if line.strip()]

    def job_info(self, job_id: Union[str, int]) -> Optional[dict[str, str]]:
        """`scontrol show job -o` as a dict (JobState, Reason, NodeList, ExitCode, StdOut, ...) for job_id
        (for an array job, its first task), None when slurmctld no longer knows it; RuntimeError when
        slurmctld does not answer. Values with spaces (Command=) are cut at the first space."""
        r = self.run(["scontrol", "show", "job", "-o", str(job_id)])
        if r.returncode != 0:
            if "Invalid job id" in r.stderr:
                return None
            raise RuntimeError(f"scontrol show job {job_id}: {r.stderr.strip()}")
        line = r.stdout.splitlines()[0] if r.stdout.strip() else ""
        return dict(m.groups() for m in re.finditer(r"(\S+?)=(\S*)", line))

    def sacct_completed(self) -> list[dict[str, str]]:
        """Finished jobs as `sacct --completion` reports them (from the job completion log):
        JobID, JobName, State, ExitCode and NodeList of each."""
        fields = ["JobID", "JobName", "State", "ExitCode", "NodeList"]
        out = self.run(["sacct", "--completion", "--noheader", "--parsable2", "--allusers",
                        "--format=" + ",".join(fields)], check=True).stdout
        return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]

    def job_state(self, job_id: Union[str, int]) -> Optional[str]:
        """The job's state (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...); None once purged (MinJobAge)."""
        info = self.job_info(job_id)
        return info.get("JobState") if info else None

    def wait_job(self, job_id: Union[str, int], states: Union[str, Sequence[str]], timeout: float = 30) -> str:
        """Waits until the job is in one of states; the state. AssertionError (with the job and logs) on timeout."""
        states = {states} if isinstance(states, str) else set(states)
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in states:
                return state
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} is {state}, not {'/'.join(sorted(states))}, after {timeout}s: "
                             f"{self.job_info(job_id)}\n{self.logs_tail()}")

    def node_states(self) -> dict[str, str]:
        """{node: state} from sinfo (idle, mixed, alloc, down*, ...); RuntimeError when slurmctld does not answer."""
        out = self.run(["sinfo", "--noheader", "--Node", "--format=%N %T"], check=True).stdout
        return dict(line.split(None, 1) for line in out.splitlines() if line.strip())

    def logs_tail(self, n: int = 2000) -> str:
        """The ends of the daemons' logs, for failure messages."""
        parts = [f"--- slurmctld.log:\n{_tail(self.ctld_log, n)}",
                 f"--- slurmctld stdout/stderr:\n{_tail(self.workdir / 'log' / 'slurmctld.out', n)}"]
        for node in self.nodes:
            parts.append(f"--- slurmd-{node}.log:\n{_tail(self.slurmd_log(node), n)}")
            parts.append(f"--- slurmd-{node} stdout/stderr:\n{_tail(self.workdir / 'log' / f'slurmd-{node}.out', n)}")
        return "\n".join(parts)

    # -- start and stop -----------------------------------------------------------------------

    def __enter__(self) -> "SlurmCluster":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, timeout: float = 30) -> "SlurmCluster":
        """Writes slurm.conf, starts munged if needed, slurmctld and every slurmd, and waits (up to timeout
        seconds) until every node is idle; RuntimeError with the daemons' logs otherwise."""
        reason = slurm_unavailable()
        if reason:
            raise RuntimeError(reason)
        _live.add(self)
        _clean_up_on_sigterm()
        sweep_stale()
        ensure_munged()
        for sub in ("state", "spool", "run", "log"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        for node in self.nodes:  # slurmd would make it, after logging an error that it is missing
            (self.workdir / "spool" / node).mkdir(exist_ok=True)
        (self.workdir / "plugstack.conf").write_text("")
        self.ctld_port = _free_port()
        self.slurmd_port = _free_port()  # the namespaces have nothing on it either
        while self.slurmd_port == self.ctld_port:
            self.slurmd_port = _free_port()
        self.conf_path.write_text(self._conf_text())
        self.start_controller(timeout=timeout, wait_nodes=False)  # no slurmd yet
        for node, host in zip(self.nodes, self.cluster.hosts):
            out = open(self.workdir / "log" / f"slurmd-{node}.out", "ab")
            # -D: in the foreground, so that it stays our child (in its own session: host.popen)
            self._slurmds[node] = host.popen([_which("slurmd"), "-D", "-f", str(self.conf_path), "-N", node],
                                             env=self._daemon_env(), stdout=out, stderr=subprocess.STDOUT)
            out.close()
        self.wait_nodes_idle(timeout)
        return self

    def wait_nodes_idle(self, timeout: float = 30) -> None:
        """Waits until sinfo shows every node idle; RuntimeError with the logs' tails otherwise."""
        deadline = time.monotonic() + timeout
        states: object = None
        while time.monotonic() < deadline:
            for name, proc in [("slurmctld", self._ctld), *((f"slurmd of {n}", p) for n, p in self._slurmds.items())]:
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}\n{self.logs_tail()}")
            try:
                states = self.node_states()
                if all(states.get(n) == "idle" for n in self.nodes):
                    return
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                states = e
            time.sleep(0.1)
        raise RuntimeError(f"Slurm nodes not idle after {timeout}s: {states}\n{self.logs_tail()}")

    @property
    def controller_running(self) -> bool:
        return self._ctld is not None and self._ctld.poll() is None

    def start_controller(self, timeout: float = 30, wait_nodes: bool = True) -> None:
        """Starts slurmctld (again, after stop_controller()) and waits until it answers.

        It recovers its saved state: the jobs it knew, pending or running, and the nodes. -i: start even
        when a state file is unreadable (the first start has none) rather than refuse to; without -c it
        keeps the jobs. A restarted slurmctld shows the nodes without jobs as "unknown" until its next
        ping of them (~4 s): wait_nodes asks every slurmd to register now (`scontrol reconfigure`) and
        waits until every node responds.
        """
        if not self.controller_running:
            out = open(self.workdir / "log" / "slurmctld.out", "ab")
            self._ctld = subprocess.Popen([_which("slurmctld"), "-D", "-i", "-f", str(self.conf_path)],
                                          env=self._daemon_env(), stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            out.close()
        deadline = time.monotonic() + timeout
        while "is UP" not in self.run(["scontrol", "ping"], timeout=timeout).stdout:
            if self._ctld.poll() is not None:
                raise RuntimeError(f"slurmctld exited with {self._ctld.returncode}\n{self.logs_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"slurmctld does not answer after {timeout}s\n{self.logs_tail()}")
            time.sleep(0.05)
        if wait_nodes and not self._nodes_responding():
            self.run(["scontrol", "reconfigure"], check=True)
            while not self._nodes_responding():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Slurm nodes not back after {timeout}s: {self.node_states()}\n"
                                       f"{self.logs_tail()}")
                time.sleep(0.05)

    def _nodes_responding(self) -> bool:
        """Whether slurmctld has heard from every node: none unknown, down or not responding ("idle*")."""
        states = self.node_states()
        return all(n in states and "*" not in states[n] and not states[n].startswith(("unknown", "down"))
                   for n in self.nodes)

    def stop_controller(self) -> None:
        """Stops slurmctld (SIGTERM: it saves its state), as if its machine went down; jobs keep running."""
        _stop(self._ctld, self.grace)

    def cancel_all(self, timeout: float = 15) -> None:
        """Cancels every job and waits until none runs or completes (their CPUs free again)."""
        self.run(["scancel", "--full", "--user", "root"], check=True)
        deadline = time.monotonic() + timeout
        while any(r.state not in ("PENDING", "CANCELLED", "COMPLETED", "FAILED") for r in self.squeue_jobs()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"jobs still there {timeout}s after scancel: {self.squeue_jobs()}\n"
                                   f"{self.logs_tail()}")
            time.sleep(0.05)

    def reset(self, timeout: float = 30) -> None:
        """Back to a clean cluster between tests: slurmctld running, no job, every node idle."""
        self.start_controller(timeout=timeout)
        self.cancel_all(timeout=timeout)
        self.wait_nodes_idle(timeout=timeout)

    def close(self) -> None:
        """Cancels every job, stops the slurmd's, kills their job steps, stops slurmctld. Idempotent.

        RuntimeError when a process could not be killed."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.controller_running:
                self.cancel_all(timeout=self.grace)
        except (RuntimeError, subprocess.TimeoutExpired, OSError):
            pass  # what scancel did not stop is killed below
        for proc in self._slurmds.values():
            _stop(proc, self.grace)
        left = _kill_all(self._step_pids(), self.grace)
        _stop(self._ctld, self.grace)
        _live.discard(self)
        if self._short_dir is not None:
            shutil.rmtree(self._short_dir, ignore_errors=True)
        if left:
            raise RuntimeError(f"SlurmCluster cleanup: processes {left} survived SIGKILL")

    def _step_pids(self) -> list[int]:
        """Processes in this cluster's namespaces that Slurm started: slurmstepd's, their descendants, and
        whatever carries this cluster's OWNER_VAR (slurmstepd has slurmd's environment) or SLURM_CONF (a job's
        process, which has sbatch's environment, that left its step)."""
        spaces = set()
        for h in self.cluster.hosts:
            try:
                spaces.add(f"net:[{os.stat(f'{netns.NETNS_DIR}/{h.netns}').st_ino}]")
            except OSError:
                pass
        daemons = {p.pid for p in self._slurmds.values()}
        mine = [p for p in _pids() if p != os.getpid() and p not in daemons and _net_ns(p) in spaces]
        owner = f"{os.getpid()}:{self.workdir}"
        found = {p for p in mine if _comm(p) == "slurmstepd"}
        for p in mine:
            e = _environ(p)
            if e.get(OWNER_VAR) == owner or e.get("SLURM_CONF") == str(self.conf_path):
                found.add(p)
        grew = True
        while grew:  # descendants
            more = {p for p in mine if p not in found and _ppid(p) in found}
            found |= more
            grew = bool(more)
        return sorted(found)

    def __repr__(self) -> str:
        return f"SlurmCluster({self.workdir}, nodes={self.nodes}, ctld_port={self.ctld_port})"


# -- cleanup at exit and on SIGTERM -------------------------------------------------------------

@atexit.register  # registered after netns's handler (imported above): runs before it
def _close_live() -> None:
    for c in list(_live):
        try:
            c.grace = min(c.grace, 0.5)
            c.close()
        except Exception:
            pass


_previous_sigterm: object = None


def _on_sigterm(signum: int, frame: object) -> None:
    """Cleans up, then does what SIGTERM did before (netns's cleanup, or dying of it)."""
    _close_live()
    prev = _previous_sigterm
    if callable(prev):
        prev(signum, frame)
    elif prev != signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _clean_up_on_sigterm() -> None:
    """A SIGTERM to the test process stops its Slurm daemons first; installed once, from the main thread."""
    global _previous_sigterm
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is not _on_sigterm:
            _previous_sigterm = current
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        pass


def skip_unless_slurm() -> None:
    """pytest.skip() with the reason when a SlurmCluster cannot run here."""
    import pytest
    reason = slurm_unavailable()
    if reason:
        pytest.skip(f"needs Slurm: {reason}")


try:
    import pytest as _pytest
except ImportError:  # importable without pytest
    _pytest = None

if _pytest is not None:
    @_pytest.fixture(scope="module")
    def slurm_cluster(tmp_path_factory):
        """(NetnsCluster, SlurmCluster): 2 hosts, nodes n1 and n2 idle at first; shared by a module's
        tests, torn down at its end. Skips when Slurm cannot run here. Import it into a test module
        (`from slurm import clean_slurm, slurm_cluster  # noqa: F401`); a test that takes clean_slurm
        too gets the cluster reset() first (whatever the previous test left: jobs, slurmctld down)."""
        skip_unless_slurm()
        with NetnsCluster(2) as hosts, SlurmCluster(hosts, tmp_path_factory.mktemp("slurm")) as slurm:
            yield hosts, slurm

    @_pytest.fixture
    def clean_slurm(slurm_cluster):
        """The module's SlurmCluster, reset() for this test: slurmctld running, no job, every node idle."""
        slurm_cluster[1].reset()
        return slurm_cluster[1]
