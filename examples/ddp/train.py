"""Data-parallel training with plain PyTorch DDP (gloo, CPU) on scikit-learn's digits.

No download. Every rank reads the usual torchrun variables (MASTER_ADDR,
MASTER_PORT, WORLD_SIZE, RANK); without them it is one process. So it runs as

    python train.py --steps 200                                  # one process
    torchrun --nproc_per_node 2 train.py --steps 200             # two on this machine
    lattice run --nodes 2 examples/ddp/train.py --steps 200      # two machines

Training is a pure function of (seed, step, world size): the batch of a step
is drawn from a generator seeded with the step, so a run resumed from a
checkpoint ends with exactly the parameters of a run that was never stopped.

With LATTICE_CHECKPOINT_DIR set, rank 0 saves step-NNNNNNNN.pt (model,
optimizer, step; through a temporary name and os.replace) every --ckpt-every
steps, at the last step and when asked to stop, and every rank resumes from
the newest one there (Lattice restores it on each node for a new attempt).
On SIGTERM (cancel, preemption, another rank failed) the ranks agree on a
stop at the same step by summing a flag in the all_reduce they do every
step, rank 0 saves, and all exit with status 0. A rank stuck in a collective
whose peer is gone cannot stop this way; Lattice kills it after the grace
period, and the last periodic checkpoint is what remains.

Rank 0 logs loss and accuracy (averaged over all ranks) every step with
lattice.log. At the end every rank prints one line

    final rank=R world=W params_sha256=HEX step=S

(HEX: SHA-256 of the float32 bytes of all parameters, in order), so a test can
check that all ranks hold the same model; with --throughput rank 0 also
prints `throughput steps_per_s=X`, measured from the end of the 10th step
this process ran to the end of its last (nan when it ran 10 steps or fewer).
"""
import argparse
import hashlib
import math
import os
import sys
import time

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from torch.nn.parallel import DistributedDataParallel

try:
    import lattice
except ImportError:
    sys.exit("this example needs the lattice SDK: pip install sdk/python (from the Lattice repository)")

WARMUP_STEPS = 10


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300, help="train until this global step")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch", type=int, default=32, help="samples per rank per step")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--ckpt-every", type=int, default=50, metavar="K", help="rank 0 saves every K steps")
    p.add_argument("--step-sleep", type=float, default=0.0, metavar="SECONDS",
                   help="sleep this long in every step (to slow training down for fault tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--throughput", action="store_true", help="rank 0 prints `throughput steps_per_s=X` at the end")
    return p.parse_args()


def checkpoint_dir():
    """lattice.checkpoint_dir() under Lattice; None otherwise (a local run saves nothing)."""
    return lattice.checkpoint_dir() if os.environ.get("LATTICE_CHECKPOINT_DIR") else None


def save_checkpoint(directory, model, opt, step):
    final = directory / f"step-{step:08d}.pt"
    tmp = directory / f".{final.name}.tmp"
    torch.save({"step": step, "model": model.state_dict(), "optimizer": opt.state_dict()}, tmp)
    os.replace(tmp, final)


def params_sha256(model):
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def main():
    args = parse_args()
    torch.set_num_threads(1)
    world, rank = lattice.world_size(), lattice.rank()
    if world > 1:
        dist.init_process_group("gloo")  # env://: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK
    # From here on SIGTERM only sets the flag that should_stop() reads (before, it ends the
    # process: a rank still waiting for its peers has nothing to save).
    lattice.handle_preemption()

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    step = 0
    ckpt_dir = checkpoint_dir()
    resume = lattice.latest_checkpoint("step-*.pt") if ckpt_dir is not None else None
    if resume is not None:  # every rank loads the same file: Lattice restores it on each node
        state = torch.load(resume)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = state["step"]
        print(f"resumed from step {step}", flush=True)
    net = DistributedDataParallel(model) if world > 1 else model  # DDP makes every rank start from rank 0's weights
    loss_fn = torch.nn.CrossEntropyLoss()

    first_step, started, stop = step, None, False
    while step < args.steps and not stop:
        # The batch of a step is a function of the step: resuming changes nothing.
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        idx = torch.randint(0, len(x), (world * args.batch,), generator=g)[rank * args.batch:(rank + 1) * args.batch]
        opt.zero_grad()
        logits = net(x[idx])
        loss = loss_fn(logits, y[idx])
        loss.backward()  # DDP averages the gradients over the ranks here
        opt.step()
        step += 1
        if args.step_sleep:
            time.sleep(args.step_sleep)
        # One all_reduce a step carries the metrics and the stop flag, so all ranks stop at the same step.
        stats = torch.tensor([loss.item() * len(idx), (logits.argmax(1) == y[idx]).sum().item(), len(idx),
                              float(lattice.should_stop())], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(stats)
        stop = stats[3].item() > 0
        lattice.log({"loss": stats[0].item() / stats[2].item(), "accuracy": stats[1].item() / stats[2].item()},
                    step=step)  # records on rank 0 only
        if rank == 0 and ckpt_dir is not None and (step % max(args.ckpt_every, 1) == 0 or step == args.steps or stop):
            save_checkpoint(ckpt_dir, model, opt, step)
        if step - first_step == WARMUP_STEPS:
            started = time.perf_counter()
    ended = time.perf_counter()
    if stop:
        print(f"stopping at step {step}: asked to stop", flush=True)

    lattice.flush()
    if args.throughput and rank == 0:
        measured = step - first_step - WARMUP_STEPS
        rate = measured / (ended - started) if started is not None and measured > 0 else math.nan
        print(f"throughput steps_per_s={rate:.3f}", flush=True)
    print(f"final rank={rank} world={world} params_sha256={params_sha256(model)} step={step}", flush=True)
    if world > 1:
        # Destroy the process group here, while `stats` (the last all_reduce's tensor) is
        # still referenced. A gloo worker thread lets go of a collective's tensors just after
        # the collective completes; if Python has already dropped them, that needs the GIL,
        # which the thread destroying the group holds while it joins the workers. With torch
        # 1.13 that deadlocked about one exit in twenty when the group went with DDP's
        # reducer as main()'s locals were cleared.
        del net
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
