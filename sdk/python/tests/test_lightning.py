"""Tests of lattice.lightning.LatticeLogger with a real Trainer (CPU, no server).

They run in a fresh interpreter that imports examples/lightning/debian_torch_compat.py
before Lightning (Debian's torch needs it with Lightning 2.1), and are skipped
when neither pytorch_lightning nor lightning can be imported there.
"""

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parent.parent
REPO = SDK.parent.parent
EXAMPLE = REPO / "examples" / "lightning"
LATTICE_VARS = ("LATTICE_RUN", "LATTICE_EXPERIMENT", "LATTICE_ATTEMPT", "LATTICE_ARTIFACTS_DIR",
                "LATTICE_CHECKPOINT_DIR", "LATTICE_METRICS_FILE")

PRELUDE = """
import debian_torch_compat
try:
    import lightning.pytorch as pl
except ImportError:
    import pytorch_lightning as pl
debian_torch_compat.patch_lightning_module(pl.LightningModule)
"""


def env_with(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in LATTICE_VARS}
    env["PYTHONPATH"] = os.pathsep.join([str(SDK), str(EXAMPLE)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env["PYTHONWARNINGS"] = "ignore"
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def run_py(code, cwd=None, timeout=300, **env):
    r = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], env=env_with(**env), cwd=cwd,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr[-4000:]}"
    return r


@functools.lru_cache(maxsize=None)
def lightning_problem():
    """None when Lightning imports (with the compat shim), else why not."""
    r = subprocess.run([sys.executable, "-c", PRELUDE + "import sklearn\nprint(pl.__version__)"],
                       env=env_with(), capture_output=True, text=True, timeout=300)
    if r.returncode == 0:
        return None
    last = (r.stderr.strip().splitlines() or ["?"])[-1]
    return f"PyTorch Lightning (or torch, scikit-learn) is not importable with {sys.executable}: {last}"


@pytest.fixture(autouse=True)
def needs_lightning():
    problem = lightning_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture
def lattice_env(tmp_path):
    return {"LATTICE_RUN": "digits-7", "LATTICE_EXPERIMENT": "2", "LATTICE_ATTEMPT": "1",
            "LATTICE_METRICS_FILE": tmp_path / "metrics.jsonl", "LATTICE_ARTIFACTS_DIR": tmp_path / "artifacts",
            "LATTICE_CHECKPOINT_DIR": tmp_path / "checkpoints"}


TINY_FIT = """
import torch, lattice
from torch.utils.data import DataLoader, TensorDataset
from lattice.lightning import LatticeLogger

class Tiny(pl.LightningModule):
    def __init__(self, lr=0.1, width=4):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(3, 2)
    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.layer(x), y)
        self.log("train_loss", loss)
        return loss
    def validation_step(self, batch, _):
        x, y = batch
        self.log("val", torch.nn.functional.cross_entropy(self.layer(x), y))
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

torch.manual_seed(0)
data = TensorDataset(torch.randn(32, 3), torch.randint(0, 2, (32,)))
logger = LatticeLogger()
trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=2, logger=logger, log_every_n_steps=1,
                     enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
trainer.fit(Tiny(), DataLoader(data, batch_size=8), DataLoader(data, batch_size=16))
print("name", logger.name, "version", logger.version, "log_dir", logger.log_dir, "save_dir", logger.save_dir)
"""


def test_trainer_logs_metrics_and_hparams(lattice_env, tmp_path):
    r = run_py(TINY_FIT, cwd=tmp_path, **lattice_env)
    art = lattice_env["LATTICE_ARTIFACTS_DIR"]
    assert f"name digits-7 version 2 log_dir {art} save_dir {art}" in r.stdout
    docs = [json.loads(s) for s in Path(lattice_env["LATTICE_METRICS_FILE"]).read_text().splitlines()]
    train = [d for d in docs if "train_loss" in d]
    val = [d for d in docs if "val" in d]
    # 4 batches an epoch, 2 epochs, logged every step; Lightning's steps start at 0.
    assert [d["step"] for d in train] == list(range(8))
    assert [d["step"] for d in val] == [3, 7]
    assert [d["epoch"] for d in val] == [0, 1]
    assert all(isinstance(d["train_loss"], float) and isinstance(d["time"], float) for d in train)
    assert json.loads((art / "hparams.json").read_text()) == {"lr": 0.1, "width": 4}
    assert not (tmp_path / "lattice_artifacts").exists()


