"""Shared helpers for the benchmarks under bench/ (standard library only).

Every benchmark runs its own local server and agent under a private
LATTICE_HOME (a fresh temporary directory unless --home names one), talks
only to 127.0.0.1, and stops the server and removes what it created when it
ends, also on an error or a signal.
"""

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A benchmark could not measure what it set out to (not a missed target)."""


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, a few seconds: checks that the benchmark runs and yields numbers")
    parser.add_argument("--lattice", default=os.environ.get("LATTICE_BIN", str(REPO / "build" / "lattice")),
                        help="the lattice binary (default: $LATTICE_BIN, else build/lattice)")
    parser.add_argument("--home", default=None,
                        help="LATTICE_HOME to use (default: a fresh temporary directory, removed at the end); "
                             "the server under it is stopped at the end either way")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 3 when a target is missed (default: report it and exit 0)")


def percentile(values, p):
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    if not values:
        return float("nan")
    s = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(s)))
    return s[min(rank, len(s)) - 1]


def median(values):
    if not values:
        return float("nan")
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0


# Set by a benchmark in --smoke mode: its sizes are too small to judge targets.
SMOKE = False


def verdict(value, op, target):
    """PASS or FAIL against a target ("<=" or ">="); not judged in smoke mode."""
    if SMOKE:
        return "(smoke: not judged)"
    ok = value <= target if op == "<=" else value >= target
    return "PASS" if ok else "FAIL"


def report_targets(targets, strict):
    """Prints the "target:" line; the exit status: 3 when strict and a target
    was missed (never in smoke mode, where nothing is judged), else 0."""
    print("target: " + "; ".join(targets))
    return 3 if strict and any(t.endswith("FAIL") for t in targets) else 0


def finite_positive(*values):
    return all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values)


def machine_line():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        load = "?"
    return f"machine: {os.cpu_count()} CPUs ({model}), load average {load}"


def install_signal_handlers():
    """Turns SIGTERM/SIGHUP into SystemExit so `finally` blocks clean up."""
    def handler(signum, _frame):
        print(f"\ninterrupted by signal {signum}; stopping the server and cleaning up", file=sys.stderr)
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def rss_kib(pid):
    """(VmRSS, VmHWM) of a process in KiB, or (None, None) if it is gone."""
    rss = hwm = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        return None, None
    return rss, hwm


def _terminate(pid, wait=10.0):
    """SIGTERM, then SIGKILL after `wait` seconds, for one pid of our own."""
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        if _is_zombie(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


class Lattice:
    """A local server and agent under a private LATTICE_HOME, and its CLI."""

    def __init__(self, binary, home=None):
        source = Path(binary).resolve()
        if not os.access(source, os.X_OK):
            raise BenchError(f"no lattice binary at {source} (build it with scripts/build.sh)")
        self.owns_home = home is None
        self.home = Path(tempfile.mkdtemp(prefix="lattice-bench-")) if home is None else Path(home).resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.scratch = Path(tempfile.mkdtemp(prefix="lattice-bench-scripts-"))
        self.server_pid = None
        # A private copy: a rebuild of build/ during the benchmark neither breaks
        # it nor mixes two versions of the binary in one measurement. The server
        # finds the web UI at <its directory>/../web/dist, hence bin/ and a link.
        (self.scratch / "bin").mkdir()
        self.binary = str(self.scratch / "bin" / "lattice")
        try:
            shutil.copy2(source, self.binary)
            (self.scratch / "web").symlink_to(REPO / "web")
        except OSError as e:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise BenchError(f"cannot copy {source}: {e}")
        env = dict(os.environ)
        # Never let the CLI reach a server other than the one under our home.
        for k in ("LATTICE_SERVER", "LATTICE_TOKEN", "LATTICE_PYTHON"):
            env.pop(k, None)
        env["LATTICE_HOME"] = str(self.home)
        self.env = env
        self.url = None
        self.token = ""
        self._conn = None

    # -- lifecycle -------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self, timeout=30.0):
        """Starts the server and agent and waits until the agent is registered."""
        self.cli("server", "start", timeout=timeout)
        info = json.loads((self.home / "server.json").read_text())
        url = urlsplit(info["url"])
        if url.hostname != "127.0.0.1":
            raise BenchError(f"the server listens on {info['url']}, not on loopback; refusing to benchmark it")
        self.url = info["url"]
        self.host, self.port = "127.0.0.1", url.port
        self.server_pid = int(info["pid"])
        if info.get("token_required"):
            self.token = (self.home / "token").read_text().strip()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            nodes = json.loads(self.cli("nodes", "--json").stdout).get("nodes", [])
            if any(n.get("state") == "ready" for n in nodes) and self.agent_pid():
                return
            time.sleep(0.05)
        raise BenchError(f"the agent did not register within {timeout:.0f} s; see {self.home}/agent.log")

    def close(self):
        # A second signal must not cut the cleanup short and orphan the server.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        pids = [p for p in (self.agent_pid(), self._server_pid_on_disk()) if p]
        stopped = False
        try:
            r = subprocess.run([self.binary, "server", "stop"], env=self.env, timeout=60,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
            stopped = r.returncode == 0
            if not stopped:
                print(f"warning: lattice server stop exited {r.returncode}: {r.stderr.strip()[:300]}",
                      file=sys.stderr)
        except (OSError, subprocess.TimeoutExpired) as e:
            print(f"warning: stopping the server under {self.home} failed: {e}", file=sys.stderr)
        if not stopped:
            # Fall back to the pids this benchmark's server and agent wrote.
            for pid in pids:
                if self._ours(pid):
                    _terminate(pid)
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.owns_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def _ours(self, pid):
        """Whether pid is a lattice process under our home (guards against reused pids)."""
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            return False
        return str(self.home).encode() in argv

    def _server_pid_on_disk(self):
        try:
            return int(json.loads((self.home / "server.json").read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return self.server_pid

    def agent_pid(self):
        try:
            pid = int((self.home / "agent" / "agent.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if os.path.exists(f"/proc/{pid}") else None

    # -- CLI ---------------------------------------------------------------

    def cmd(self, *args):
        return [self.binary, *args]

    def cli(self, *args, timeout=60.0, check=True):
        r = subprocess.run(self.cmd(*args), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise BenchError(f"lattice {' '.join(args)} exited {r.returncode}: {r.stderr.strip()[:500]}")
        return r

    def submit(self, script, *args):
        """`lattice run SCRIPT ARGS...`; returns the run's name."""
        return self.cli("run", str(script), *args).stdout.strip().splitlines()[-1]

    def write_script(self, name, text, subdir=None):
        """Writes a script into its own directory (lattice run snapshots the script's directory)."""
        d = self.scratch / (subdir or Path(name).stem)
        d.mkdir(parents=True, exist_ok=True)
        p = d / name
        p.write_text(text)
        p.chmod(0o755)
        return p

    # -- API -----------------------------------------------------------------

    def request(self, path, timeout=60.0):
        """GET /api/v1<path> over one keep-alive connection; returns (status, headers, body)."""
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self._conn.timeout = timeout
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            try:
                self._conn.request("GET", "/api/v1" + path, headers=headers)
                resp = self._conn.getresponse()
                body = resp.read()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
            except (http.client.HTTPException, ConnectionError):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def run_doc(self, name):
        status, _, body = self.request(f"/runs/{name}")
        if status != 200:
            raise BenchError(f"GET /runs/{name} answered {status}: {body[:300]!r}")
        return json.loads(body)

    def wait_terminal(self, name, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.run_doc(name)
            if doc.get("state") in ("succeeded", "failed", "cancelled"):
                return doc
            time.sleep(0.05)
        raise BenchError(f"run {name} did not end within {timeout:.0f} s")


def main_wrapper(body):
    """Runs body() -> exit status; reports BenchError on stderr with status 1."""
    install_signal_handlers()
    try:
        sys.exit(body())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
