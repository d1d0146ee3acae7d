"""PyTorch Lightning with Lattice: a logger, a callback that checkpoints when
the run is asked to stop, and the checkpoint to resume from.

    import lattice
    from lattice.lightning import CheckpointOnStop, LatticeLogger, resume_from
    from pytorch_lightning.callbacks import ModelCheckpoint   # or lightning.pytorch.callbacks

    trainer = Trainer(logger=LatticeLogger(),
                      callbacks=[ModelCheckpoint(dirpath=lattice.checkpoint_dir()), CheckpointOnStop()])
    trainer.fit(model, ckpt_path=resume_from())

Works with the ``lightning`` package (``lightning.pytorch``) when it is
installed, else with ``pytorch_lightning``. Importing ``lattice`` alone never
imports torch or Lightning; importing this module does.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
from argparse import Namespace
from typing import Any, Dict, Mapping, Optional, Union

import lattice

try:
    from lightning.pytorch.callbacks import Callback as _Callback
    from lightning.pytorch.loggers.logger import Logger as _Logger
    from lightning.pytorch.loggers.logger import rank_zero_experiment
    from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
except ImportError:
    from pytorch_lightning.callbacks import Callback as _Callback
    from pytorch_lightning.loggers.logger import Logger as _Logger
    from pytorch_lightning.loggers.logger import rank_zero_experiment
    from pytorch_lightning.utilities import rank_zero_info, rank_zero_only

__all__ = ["LatticeLogger", "CheckpointOnStop", "resume_from"]


def _jsonable(value: Any) -> Any:
    """value in a form json.dumps accepts: scalars via .item(), the rest as str()."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _jsonable(item())
        except Exception:
            pass
    return str(value)


class LatticeLogger(_Logger):
    """Sends Lightning's metrics to Lattice (lattice.log) from global rank 0.

    name is the run's name and version the experiment's id (``"local"`` and
    ``"0"`` outside Lattice). Hyperparameters go to
    <artifacts_dir>/hparams.json. save_dir and log_dir are artifacts_dir(), so
    files Lightning puts there are kept as artifacts; for checkpoints Lattice
    can resume from, pass ``ModelCheckpoint(dirpath=lattice.checkpoint_dir())``.
    """

    def __init__(self, prefix: str = "") -> None:
        """prefix: put before every metric name, joined with "/" (e.g. "train")."""
        super().__init__()
        self._prefix = prefix
        self._hparams: Dict[str, Any] = {}

    @property
    def name(self) -> str:
        return lattice.run_name() or "local"

    @property
    def version(self) -> str:
        return lattice.experiment() or "0"

    @property
    def root_dir(self) -> str:
        return str(lattice.artifacts_dir())

    @property
    def save_dir(self) -> str:
        return str(lattice.artifacts_dir())

    @property
    def log_dir(self) -> str:
        return str(lattice.artifacts_dir())

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The lattice module itself on rank 0 (a no-op object elsewhere)."""
        return lattice

    @rank_zero_only
    def log_hyperparams(self, params: Union[Dict[str, Any], Namespace], *args: Any, **kwargs: Any) -> None:
        """Merges params into <artifacts_dir>/hparams.json (written through a temporary name)."""
        if isinstance(params, Namespace):
            params = vars(params)
        self._hparams.update(_jsonable(dict(params or {})))
        directory = lattice.artifacts_dir()
        tmp = directory / ".hparams.json.tmp"
        tmp.write_text(json.dumps(self._hparams, indent=2, sort_keys=True) + "\n")
        tmp.replace(directory / "hparams.json")

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: Optional[int] = None) -> None:
        """lattice.log(metrics, step); Lightning's step is the global step."""
        if self._prefix:
            metrics = {f"{self._prefix}/{k}": v for k, v in metrics.items()}
        # Lightning adds "epoch" as a float; Lattice keeps any number.
        lattice.log(metrics, step=None if step is None else int(step))

    @rank_zero_only
    def save(self) -> None:
        lattice.flush()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        lattice.flush()