def test_only_global_rank_zero_logs(lattice_env, tmp_path):
    run_py("""
        import lattice
        from lattice.lightning import LatticeLogger, rank_zero_only
        rank_zero_only.rank = 1  # what Lightning sets in every process but the first
        logger = LatticeLogger()
        logger.log_hyperparams({"lr": 0.1})
        logger.log_metrics({"loss": 1.0}, step=0)
        logger.finalize("success")
        assert type(logger.experiment).__name__ == "_DummyExperiment", type(logger.experiment)
        rank_zero_only.rank = 0
        assert logger.experiment is lattice
        logger.log_metrics({"loss": 2.0}, step=1)
    """, cwd=tmp_path, **lattice_env)
    assert [json.loads(s)["loss"] for s in Path(lattice_env["LATTICE_METRICS_FILE"]).read_text().splitlines()] == [2.0]
    assert not (lattice_env["LATTICE_ARTIFACTS_DIR"] / "hparams.json").exists()


def test_hparams_accept_namespaces_and_odd_values(lattice_env, tmp_path):
    run_py("""
        import argparse, math, pathlib, torch
        from lattice.lightning import LatticeLogger
        logger = LatticeLogger(prefix="train")
        logger.log_hyperparams(argparse.Namespace(lr=torch.tensor(0.5), layers=[1, 2], path=pathlib.Path("/x")))
        logger.log_hyperparams({"nan": math.nan, "opt": {"name": "adam"}})
        logger.log_metrics({"loss": torch.tensor(1.5), "epoch": 1.0}, step=4)
        logger.save()
    """, cwd=tmp_path, **lattice_env)
    hp = json.loads((lattice_env["LATTICE_ARTIFACTS_DIR"] / "hparams.json").read_text())
    assert hp == {"lr": 0.5, "layers": [1, 2], "path": "/x", "nan": "nan", "opt": {"name": "adam"}}
    doc = json.loads(Path(lattice_env["LATTICE_METRICS_FILE"]).read_text())
    assert (doc["step"], doc["train/loss"], doc["train/epoch"]) == (4, 1.5, 1.0)


def run_example(args, env, cwd):
    r = subprocess.run([sys.executable, str(EXAMPLE / "train.py"), *args], env=env_with(**env), cwd=cwd,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr[-4000:]}"
    return r.stdout


def test_example_trains_checkpoints_and_resumes(lattice_env, tmp_path):
    out = run_example(["--epochs", "2", "--batch-size", "128"], lattice_env, tmp_path)
    final = out.strip().splitlines()[-1]
    assert final.startswith("final val_acc=") and float(final.split("=")[1]) > 0.5, out
    ckpts = sorted(p.name for p in lattice_env["LATTICE_CHECKPOINT_DIR"].iterdir())
    assert ckpts == ["digits-epoch=000.ckpt", "digits-epoch=001.ckpt"]
    art = lattice_env["LATTICE_ARTIFACTS_DIR"]
    assert json.loads((art / "hparams.json").read_text())["lr"] == 0.01
    assert list((art / "tensorboard").glob("version_*/events.out.tfevents.*")), "no TensorBoard event files"
    docs = [json.loads(s) for s in Path(lattice_env["LATTICE_METRICS_FILE"]).read_text().splitlines()]
    assert {"train_loss_step", "val_acc", "val_loss", "train_loss_epoch"} <= {k for d in docs for k in d}

    # A new attempt finds the newest checkpoint and trains only the epochs left.
    out = run_example(["--epochs", "3", "--batch-size", "128", "--logger", "lattice"],
                      dict(lattice_env, LATTICE_ATTEMPT="2"), tmp_path)
    assert "resumed from digits-epoch=001.ckpt at epoch 2" in out, out
    assert (lattice_env["LATTICE_CHECKPOINT_DIR"] / "digits-epoch=002.ckpt").is_file()
    epochs = [json.loads(s).get("epoch") for s in Path(lattice_env["LATTICE_METRICS_FILE"]).read_text().splitlines()]
    assert 2 in epochs and epochs.count(0) == epochs.count(1)  # epochs 0 and 1 were not trained again


