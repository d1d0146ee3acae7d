#!/usr/bin/env bash
# Sets everything up and runs the main job on the embedded default: a local
# server and agent (started in the background under $LATTICE_HOME), and a
# real PyTorch training run of examples/digits/train.py, following its logs
# to the end and printing its final state.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
export PATH="$PWD/build:$PATH"

echo "== lattice run --follow examples/digits/train.py --epochs 10"
lattice run --follow --name "digits-$(date +%s)" examples/digits/train.py --epochs 10 --lr 0.01
echo "== lattice status"
lattice status
