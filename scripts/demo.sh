#!/usr/bin/env bash
# Sets everything up and runs the main job on the embedded default: a local
# server and agent (started in the background under $LATTICE_HOME), and a
# real sweep (3 learning rates x 2 widths) of PyTorch training runs of
# examples/digits/train.py, following their logs to the end, then the final
# state, the metrics table sorted by test accuracy, the kept artifacts and
# the cost (with, before it, what the same sweep would cost on a cloud GPU).
# The web UI is built too, and its address printed first, to watch the sweep
# in a browser as it goes.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
scripts/build-web.sh
export PATH="$PWD/build:$PATH"

echo "== lattice ui   # open this address in a browser to watch the sweep"
lattice ui

echo "== lattice run --dry-run --instance_type g5.xlarge --max-duration 10m ...   # what the sweep would cost on AWS"
lattice run --dry-run --instance_type g5.xlarge --max-duration 10m examples/digits/train.py --epochs 10 \
  --lr "[0.003, 0.01, 0.03]" --hidden "[32, 128]" | tail -3

echo "== lattice run --follow examples/digits/train.py --epochs 10 --lr \"[0.003, 0.01, 0.03]\" --hidden \"[32, 128]\""
name="digits-$(date +%s)"
lattice run --follow --name "$name" examples/digits/train.py --epochs 10 \
  --lr "[0.003, 0.01, 0.03]" --hidden "[32, 128]"
echo "== lattice status $name"
lattice status "$name"
echo "== lattice metrics $name --key test_acc --key loss --sort test_acc:max --desc"
lattice metrics "$name" --key test_acc --key loss --sort test_acc:max --desc
echo "== lattice artifacts $name --kind all"
lattice artifacts "$name" --kind all
echo "== lattice cost $name   # this machine is free unless priced: lattice cluster set local --price-per-hour N"
lattice cost "$name"
