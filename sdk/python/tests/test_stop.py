"""Tests of lattice.should_stop(), handle_preemption(), rank(), world_size() and
the rank-0 rule of lattice.log(), with real signals sent to real processes.

Each case starts a fresh interpreter; the parent waits for a line the child
prints when it is ready, sends SIGTERM with os.kill and reads what happened.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from test_sdk import env_with, lines, run_py

NOTICE_THREAD = ("lattice: should_stop() cannot install its SIGTERM handler outside the main thread; "
                 "call lattice.handle_preemption() from the main thread at start-up "
                 "(until then SIGTERM ends the process)")


class Child:
    """A Python program in its own interpreter that talks to the test line by line."""

    def __init__(self, code, **env):
        self.proc = subprocess.Popen([sys.executable, "-u", "-c", textwrap.dedent(code)], env=env_with(**env),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)

    def expect(self, line, timeout=30):
        """Reads stdout until line; fails with the child's output otherwise."""
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            got = self.proc.stdout.readline()
            if not got:
                break
            seen.append(got)
            if got.rstrip("\n") == line:
                return
        self.proc.kill()
        out, err = self.proc.communicate()
        pytest.fail(f"no line {line!r}; stdout: {''.join(seen) + out!r}; stderr: {err[-3000:]}")

    def term(self):
        os.kill(self.proc.pid, signal.SIGTERM)

    def finish(self, timeout=30):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"child did not exit within {timeout}s; stdout: {out!r}; stderr: {err[-3000:]}")
        return self.proc.returncode, out, err


def test_sigterm_sets_should_stop_and_does_not_kill():
    c = Child("""
        import time, lattice
        assert lattice.should_stop() is False
        print("ready")
        deadline = time.monotonic() + 20
        while not lattice.should_stop() and time.monotonic() < deadline:
            time.sleep(0.01)
        print("stopped", lattice.should_stop())  # alive: SIGTERM did not kill it
        time.sleep(0.2)   # a second SIGTERM arrives here: still not fatal
        print("saved checkpoint", lattice.should_stop())
    """)
    c.expect("ready")
    c.term()
    c.expect("stopped True")
    c.term()
    rc, out, err = c.finish()
    assert (rc, out, err) == (0, "saved checkpoint True\n", "")


def test_without_asking_sigterm_still_kills():
    c = Child("""
        import time, lattice
        lattice.log({"x": 1})     # other SDK use installs nothing
        lattice.rank(); lattice.world_size()
        print("ready")
        time.sleep(30)
        print("survived")
    """)
    c.expect("ready")
    c.term()
    rc, out, _ = c.finish()
    assert rc == -signal.SIGTERM and out == ""


def test_handle_preemption_before_the_first_question():
    c = Child("""
        import time, lattice
        assert lattice.handle_preemption() is True
        assert lattice.handle_preemption() is True   # idempotent
        print("ready")
        time.sleep(0.5)           # SIGTERM arrives before anyone asks
        while not lattice.should_stop():
            time.sleep(0.01)
        print("stopped")
    """)
    c.expect("ready")
    c.term()
    assert c.finish() == (0, "stopped\n", "")


def test_a_handler_installed_before_is_still_called():
    c = Child("""
        import signal, time, lattice
        calls = []
        signal.signal(signal.SIGTERM, lambda s, f: calls.append(s))
        lattice.should_stop()
        print("ready")
        while not lattice.should_stop():
            time.sleep(0.01)
        print("previous handler called", calls == [signal.SIGTERM])
    """)
    c.expect("ready")
    c.term()
    assert c.finish() == (0, "previous handler called True\n", "")


def test_first_question_from_another_thread_falls_back_with_a_notice():
    c = Child("""
        import threading, time, lattice
        answers = []
        t = threading.Thread(target=lambda: answers.extend([lattice.should_stop(), lattice.handle_preemption(),
                                                            lattice.should_stop()]))
        t.start(); t.join()
        print("thread", answers)
        time.sleep(30)            # the SIGTERM that comes now still ends the process
        print("survived")
    """)
    c.expect("thread [False, False, False]")
    c.term()
    rc, out, err = c.finish()
    assert rc == -signal.SIGTERM and out == ""
    assert err.splitlines() == [NOTICE_THREAD]  # once, although asked three times

    # Installed from the main thread, a worker thread may ask.
    c = Child("""
        import threading, time, lattice
        lattice.handle_preemption()
        seen = threading.Event()
        def worker():
            while not lattice.should_stop():
                time.sleep(0.01)
            seen.set()
        threading.Thread(target=worker).start()
        print("ready")
        print("worker saw it", seen.wait(20))
    """)
    c.expect("ready")
    c.term()
    assert c.finish() == (0, "worker saw it True\n", "")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_workers_still_die_on_sigterm():
    # multiprocessing's Pool.terminate() stops its workers with SIGTERM; a worker
    # that inherited the handler would never exit and terminate() would hang.
    c = Child("""
        import multiprocessing as mp, time, lattice
        def nap(_):
            time.sleep(60)
        if __name__ == "__main__":
            lattice.should_stop()
            pool = mp.get_context("fork").Pool(2)
            pool.map_async(nap, range(2))
            time.sleep(0.5)
            t = time.monotonic()
            pool.terminate()
            print("terminated", time.monotonic() - t < 10, lattice.should_stop())
    """)
    assert c.finish(timeout=60) == (0, "terminated True False\n", "")


@pytest.mark.parametrize("env, expected", [
    ({}, "0 1"),
    ({"RANK": "3", "WORLD_SIZE": "8"}, "3 8"),
    ({"RANK": "", "WORLD_SIZE": ""}, "0 1"),
    ({"RANK": "x", "WORLD_SIZE": "y"}, "0 1"),
])
def test_rank_and_world_size(env, expected):
    assert run_py("import lattice; print(lattice.rank(), lattice.world_size())", **env).stdout.strip() == expected


@pytest.mark.parametrize("rank, records", [(None, True), ("0", True), ("1", False), ("7", False)])
def test_only_global_rank_zero_records(tmp_path, rank, records):
    metrics = tmp_path / "metrics.jsonl"
    env = {"LATTICE_METRICS_FILE": metrics, "WORLD_SIZE": "8", "LOCAL_RANK": "0"}
    if rank is not None:
        env["RANK"] = rank
    r = run_py("""
        import lattice
        for step in range(3):
            lattice.log({"loss": 1.0 / (step + 1)}, step=step, time=1.0)
        try:
            lattice.log({"name": "adam"})   # checked on every rank
        except TypeError:
            print("checked")
        lattice.flush()
    """, cwd=tmp_path, **env)
    assert (r.stdout, r.stderr) == ("checked\n", "")
    if records:
        assert [json.loads(s)["loss"] for s in lines(metrics)] == [1.0, 0.5, 1.0 / 3]
    else:
        assert not metrics.exists()


def test_rank_other_than_zero_outside_lattice_prints_no_notice(tmp_path):
    r = run_py("import lattice; lattice.log({'x': 1})", cwd=tmp_path, RANK="1")
    assert r.stderr == "" and list(tmp_path.iterdir()) == []


def test_import_installs_no_handler():
    r = run_py("""
        import signal, lattice
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
        lattice.should_stop()
        print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    """)
    assert r.stdout.split() == ["True", "False"]


def test_docs_mention_every_public_name():
    names = run_py("import lattice; print(*lattice.__all__)").stdout.split()
    docs = (Path(__file__).resolve().parents[3] / "docs" / "sdk.md").read_text()
    assert [n for n in names if f"lattice.{n}(" not in docs] == []
