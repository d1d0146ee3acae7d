"""Train a small classifier on scikit-learn's bundled digits data set.

Runs anywhere PyTorch (CPU is fine) and scikit-learn are installed; needs no
download. Under Lattice it logs the loss every step and the test accuracy
every epoch (with the lattice SDK, or as JSON lines when the SDK is not
installed), saves a checkpoint every epoch into LATTICE_CHECKPOINT_DIR and
resumes from the newest one there, and writes a confusion matrix into
LATTICE_ARTIFACTS_DIR. On its own it runs as a plain script and writes nothing.

    python train.py --epochs 5 --lr 0.01 --hidden 64
"""
import argparse
import json
import os
import time
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

try:
    import lattice
except ImportError:  # the SDK is optional: fall back to the JSON-lines contract
    lattice = None


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


class Metrics:
    """lattice.log(), or one JSON line per call appended to LATTICE_METRICS_FILE without the SDK."""

    def __init__(self):
        path = os.environ.get("LATTICE_METRICS_FILE")
        self.file = open(path, "a") if lattice is None and path else None

    def log(self, values, step):
        if lattice is not None:
            lattice.log(values, step=step)
        elif self.file is not None:
            self.file.write(json.dumps({"step": step, **values}) + "\n")

    def flush(self):
        if lattice is not None:
            lattice.flush()
        elif self.file is not None:
            self.file.flush()


def env_dir(var):
    """The directory named by var (created), or None when it is unset: then nothing is saved."""
    if not os.environ.get(var):
        return None
    if lattice is not None:
        return lattice.checkpoint_dir() if var == "LATTICE_CHECKPOINT_DIR" else lattice.artifacts_dir()
    path = Path(os.environ[var])
    path.mkdir(parents=True, exist_ok=True)
    return path


def newest_checkpoint(ckpt_dir):
    if ckpt_dir is None:
        return None
    if lattice is not None:
        return lattice.latest_checkpoint("epoch-*.pt")
    found = [p for p in ckpt_dir.glob("epoch-*.pt") if p.is_file()]
    return max(found, key=lambda p: (p.stat().st_mtime_ns, p.name)) if found else None


def save_checkpoint(ckpt_dir, state, epoch):
    """Writes epoch-NNNN.pt through a temporary name, so a half-written file never has the final name."""
    final = ckpt_dir / f"epoch-{epoch:04d}.pt"
    tmp = ckpt_dir / f".{final.name}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, final)


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=args.seed)

    model = torch.nn.Sequential(
        torch.nn.Linear(64, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    run = os.environ.get("LATTICE_RUN", "local")
    print(f"run={run} experiment={os.environ.get('LATTICE_EXPERIMENT', '-')} "
          f"attempt={os.environ.get('LATTICE_ATTEMPT', '-')} train={len(x_train)} test={len(x_test)}")
    metrics = Metrics()
    ckpt_dir = env_dir("LATTICE_CHECKPOINT_DIR")
    step = 0
    first_epoch = 1
    resume = newest_checkpoint(ckpt_dir)
    if resume is not None:
        state = torch.load(resume)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        step, first_epoch = state["step"], state["epoch"] + 1
        print(f"resumed from {resume.name} at epoch {state['epoch']}")

    for epoch in range(first_epoch, args.epochs + 1):
        started = time.time()
        model.train()
        perm = torch.randperm(len(x_train))
        total = 0.0
        for i in range(0, len(x_train), args.batch_size):
            idx = perm[i:i + args.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            batch_loss = loss.item()
            total += batch_loss * len(idx)
            step += 1
            metrics.log({"loss": batch_loss}, step)
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
        train_loss = total / len(x_train)
        print(f"epoch {epoch}/{args.epochs} loss={train_loss:.4f} test_acc={acc:.4f} "
              f"({time.time() - started:.2f}s)")
        metrics.log({"epoch": epoch, "train_loss": train_loss, "test_acc": acc}, step)
        if ckpt_dir is not None:
            save_checkpoint(ckpt_dir, {"epoch": epoch, "step": step, "model": model.state_dict(),
                                       "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                                       "args": vars(args)}, epoch)
    metrics.flush()

    model.eval()
    with torch.no_grad():
        pred = model(x_test).argmax(dim=1)
    acc = (pred == y_test).float().mean().item()
    artifacts = env_dir("LATTICE_ARTIFACTS_DIR")
    if artifacts is not None:
        confusion = torch.zeros(10, 10, dtype=torch.long)
        confusion.index_put_((y_test, pred), torch.ones_like(y_test), accumulate=True)
        (artifacts / "confusion_matrix.json").write_text(json.dumps(
            {"rows": "true digit", "columns": "predicted digit", "test_acc": acc,
             "matrix": confusion.tolist()}) + "\n")
    print(f"final test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
