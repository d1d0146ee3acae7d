"""Shared fixtures for the end-to-end tests: they drive the real `lattice`
binary (build/lattice; build it with scripts/build.sh).

- `lattice_bin`: the path of the binary.
- `lattice_servers`: starts `lattice --home HOME server --port 0 ...` in the
  background and returns a `LatticeServer` (url, pid, home, token); every
  server it started is stopped (SIGTERM, then SIGKILL) when the module ends,
  whatever happened in the tests.
- `lattice_agents`: the same for `lattice --home HOME --server URL agent ...`.
- `lattice_env(home)`: an environment for the binary without any LATTICE_*
  variables of the caller, so tests never touch the developer's own server.

All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LATTICE = REPO / "build" / "lattice"


def lattice_env(home: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATTICE_")}
    if home is not None:
        env["LATTICE_HOME"] = str(home)
    env.update(extra)
    return env


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM, wait, then SIGKILL; never raises for a process already gone."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class LatticeServer:
    def __init__(self, home: Path, proc: subprocess.Popen, info: dict):
        self.home = home
        self.proc = proc
        self.info = info
        self.url: str = info["url"]
        self.pid: int = info["pid"]
        parsed = urllib.parse.urlsplit(self.url)
        assert parsed.hostname == "127.0.0.1", f"test servers must listen on loopback, got {self.url}"
        self.host = parsed.hostname
        self.port = parsed.port
        self.log = home / "server.log"

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    def log_tail(self) -> str:
        return _tail(self.log)


class LatticeAgent:
    def __init__(self, home: Path, proc: subprocess.Popen, log: Path):
        self.home = home  # the agent's own home (spool, node-id, agent.pid)
        self.proc = proc
        self.log = log

    @property
    def node_id(self) -> str:
        return (self.home / "node-id").read_text().strip()

    def log_tail(self) -> str:
        return _tail(self.log)


@pytest.fixture(scope="session")
def lattice_bin() -> Path:
    if not os.access(LATTICE, os.X_OK):
        pytest.fail(f"{LATTICE} is missing: build it first with scripts/build.sh", pytrace=False)
    return LATTICE


@pytest.fixture(scope="module")
def lattice_servers(lattice_bin, tmp_path_factory):
    """Factory: start(home=None, *extra_args) -> LatticeServer."""
    started: list[LatticeServer | subprocess.Popen] = []

    def start(*extra_args: str, home: Path | None = None, timeout: float = 20.0) -> LatticeServer:
        home = home or tmp_path_factory.mktemp("lattice-home")
        home.mkdir(parents=True, exist_ok=True)
        info_path = home / "server.json"
        log = open(home / "server.log", "ab")
        proc = subprocess.Popen(
            [str(lattice_bin), "--home", str(home), "server", "--port", "0", *extra_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=lattice_env(home))
        log.close()
        started.append(proc)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"lattice server exited with {proc.returncode}:\n{_tail(home / 'server.log')}")
            try:
                info = json.loads(info_path.read_text())
                if info.get("pid") == proc.pid:
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"lattice server did not write {info_path} within {timeout}s:\n"
                            f"{_tail(home / 'server.log')}")
            time.sleep(0.02)
        server = LatticeServer(home, proc, info)
        started[-1] = server
        return server

    yield start
    for s in reversed(started):
        stop_process(s.proc if isinstance(s, LatticeServer) else s)


@pytest.fixture(scope="module")
def lattice_agents(lattice_bin, lattice_servers):  # torn down before the servers
    """Factory: start(server, *extra_args) -> LatticeAgent (in server.home/agent)."""
    started: list[subprocess.Popen] = []

    def start(server: LatticeServer, *extra_args: str, timeout: float = 20.0) -> LatticeAgent:
        agent_home = server.home / "agent"
        log_path = server.home / "agent.log"
        log = open(log_path, "ab")
        log_start = log.tell()
        proc = subprocess.Popen(
            [str(lattice_bin), "--home", str(server.home), "--server", server.url, "agent", *extra_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=lattice_env(server.home))
        log.close()
        started.append(proc)
        agent = LatticeAgent(agent_home, proc, log_path)
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"lattice agent exited with {proc.returncode}:\n{agent.log_tail()}")
            with open(log_path, "rb") as f:
                f.seek(log_start)
                if b"registered as node" in f.read():
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"lattice agent did not register within {timeout}s:\n{agent.log_tail()}")
            time.sleep(0.02)
        return agent

    yield start
    # Agents first: they stop their ranks and ship the last output.
    for proc in reversed(started):
        stop_process(proc, timeout=40.0)