# A model whose training_step sends SIGTERM to its own process at global step
# $KILL_STEP on global rank $KILL_RANK: a real signal at a known batch.
STOPPABLE = """
import os, signal, sys, time, torch, lattice
from torch.utils.data import DataLoader, TensorDataset
from lattice.lightning import CheckpointOnStop, resume_from

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)
    def training_step(self, batch, _):
        if self.global_step == int(os.environ.get("KILL_STEP", -1)) and self.global_rank == int(os.environ.get("KILL_RANK", 0)):
            os.kill(os.getpid(), signal.SIGTERM)
        if self.global_step == 1:
            print("training", flush=True)
        time.sleep(float(os.environ.get("STEP_SLEEP", 0)))
        x, y = batch
        return torch.nn.functional.cross_entropy(self.layer(x), y)
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

class Report(pl.Callback):
    def on_train_start(self, trainer, pl_module):
        print("start step", trainer.global_step, flush=True)

torch.manual_seed(0)
data = TensorDataset(torch.randn(32, 3), torch.randint(0, 2, (32,)))   # 4 batches an epoch
on_stop = CheckpointOnStop()
callbacks = [on_stop, Report()]
if os.environ.get("EPOCH_CHECKPOINTS"):
    callbacks.append(pl.callbacks.ModelCheckpoint(dirpath=lattice.checkpoint_dir(), filename="{epoch}",
                                                  every_n_epochs=1, save_top_k=-1))
nodes = int(os.environ.get("WORLD_SIZE", 1))
trainer = pl.Trainer(accelerator="cpu", devices=1, num_nodes=nodes, strategy="ddp" if nodes > 1 else "auto",
                     max_epochs=3, min_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
                     enable_checkpointing=bool(os.environ.get("EPOCH_CHECKPOINTS")), callbacks=callbacks)
trainer.fit(Tiny(), DataLoader(data, batch_size=8), ckpt_path=resume_from())
print("end step", trainer.global_step, "saved", on_stop.saved_path and os.path.basename(on_stop.saved_path),
      "handler", getattr(signal.getsignal(signal.SIGTERM), "__module__", None), flush=True)
"""


def test_checkpoint_on_stop_saves_stops_and_resumes(lattice_env, tmp_path):
    ckpts = lattice_env["LATTICE_CHECKPOINT_DIR"]
    r = run_py(STOPPABLE, cwd=tmp_path, KILL_STEP=5, EPOCH_CHECKPOINTS=1, **lattice_env)
    # SIGTERM during global step 5 (batch 1 of epoch 1): saved after that batch, at step 6,
    # although min_epochs=3; the SDK's handler is back after fit. ModelCheckpoint saved
    # epoch 0 and not the cut-short epoch 1.
    assert r.stdout.splitlines()[-1] == "end step 6 saved stop-step=00000006.ckpt handler lattice", r.stdout
    assert sorted(p.name for p in ckpts.iterdir()) == ["epoch=0.ckpt", "stop-step=00000006.ckpt"]
    r = run_py("""
        import torch, lattice.lightning
        print(lattice.lightning.resume_from(), torch.load(lattice.lightning.resume_from())["global_step"])
        print(lattice.lightning.resume_from("*.pt"))
    """, cwd=tmp_path, **lattice_env)
    assert r.stdout.splitlines() == [f"{ckpts / 'stop-step=00000006.ckpt'} 6", "None"]

    r = run_py(STOPPABLE, cwd=tmp_path, **dict(lattice_env, LATTICE_ATTEMPT=2))
    lines = r.stdout.splitlines()
    assert lines[0] == "start step 6", r.stdout
    # Lightning 2.1 runs the batch a mid-epoch checkpoint was saved after once more (as after
    # its own ModelCheckpoint(every_n_train_steps=...)): 12 batches in all, 13 optimizer steps.
    assert lines[-1] == "end step 13 saved None handler lattice"