class CheckpointOnStop(_Callback):
    """Saves a checkpoint and ends training when Lattice asks the run to stop.

    Lattice sends SIGTERM to every rank on cancel, on preemption (a spot
    machine taken back, a lost node) and when another rank of the job
    failed, then SIGKILL after a grace period. After every training batch
    this callback asks lattice.should_stop() on each rank and reduces the
    answers across ranks (any rank asked is enough), so all ranks agree on
    the same batch; then every rank calls trainer.save_checkpoint() (global
    rank 0 writes the file) and sets trainer.should_stop. The file is
    written under a temporary name and renamed, in checkpoint_dir() unless
    dirpath is given, as ``filename`` formatted with step (the global step)
    and epoch. Pass ``ckpt_path=resume_from()`` to trainer.fit to resume.

    Lightning's own SIGTERM handling (each rank that got the signal raises
    at the end of its batch, on its own) is replaced during training by the
    SDK's, so a SIGTERM does not end the process; min_epochs and min_steps
    do not hold the stop back. Lightning still runs its end-of-training
    hooks, including a validation pass when one is configured, within the
    grace period; ModelCheckpoint callbacks are told that this step is
    saved, so they do not save the cut-short epoch as if it had ended. A
    rank blocked in a collective whose peer is gone cannot save; the last
    periodic checkpoint (ModelCheckpoint) is what remains. The reduction is
    one small all_reduce per batch.

    Resuming from it is resuming mid-epoch: Lightning 2.1 then trains the
    batch the checkpoint was saved after once more, as after its own
    ModelCheckpoint(every_n_train_steps=...).
    """

    def __init__(self, filename: str = "stop-step={step:08d}.ckpt", dirpath: Optional[str] = None) -> None:
        super().__init__()
        self.filename = filename
        self.dirpath = dirpath
        self.saved_path: Optional[str] = None

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        # Installed before Trainer registers its handlers, so the Trainer
        # puts the SDK's back when it tears down.
        lattice.handle_preemption()

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.saved_path = None
        if threading.current_thread() is threading.main_thread() and lattice.handle_preemption():
            signal.signal(signal.SIGTERM, lattice._on_sigterm)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        asked = lattice.should_stop() or bool(getattr(trainer, "received_sigterm", False))
        if self.saved_path is not None or not trainer.strategy.reduce_boolean_decision(asked, all=False):
            return
        directory = self.dirpath or str(lattice.checkpoint_dir())
        name = self.filename.format(step=trainer.global_step, epoch=trainer.current_epoch)
        final = os.path.join(directory, name)
        tmp = os.path.join(directory, f".{name}.tmp")
        trainer.save_checkpoint(tmp)  # every rank takes part; global rank 0 writes
        if trainer.is_global_zero:
            os.replace(tmp, final)
        self.saved_path = final
        # ModelCheckpoint would save this step again at the end of the cut-short epoch, as a
        # checkpoint of a finished epoch (resuming from it skips the rest of the epoch), and
        # newer than ours. This is how it records that a step is saved already.
        for callback in trainer.checkpoint_callbacks:
            if hasattr(callback, "_last_global_step_saved"):
                callback._last_global_step_saved = trainer.global_step
        trainer.should_stop = True
        trainer.fit_loop.min_epochs = 0
        trainer.fit_loop.epoch_loop.min_steps = None
        rank_zero_info(f"lattice: asked to stop; saved {final} at step {trainer.global_step}, stopping")


def resume_from(pattern: str = "*.ckpt") -> Optional[str]:
    """The checkpoint to resume from, for ``trainer.fit(..., ckpt_path=resume_from())``.

    The newest file in lattice.checkpoint_dir() matching pattern (a glob;
    files being written are skipped), as a string, or None when there is
    none: then fit starts afresh. On a new attempt Lattice restores the
    newest checkpoint into that directory on every node, so every rank
    finds the same file.
    """
    path = lattice.latest_checkpoint(pattern)
    return None if path is None else str(path)
