"""A PyTorch Lightning logger that records metrics with Lattice.

    import lattice
    from lattice.lightning import LatticeLogger
    from pytorch_lightning.callbacks import ModelCheckpoint   # or lightning.pytorch.callbacks

    trainer = Trainer(logger=LatticeLogger(),
                      callbacks=[ModelCheckpoint(dirpath=lattice.checkpoint_dir())])
    trainer.fit(model, ckpt_path=lattice.latest_checkpoint("*.ckpt"))

Works with the ``lightning`` package (``lightning.pytorch``) when it is
installed, else with ``pytorch_lightning``. Importing ``lattice`` alone never
imports torch or Lightning; importing this module does.
"""

from __future__ import annotations

import json
import math
from argparse import Namespace
from typing import Any, Dict, Mapping, Optional, Union

import lattice

try:
    from lightning.pytorch.loggers.logger import Logger as _Logger
    from lightning.pytorch.loggers.logger import rank_zero_experiment
    from lightning.pytorch.utilities import rank_zero_only
except ImportError:
    from pytorch_lightning.loggers.logger import Logger as _Logger
    from pytorch_lightning.loggers.logger import rank_zero_experiment
    from pytorch_lightning.utilities import rank_zero_only

__all__ = ["LatticeLogger"]


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