def test_checkpoint_on_stop_with_sigterm_from_outside(lattice_env, tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", PRELUDE + STOPPABLE], env=env_with(STEP_SLEEP=0.05, **lattice_env),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "start step 0\n"
    assert proc.stdout.readline() == "training\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    step = int(out.split("end step ")[1].split()[0])
    assert 2 <= step < 12 and f"saved stop-step={step:08d}.ckpt" in out, out
    assert (lattice_env["LATTICE_CHECKPOINT_DIR"] / f"stop-step={step:08d}.ckpt").is_file()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_gang(argv, tmp_path, n=2, timeout=300, **extra):
    """n processes of one DDP job on this machine, with the environment Lattice gives each rank
    (one rank per node, each node its own LATTICE_* directories); their stdouts."""
    port = free_port()
    procs = []
    for r in range(n):
        node = tmp_path / f"node{r}"
        env = env_with(LATTICE_RUN="digits-9", LATTICE_EXPERIMENT="0", LATTICE_ATTEMPT="1",
                       LATTICE_METRICS_FILE=node / "metrics.jsonl", LATTICE_ARTIFACTS_DIR=node / "artifacts",
                       LATTICE_CHECKPOINT_DIR=node / "checkpoints", MASTER_ADDR="127.0.0.1", MASTER_PORT=port,
                       WORLD_SIZE=n, RANK=r, LOCAL_RANK=0, LOCAL_WORLD_SIZE=1, NODE_RANK=r, GROUP_RANK=r,
                       GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS=1, **extra)
        procs.append(subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"rank {procs.index(p)} did not finish within {timeout}s")
        assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{out}\nstderr:\n{err[-4000:]}"
        outs.append(out)
    return outs


def test_checkpoint_on_stop_ranks_agree_under_ddp(tmp_path):
    # Only rank 1 gets SIGTERM; both stop after the same batch and rank 0 writes the file.
    outs = run_gang([sys.executable, "-c", PRELUDE + STOPPABLE], tmp_path, KILL_STEP=3, KILL_RANK=1)
    assert [o.splitlines()[-1] for o in outs] == ["end step 4 saved stop-step=00000004.ckpt handler lattice"] * 2
    assert [p.name for p in (tmp_path / "node0" / "checkpoints").iterdir()] == ["stop-step=00000004.ckpt"]
    node1 = tmp_path / "node1" / "checkpoints"
    assert not node1.exists() or list(node1.iterdir()) == []


def test_example_runs_ddp_on_two_nodes_under_an_external_launcher(tmp_path):
    outs = run_gang([sys.executable, str(EXAMPLE / "train.py"), "--epochs", "2", "--logger", "lattice"], tmp_path)
    finals = [o.strip().splitlines()[-1] for o in outs]
    assert finals[0] == finals[1] and float(finals[0].split("=")[1]) > 0.5, outs
    node0 = tmp_path / "node0"
    assert sorted(p.name for p in (node0 / "checkpoints").iterdir()) == ["digits-epoch=000.ckpt",
                                                                         "digits-epoch=001.ckpt"]
    # Each rank trains on half of the 1347 training samples: 11 batches of 64 an epoch.
    docs = [json.loads(s) for s in (node0 / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in docs if "train_loss_step" in d] == list(range(22))
    assert not (tmp_path / "node1" / "metrics.jsonl").exists()
    assert not (tmp_path / "node1" / "artifacts" / "hparams.json").exists()
