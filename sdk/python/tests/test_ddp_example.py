"""Tests of examples/ddp/train.py (plain PyTorch DDP, gloo, CPU) on this machine.

Ranks get the environment Lattice's agent gives them (RANK, WORLD_SIZE,
MASTER_ADDR=127.0.0.1, ..., LATTICE_*), without torchrun; the run across
namespace hosts under torchrun is in tests/test_netns.py. SIGTERM is sent
for real with os.kill.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_sdk import env_with, lines

pytest.importorskip("torch")
pytest.importorskip("sklearn")

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ddp" / "train.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lattice_env(tmp_path, node="node0"):
    return {"LATTICE_RUN": "ddp-1", "LATTICE_EXPERIMENT": "0", "LATTICE_ATTEMPT": "1",
            "LATTICE_METRICS_FILE": tmp_path / node / "metrics.jsonl",
            "LATTICE_ARTIFACTS_DIR": tmp_path / node / "artifacts",
            "LATTICE_CHECKPOINT_DIR": tmp_path / node / "checkpoints"}


def start(args, cwd, **env):
    return subprocess.Popen([sys.executable, str(EXAMPLE), *map(str, args)], env=env_with(OMP_NUM_THREADS=1, **env),
                            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc, timeout=120):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"no exit within {timeout}s\nstdout:\n{out}\nstderr:\n{err[-3000:]}")
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
    return out


def run(args, cwd, **env):
    return finish(start(args, cwd, **env))


def final(out):
    """The fields of the one `final ...` line."""
    finals = [s for s in out.splitlines() if s.startswith("final ")]
    assert len(finals) == 1, out
    return dict(kv.split("=", 1) for kv in finals[0].split()[1:])


def gang(n, tmp_path, args, **extra):
    """n ranks of one job on this machine, as Lattice's per-gpu launcher starts them (one per node)."""
    port = free_port()
    procs = []
    for r in range(n):
        env = dict(lattice_env(tmp_path, f"node{r}"), MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE=n,
                   RANK=r, LOCAL_RANK=0, LOCAL_WORLD_SIZE=1, NODE_RANK=r, GROUP_RANK=r, GLOO_SOCKET_IFNAME="lo",
                   **extra)
        procs.append(start(args, tmp_path, **env))
    return procs


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_standalone_is_one_process_and_writes_nothing(tmp_path):
    out = run(["--steps", "30", "--throughput"], tmp_path)
    f = final(out)
    assert (f["rank"], f["world"], f["step"]) == ("0", "1", "30") and len(f["params_sha256"]) == 64
    assert float(out.split("throughput steps_per_s=")[1].split()[0]) > 0
    assert list(tmp_path.iterdir()) == []
    assert "throughput steps_per_s=nan" in run(["--steps", "5", "--throughput"], tmp_path)  # no steps after warm-up


def test_checkpoints_and_an_exact_resume(tmp_path):
    straight = lattice_env(tmp_path, "straight")
    out = run(["--steps", "30", "--ckpt-every", "10"], tmp_path, **straight)
    expected = final(out)["params_sha256"]
    assert sorted(p.name for p in Path(straight["LATTICE_CHECKPOINT_DIR"]).iterdir()) == [
        "step-00000010.pt", "step-00000020.pt", "step-00000030.pt"]
    docs = [json.loads(s) for s in lines(straight["LATTICE_METRICS_FILE"])]
    assert [d["step"] for d in docs] == list(range(1, 31)) and all({"loss", "accuracy"} <= d.keys() for d in docs)

    interrupted = lattice_env(tmp_path, "interrupted")
    run(["--steps", "20", "--ckpt-every", "7"], tmp_path, **interrupted)
    out = run(["--steps", "30", "--ckpt-every", "7"], tmp_path, **dict(interrupted, LATTICE_ATTEMPT=2))
    assert out.splitlines()[0] == "resumed from step 20"
    assert final(out) == {"rank": "0", "world": "1", "params_sha256": expected, "step": "30"}


def test_sigterm_checkpoints_and_exits_cleanly(tmp_path):
    env = lattice_env(tmp_path)
    ckpts = Path(env["LATTICE_CHECKPOINT_DIR"])
    proc = start(["--steps", "100000", "--ckpt-every", "5", "--step-sleep", "0.01"], tmp_path, **env)
    wait_for(lambda: ckpts.is_dir() and any(ckpts.glob("step-*.pt")), what="a first checkpoint")
    os.kill(proc.pid, signal.SIGTERM)
    out = finish(proc, timeout=30)
    step = int(final(out)["step"])
    assert f"stopping at step {step}: asked to stop" in out.splitlines()
    assert (ckpts / f"step-{step:08d}.pt").is_file() and not list(ckpts.glob(".*"))

    # The next attempt resumes there and ends where an uninterrupted run ends.
    out = run(["--steps", step + 5], tmp_path, **dict(env, LATTICE_ATTEMPT=2))
    assert out.splitlines()[0] == f"resumed from step {step}"
    assert final(out)["params_sha256"] == final(run(["--steps", step + 5], tmp_path))["params_sha256"]


def test_two_ranks_agree_and_only_rank_zero_records(tmp_path):
    procs = gang(2, tmp_path, ["--steps", "25", "--ckpt-every", "10"], LATTICE_METRICS_FILE=tmp_path / "metrics.jsonl")
    f0, f1 = (final(finish(p)) for p in procs)
    assert (f0["rank"], f1["rank"], f0["world"], f1["world"], f0["step"], f1["step"]) == ("0", "1", "2", "2", "25", "25")
    assert f0["params_sha256"] == f1["params_sha256"]
    docs = [json.loads(s) for s in lines(tmp_path / "metrics.jsonl")]
    assert [d["step"] for d in docs] == list(range(1, 26))  # once each: rank 1 recorded nothing
    assert sorted(p.name for p in (tmp_path / "node0" / "checkpoints").iterdir()) == [
        "step-00000010.pt", "step-00000020.pt", "step-00000025.pt"]
    assert list((tmp_path / "node1" / "checkpoints").iterdir()) == []


def test_sigterm_to_one_rank_stops_both_at_the_same_step(tmp_path):
    procs = gang(2, tmp_path, ["--steps", "100000", "--ckpt-every", "5", "--step-sleep", "0.01"])
    ckpts = tmp_path / "node0" / "checkpoints"
    wait_for(lambda: ckpts.is_dir() and any(ckpts.glob("step-*.pt")), what="a first checkpoint")
    os.kill(procs[1].pid, signal.SIGTERM)  # rank 0 never gets the signal
    outs = [finish(p, timeout=30) for p in procs]
    f0, f1 = final(outs[0]), final(outs[1])
    assert f0["step"] == f1["step"] and f0["params_sha256"] == f1["params_sha256"]
    step = int(f0["step"])
    assert all(f"stopping at step {step}: asked to stop" in o for o in outs)
    assert (ckpts / f"step-{step:08d}.pt").is_file()
