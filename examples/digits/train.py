"""Train a small classifier on scikit-learn's bundled digits data set.

Runs anywhere PyTorch (CPU is fine) and scikit-learn are installed; needs no
download. Under Lattice it reads LATTICE_* variables for where to put
checkpoints; on its own it runs as a plain script.

    python train.py --epochs 5 --lr 0.01 --hidden 64
"""
import argparse
import json
import os
import time

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


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
    metrics_path = os.environ.get("LATTICE_METRICS_FILE")
    step = 0
    for epoch in range(1, args.epochs + 1):
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
            total += loss.item() * len(idx)
            step += 1
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(dim=1) == y_test).float().mean().item()
        train_loss = total / len(x_train)
        print(f"epoch {epoch}/{args.epochs} loss={train_loss:.4f} test_acc={acc:.4f} "
              f"({time.time() - started:.2f}s)")
        if metrics_path:
            with open(metrics_path, "a") as f:
                f.write(json.dumps({"step": step, "epoch": epoch, "loss": train_loss, "test_acc": acc}) + "\n")

    ckpt_dir = os.environ.get("LATTICE_CHECKPOINT_DIR")
    if ckpt_dir:
        torch.save(model.state_dict(), os.path.join(ckpt_dir, "model.pt"))
    print(f"final test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
