"""Helpers for end-to-end tests that drive the real `lattice` CLI, each test
in its own LATTICE_HOME with a local server and agent started on first use.
Test modules import the `lattice` and `script_dir` fixtures from here."""
import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LATTICE = Path(os.environ.get("LATTICE_BIN", ROOT / "build" / "lattice"))


def terminate(proc, timeout=30):
    """SIGTERM, then SIGKILL when it has not exited within timeout seconds; waits for it."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is as good as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # it went away between the two looks (ESRCH from /proc)
        return False


def wait_for(predicate, timeout=20.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def write_script(directory: Path, name: str, text: str, executable=False) -> Path:
    path = directory / name
    path.write_text(text)
    if executable:
        path.chmod(0o755)
    return path


class Lattice:
    """One LATTICE_HOME with helpers to run CLI commands against it."""

    def __init__(self, home: Path):
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LATTICE_")}
        self.env["LATTICE_HOME"] = str(home)

    def run(self, *args, check=True, timeout=120, input=None, cwd=None):
        proc = subprocess.run([str(LATTICE), *map(str, args)], env=self.env, capture_output=True,
                              text=True, timeout=timeout, input=input, cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError(f"lattice {' '.join(map(str, args))} exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def json(self, *args, **kw):
        return json.loads(self.run(*args, "--json", **kw).stdout)

    def popen(self, *args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen([str(LATTICE), *map(str, args)], env=self.env, **kw)

    def server_info(self):
        return json.loads((self.home / "server.json").read_text())

    def agent_pid(self):
        return int((self.home / "agent" / "agent.pid").read_text())

    def wait_state(self, run, states, timeout=60):
        states = {states} if isinstance(states, str) else set(states)

        def reached():
            doc = self.json("status", run)
            return doc if doc["state"] in states else None
        return wait_for(reached, timeout=timeout, interval=0.05, what=f"run {run} to reach {states}")

    def wait_node(self, timeout=20):
        return wait_for(lambda: any(n["state"] == "ready" for n in self.json("nodes")["nodes"]),
                        timeout=timeout, what="a ready node")

    @contextlib.contextmanager
    def server_and_agent(self, *agent_args):
        """A foreground server under this home and one agent started with
        agent_args (e.g. --simulate-gpus 8 --cpus 16), stopped on leaving."""
        server = self.popen("server", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: (self.home / "server.json").exists(), what="server.json")
        agent = self.popen("--server", self.server_info()["url"], "agent", *agent_args,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.wait_node()
            yield self
        finally:
            agent.terminate()
            agent.wait(60)
            server.terminate()
            server.wait(30)
            self.stop()

    def stop(self):
        """Stops cleanly, then makes sure nothing of ours survives."""
        try:
            self.run("server", "stop", check=False, timeout=60)
        except subprocess.TimeoutExpired:
            pass
        pids = []
        try:
            pids.append(self.agent_pid())
        except (OSError, ValueError):
            pass
        try:
            pids.append(int(self.server_info()["pid"]))
        except (OSError, ValueError, KeyError):
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def lattice(tmp_path):
    assert LATTICE.exists(), f"{LATTICE} is missing: build it with scripts/build.sh"
    lat = Lattice(tmp_path / "home")
    yield lat
    lat.stop()


@pytest.fixture
def script_dir(tmp_path):
    d = tmp_path / "code"
    d.mkdir()
    return d
