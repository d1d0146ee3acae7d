"""Tests of the lattice SDK's contract with the agent (no server needed).

Each case runs a short Python program in a fresh interpreter, because the SDK
reads its environment once per process.
"""

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parent.parent
LATTICE_VARS = ("LATTICE_RUN", "LATTICE_EXPERIMENT", "LATTICE_ATTEMPT", "LATTICE_ARTIFACTS_DIR",
                "LATTICE_CHECKPOINT_DIR", "LATTICE_METRICS_FILE")
NOTICE = ("lattice: LATTICE_METRICS_FILE is not set (not running under Lattice); "
          "metrics are not recorded")


def env_with(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in LATTICE_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(SDK)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def run_py(code, cwd=None, timeout=60, **env):
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env_with(**env), cwd=cwd,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r


def lines(path):
    return Path(path).read_text().splitlines()


@pytest.fixture
def metrics(tmp_path):
    return tmp_path / "metrics.jsonl"


def test_exact_line_format(metrics):
    run_py("""
        import lattice
        lattice.log({"loss": 0.25, "nan": float("nan"), "inf": float("inf"), "ninf": float("-inf"),
                     "ok": True, "n": 3, "train": {"acc": 0.5, "deep": {"x": 1}}}, step=7, time=1700000000.5)
        lattice.log({"loss": 0.125}, time=1700000001)
        lattice.log({}, step=20, time=2.0)
    """, LATTICE_METRICS_FILE=metrics)
    assert lines(metrics) == [
        '{"step": 7, "time": 1700000000.5, "loss": 0.25, "nan": NaN, "inf": Infinity, "ninf": -Infinity, '
        '"ok": true, "n": 3, "train/acc": 0.5, "train/deep/x": 1}',
        '{"step": 8, "time": 1700000001.0, "loss": 0.125}',
        '{"step": 20, "time": 2.0}',
    ]
    # Python's json module reads the literals back, as the agent does.
    first = json.loads(lines(metrics)[0])
    assert math.isnan(first["nan"]) and first["inf"] == math.inf and first["ninf"] == -math.inf


def test_step_starts_at_zero_and_follows_explicit_steps(metrics):
    run_py("""
        import lattice
        lattice.log({"a": 1})
        lattice.log({"a": 2})
        lattice.log({"a": 3}, step=100)
        lattice.log({"a": 4})
        lattice.log({"a": 5}, step=5)
        lattice.log({"a": 6})
    """, LATTICE_METRICS_FILE=metrics)
    docs = [json.loads(s) for s in lines(metrics)]
    assert [d["step"] for d in docs] == [0, 1, 100, 101, 5, 6]
    assert all(abs(d["time"] - time.time()) < 60 for d in docs)


def test_numpy_scalars_and_item_duck_typing(metrics):
    pytest.importorskip("numpy")
    run_py("""
        import fractions, numpy as np, lattice

        class Tensor0d:  # what a 0-d torch tensor looks like to the SDK
            def item(self):
                return 2.5

        lattice.log({"f32": np.float32(0.5), "f64": np.float64(0.25), "i64": np.int64(3),
                     "b": np.bool_(True), "nan32": np.float32("nan"), "one": np.array([7]),
                     "t": Tensor0d(), "frac": fractions.Fraction(1, 4)}, step=np.int64(4), time=1.0)
    """, LATTICE_METRICS_FILE=metrics)
    assert lines(metrics) == ['{"step": 4, "time": 1.0, "f32": 0.5, "f64": 0.25, "i64": 3, "b": true, '
                              '"nan32": NaN, "one": 7, "t": 2.5, "frac": 0.25}']


def test_torch_tensor_when_installed(metrics):
    pytest.importorskip("torch")
    run_py("""
        import torch, lattice
        lattice.log({"loss": torch.tensor(0.5), "n": torch.tensor(3)}, step=0, time=1.0)
        try:
            lattice.log({"vec": torch.tensor([1.0, 2.0])})
        except TypeError as e:
            assert "'vec'" in str(e), e
        else:
            raise SystemExit("no TypeError for a tensor of two elements")
    """, LATTICE_METRICS_FILE=metrics)
    assert lines(metrics) == ['{"step": 0, "time": 1.0, "loss": 0.5, "n": 3}']


@pytest.mark.parametrize("call, error, fragment", [
    ('lattice.log({"name": "adam"})', TypeError, "'name'"),
    ('lattice.log({"x": None})', TypeError, "'x'"),
    ('lattice.log({"x": [1, 2]})', TypeError, "'x'"),
    ('lattice.log({"train": {"opt": "sgd"}})', TypeError, "'train/opt'"),
    ('lattice.log({"x": 1j})', TypeError, "'x'"),
    ('lattice.log({1: 1.0})', TypeError, "1"),
    ('lattice.log([("x", 1)])', TypeError, "dict"),
    ('lattice.log({"x": 1}, step=-1)', ValueError, "step"),
    ('lattice.log({"x": 1}, step=1.5)', TypeError, "step"),
    ('lattice.log({"x": 1}, step=True)', TypeError, "step"),
    ('lattice.log({"x": 1}, time=float("nan"))', ValueError, "time"),
    ('lattice.log({"step": 1})', ValueError, "reserved"),
    ('lattice.log({"a\\nb": 1})', ValueError, "printable"),
    ('lattice.log({"k" * 257: 1})', ValueError, "256"),
    ('lattice.log({"a/b": 1, "a": {"b": 2}})', ValueError, "twice"),
])
@pytest.mark.parametrize("under_lattice", [True, False])
def test_bad_values_raise(metrics, call, error, fragment, under_lattice):
    env = {"LATTICE_METRICS_FILE": metrics} if under_lattice else {}
    run_py(f"""
        import lattice
        try:
            {call}
        except {error.__name__} as e:
            assert {fragment!r} in str(e), str(e)
        else:
            raise SystemExit("no {error.__name__}")
        lattice.log({{"fine": 1}}, step=0, time=1.0)
    """, **env)
    if under_lattice:
        assert lines(metrics) == ['{"step": 0, "time": 1.0, "fine": 1}']


def test_key_of_256_bytes_is_accepted(metrics):
    run_py("""
        import lattice
        lattice.log({"é" * 128: 1}, step=0, time=1.0)
    """, LATTICE_METRICS_FILE=metrics)
    assert json.loads(lines(metrics)[0])["é" * 128] == 1


def test_outside_lattice_is_a_noop_with_one_notice(tmp_path):
    r = run_py("""
        import lattice
        for i in range(100):
            lattice.log({"loss": 1.0 / (i + 1)})
        lattice.flush()
        print(lattice.is_running_under_lattice(), lattice.run_name(), lattice.experiment(), lattice.attempt())
    """, cwd=tmp_path)
    assert r.stderr.splitlines() == [NOTICE]
    assert r.stdout.split() == ["False", "None", "None", "1"]
    assert list(tmp_path.iterdir()) == []


def test_import_does_not_import_torch():
    r = run_py("""
        import sys, lattice
        print("torch" in sys.modules, "numpy" in sys.modules)
    """)
    assert r.stdout.split() == ["False", "False"]


def test_line_is_visible_within_a_second_without_flush(metrics):
    code = textwrap.dedent("""
        import sys, time, lattice
        lattice.log({"loss": 0.5})
        print("logged", flush=True)
        time.sleep(30)  # training stalls; the line must still reach the file
    """)
    p = subprocess.Popen([sys.executable, "-c", code], env=env_with(LATTICE_METRICS_FILE=metrics),
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "logged"
        logged = time.monotonic()
        while time.monotonic() - logged < 5 and not (metrics.exists() and metrics.read_text()):
            time.sleep(0.01)
        waited = time.monotonic() - logged
        assert metrics.read_text().endswith('"loss": 0.5}\n')
        assert waited < 1.0, f"the line appeared after {waited:.2f} s"
    finally:
        p.kill()
        p.wait()


def test_lines_are_buffered_and_written_at_exit(metrics):
    # Written by the exit handler: nothing is in the file right after logging.
    r = run_py("""
        import os, lattice
        for i in range(1000):
            lattice.log({"loss": i})
        print(os.path.getsize(os.environ["LATTICE_METRICS_FILE"]) if os.path.exists(os.environ["LATTICE_METRICS_FILE"]) else 0)
    """, LATTICE_METRICS_FILE=metrics)
    assert int(r.stdout) == 0
    assert len(lines(metrics)) == 1000


def test_explicit_flush_writes_at_once(metrics):
    run_py("""
        import os, lattice
        lattice.log({"loss": 1})
        lattice.flush()
        assert open(os.environ["LATTICE_METRICS_FILE"]).read().count("\\n") == 1
        os._exit(0)  # no exit handler: only what flush() wrote is there
    """, LATTICE_METRICS_FILE=metrics)
    assert len(lines(metrics)) == 1


def test_large_buffer_is_written_without_waiting(metrics):
    run_py("""
        import os, lattice
        for i in range(5000):
            lattice.log({"a_rather_long_metric_name_%d" % (i % 10): float(i)})
        size = os.path.getsize(os.environ["LATTICE_METRICS_FILE"])
        assert size >= 64 * 1024, size
    """, LATTICE_METRICS_FILE=metrics)
    assert len(lines(metrics)) == 5000


def test_appends_to_an_existing_file(metrics):
    metrics.write_text('{"step": 0, "loss": 1}\n')
    run_py("""
        import lattice
        lattice.log({"loss": 2}, step=1, time=1.0)
    """, LATTICE_METRICS_FILE=metrics)
    assert lines(metrics) == ['{"step": 0, "loss": 1}', '{"step": 1, "time": 1.0, "loss": 2}']


def test_many_threads_every_line_whole(metrics):
    run_py("""
        import threading, lattice
        def work(t):
            for i in range(2000):
                lattice.log({"thread": t, "i": i, "nested": {"value": i * 0.5}})
        threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
        for th in threads: th.start()
        for th in threads: th.join()
    """, LATTICE_METRICS_FILE=metrics)
    docs = [json.loads(s) for s in lines(metrics)]
    assert len(docs) == 16 * 2000
    assert sorted(d["step"] for d in docs) == list(range(16 * 2000))
    assert [d["step"] for d in docs] == sorted(d["step"] for d in docs)  # written in step order
    for t in range(16):
        assert [d["i"] for d in docs if d["thread"] == t] == list(range(2000))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_logs_without_duplicating_the_parent(metrics):
    run_py("""
        import os, threading, lattice
        lattice.log({"who": 0, "i": 0}, step=0)  # pending in the parent at fork time
        # A thread logging while we fork must not leave the child's lock held.
        stop = threading.Event()
        def busy():
            while not stop.is_set():
                lattice.log({"who": 9, "i": -1}, step=1000)
        th = threading.Thread(target=busy); th.start()
        pids = []
        for c in range(1, 5):
            pid = os.fork()
            if pid == 0:
                for i in range(3):
                    lattice.log({"who": c, "i": i}, step=c * 10 + i)
                os._exit(0)  # as DataLoader workers end: no exit handlers
            pids.append(pid)
        for pid in pids:
            assert os.waitpid(pid, 0)[1] == 0
        stop.set(); th.join()
        lattice.log({"who": 0, "i": 1}, step=1)
    """, LATTICE_METRICS_FILE=metrics)
    docs = [json.loads(s) for s in lines(metrics)]  # every line whole
    by_who = {}
    for d in docs:
        by_who.setdefault(d["who"], []).append(d["i"])
    assert by_who[0] == [0, 1]
    for c in range(1, 5):
        assert by_who[c] == [0, 1, 2]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_that_logs_first_writes_at_once(metrics):
    run_py("""
        import os, lattice
        pid = os.fork()  # the parent has not logged yet: the child opens the file itself
        if pid == 0:
            lattice.log({"child": 1}, step=0, time=1.0)
            os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
    """, LATTICE_METRICS_FILE=metrics)
    assert lines(metrics) == ['{"step": 0, "time": 1.0, "child": 1}']


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_multiprocessing_fork_workers(metrics):
    run_py("""
        import multiprocessing as mp, lattice
        def work(i):
            lattice.log({"worker_value": i}, step=i)
            return i
        if __name__ == "__main__":
            lattice.log({"main": 1}, step=0)
            with mp.get_context("fork").Pool(4) as pool:
                assert sorted(pool.map(work, range(20))) == list(range(20))
            lattice.log({"main": 2}, step=100)
    """, LATTICE_METRICS_FILE=metrics)
    docs = [json.loads(s) for s in lines(metrics)]
    assert sorted(d["worker_value"] for d in docs if "worker_value" in d) == list(range(20))
    assert [d["main"] for d in docs if "main" in d] == [1, 2]


def test_directories_under_lattice(tmp_path):
    art, ckpt = tmp_path / "art", tmp_path / "ckpt"
    r = run_py("""
        import lattice
        print(lattice.artifacts_dir())
        print(lattice.checkpoint_dir())
        print(lattice.run_name(), lattice.experiment(), lattice.attempt(), lattice.is_running_under_lattice())
    """, LATTICE_ARTIFACTS_DIR=art, LATTICE_CHECKPOINT_DIR=ckpt, LATTICE_RUN="digits-1",
        LATTICE_EXPERIMENT="3", LATTICE_ATTEMPT="2", LATTICE_METRICS_FILE=tmp_path / "m.jsonl")
    assert r.stdout.splitlines() == [str(art), str(ckpt), "digits-1 3 2 True"]
    assert art.is_dir() and ckpt.is_dir()
    assert r.stderr == ""


def test_directories_fall_back_to_local_ones(tmp_path):
    r = run_py("""
        import lattice
        for _ in range(3):
            a, c = lattice.artifacts_dir(), lattice.checkpoint_dir()
        print(a); print(c)
    """, cwd=tmp_path)
    assert r.stdout.splitlines() == [str(tmp_path / "lattice_artifacts"), str(tmp_path / "lattice_checkpoints")]
    assert (tmp_path / "lattice_artifacts").is_dir() and (tmp_path / "lattice_checkpoints").is_dir()
    notices = r.stderr.splitlines()
    assert len(notices) == 2 and all("not running under Lattice" in n for n in notices)


def test_latest_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    r = run_py("""
        import os, lattice
        print(lattice.latest_checkpoint())
        d = lattice.checkpoint_dir()
        for name, mtime in [("epoch-1.pt", 100), ("epoch-3.pt", 300), ("epoch-2.pt", 200),
                            ("other.bin", 400), (".epoch-4.pt.tmp", 500), ("epoch-5.pt.tmp", 600)]:
            (d / name).write_text(name)
            os.utime(d / name, (mtime, mtime))
        (d / "subdir").mkdir()
        os.utime(d / "subdir", (900, 900))
        print(lattice.latest_checkpoint().name)
        print(lattice.latest_checkpoint("epoch-*.pt").name)
        print(lattice.latest_checkpoint("*.ckpt"))
    """, LATTICE_CHECKPOINT_DIR=ckpt)
    assert r.stdout.splitlines() == ["None", "other.bin", "epoch-3.pt", "None"]


def test_bad_attempt_value_reads_as_one():
    r = run_py("import lattice; print(lattice.attempt())", LATTICE_ATTEMPT="x")
    assert r.stdout.strip() == "1"


def test_log_cost_per_call(metrics):
    # A guard against accidental slow paths (a flush per call, say), not a benchmark.
    r = run_py("""
        import time, lattice
        lattice.log({"loss": 0.0})
        t = time.perf_counter()
        for i in range(20000):
            lattice.log({"loss": i * 0.5, "acc": 0.9}, step=i)
        print((time.perf_counter() - t) / 20000)
    """, LATTICE_METRICS_FILE=metrics)
    assert float(r.stdout) < 100e-6


DIGITS = SDK.parent.parent / "examples" / "digits" / "train.py"


@pytest.mark.parametrize("with_sdk", [True, False])
def test_digits_example_logs_checkpoints_and_resumes(tmp_path, with_sdk):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    env = {"LATTICE_RUN": "digits-1", "LATTICE_EXPERIMENT": "0", "LATTICE_ATTEMPT": "1",
           "LATTICE_METRICS_FILE": tmp_path / "metrics.jsonl", "LATTICE_ARTIFACTS_DIR": tmp_path / "artifacts",
           "LATTICE_CHECKPOINT_DIR": tmp_path / "checkpoints"}

    def run(*args, **extra):
        e = env_with(**dict(env, **extra))
        if not with_sdk:  # a shadowing module that fails to import, as when the SDK is not installed
            (tmp_path / "nosdk").mkdir(exist_ok=True)
            (tmp_path / "nosdk" / "lattice.py").write_text("raise ImportError('no SDK here')\n")
            e["PYTHONPATH"] = str(tmp_path / "nosdk")
        r = subprocess.run([sys.executable, str(DIGITS), *args], env=e, cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()

    out = run("--epochs", "3")
    assert out[0] == "run=digits-1 experiment=0 attempt=1 train=1347 test=450"
    assert [s.split(" loss=")[0] for s in out[1:4]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert out[-1].startswith("final test accuracy 0.")
    docs = [json.loads(s) for s in lines(env["LATTICE_METRICS_FILE"])]
    steps = [d["step"] for d in docs if "loss" in d]
    assert steps == list(range(1, 67))  # 22 batches an epoch
    assert [(d["step"], d["epoch"]) for d in docs if "test_acc" in d] == [(22, 1), (44, 2), (66, 3)]
    ckpts = env["LATTICE_CHECKPOINT_DIR"]
    assert sorted(p.name for p in ckpts.iterdir()) == ["epoch-0001.pt", "epoch-0002.pt", "epoch-0003.pt"]
    confusion = json.loads((env["LATTICE_ARTIFACTS_DIR"] / "confusion_matrix.json").read_text())
    assert sum(map(sum, confusion["matrix"])) == 450

    (ckpts / "epoch-0003.pt").unlink()  # as if the machine was lost during epoch 3
    resumed = run("--epochs", "4", LATTICE_ATTEMPT="2")
    assert resumed[1] == "resumed from epoch-0002.pt at epoch 2"
    assert resumed[2].startswith("epoch 3/4") and resumed[3].startswith("epoch 4/4")
    assert resumed[2].split()[2:4] == out[3].split()[2:4]  # the same epoch 3 as without the interruption
    docs = [json.loads(s) for s in lines(env["LATTICE_METRICS_FILE"])]
    assert [d["step"] for d in docs if "test_acc" in d] == [22, 44, 66, 66, 88]


def test_digits_example_writes_nothing_outside_lattice(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    r = subprocess.run([sys.executable, str(DIGITS), "--epochs", "1"], env=env_with(), cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("final test accuracy")
    assert list(tmp_path.iterdir()) == []
