"""Train a small classifier on scikit-learn's bundled digits with PyTorch Lightning.

CPU, no download. Metrics go to Lattice through lattice.lightning.LatticeLogger
and/or to TensorBoard event files in the artifacts directory (Lattice picks
those up too). A checkpoint is saved every epoch into lattice.checkpoint_dir(),
and one more when Lattice asks the run to stop (cancel, preemption: SIGTERM);
a new attempt resumes from the newest one.

    python train.py --epochs 5 --lr 0.01 --batch-size 64 --logger both
    lattice run --nodes 2 examples/lightning/train.py --epochs 5     # DDP on two machines

Under an external launcher (Lattice, torchrun) the processes are started for
Lightning: --devices and --num-nodes default to what the environment says
(LOCAL_WORLD_SIZE processes on each of WORLD_SIZE / LOCAL_WORLD_SIZE nodes), and
the strategy to "ddp" when that is more than one process. Lightning reads
MASTER_ADDR, MASTER_PORT, NODE_RANK (or GROUP_RANK) and LOCAL_RANK.

Needs the lattice SDK (pip install sdk/python) and pytorch-lightning;
debian_torch_compat.py, beside this file, lets Lightning 2.1 import with
Debian's torch.
"""
import argparse
import os
import sys

import debian_torch_compat  # before Lightning; changes nothing on a regular torch

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

try:
    import lightning.pytorch as pl
except ImportError:
    import pytorch_lightning as pl

debian_torch_compat.patch_lightning_module(pl.LightningModule)

try:
    import lattice
    from lattice.lightning import CheckpointOnStop, LatticeLogger, resume_from
except ImportError:
    sys.exit("this example needs the lattice SDK: pip install sdk/python (from the Lattice repository)")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--logger", choices=["lattice", "tensorboard", "both"], default="both")
    p.add_argument("--no-resume", action="store_true",
                   help="start afresh even when the checkpoint directory holds a checkpoint")
    p.add_argument("--devices", type=int, default=None,
                   help="processes on each node (default: $LOCAL_WORLD_SIZE, else 1)")
    p.add_argument("--num-nodes", type=int, default=None,
                   help="nodes (default: $WORLD_SIZE / $LOCAL_WORLD_SIZE, else 1)")
    p.add_argument("--strategy", default=None,
                   help='Lightning strategy (default: "ddp" for more than one process, else "auto")')
    args = p.parse_args()
    if args.devices is None:
        args.devices = int(os.environ.get("LOCAL_WORLD_SIZE") or 1)
    if args.num_nodes is None:
        args.num_nodes = max(1, int(os.environ.get("WORLD_SIZE") or 1) // args.devices)
    if args.strategy is None:
        args.strategy = "ddp" if args.devices * args.num_nodes > 1 else "auto"
    return args


class Digits(pl.LightningModule):
    def __init__(self, lr=0.01, hidden=64):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, _idx):
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, _idx):
        x, y = batch
        logits = self(x)
        # sync_dist: with DDP each rank validates a shard; the logged value is the mean over ranks.
        self.log("val_loss", self.loss_fn(logits, y), on_epoch=True, sync_dist=True)
        self.log("val_acc", (logits.argmax(dim=1) == y).float().mean(), on_epoch=True, sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def loaders(batch_size, seed):
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=seed)
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=len(x_val))
    return train, val


def main():
    args = parse_args()
    pl.seed_everything(args.seed, workers=True)
    torch.set_num_threads(1)
    train, val = loaders(args.batch_size, args.seed)
    model = Digits(lr=args.lr, hidden=args.hidden)

    loggers = []
    if args.logger in ("lattice", "both"):
        loggers.append(LatticeLogger())
    if args.logger in ("tensorboard", "both"):
        loggers.append(pl.loggers.TensorBoardLogger(save_dir=str(lattice.artifacts_dir()), name="tensorboard"))
    checkpoints = pl.callbacks.ModelCheckpoint(
        dirpath=lattice.checkpoint_dir(), filename="digits-{epoch:03d}", every_n_epochs=1, save_top_k=-1)
    # On SIGTERM all ranks agree on a batch, save digits-stop-step=N.ckpt and stop.
    on_stop = CheckpointOnStop(filename="digits-stop-step={step:08d}.ckpt")
    trainer = pl.Trainer(accelerator="cpu", devices=args.devices, num_nodes=args.num_nodes, strategy=args.strategy,
                         max_epochs=args.epochs, logger=loggers, callbacks=[checkpoints, on_stop],
                         log_every_n_steps=1, enable_progress_bar=False, enable_model_summary=False,
                         deterministic=True)

    resume = None if args.no_resume else resume_from("digits-*.ckpt")
    if resume is not None:
        state = torch.load(resume, map_location="cpu")
        name = os.path.basename(resume)
        if name.startswith("digits-stop-"):  # saved in the middle of an epoch
            print(f"resumed from {name} at step {state['global_step']}")
        else:
            print(f"resumed from {name} at epoch {state['epoch'] + 1}")
    trainer.fit(model, train, val, ckpt_path=resume)
    val_acc = trainer.callback_metrics.get("val_acc")
    if val_acc is None:  # nothing left to train after resuming: measure the restored model
        val_acc = trainer.validate(model, val, verbose=False)[0]["val_acc"]
    print(f"final val_acc={float(val_acc):.4f}")


if __name__ == "__main__":
    main()
