#!/bin/bash
# Alternating comparison of zoo-CNN training (one thread, batch 64, Adam): this build, optionally a
# second build, and PyTorch, in rounds, every side once per round (the shared VM's speed drifts
# between invocations; each side reports its thread's CPU time, robust to other jobs' load).
# Output: one line per run, prefixed NEW / BASE / TORCH, and the load average per round.
#
#   Scripts/bench/ab_cnn_train.sh [BASE_SANE_BINARY] [ROUNDS]      (from the repository root, after `make build`)
#
# Architectures: CNN3 on random CIFAR-shaped data (as PyTorch), CNN3 on the real CIFAR-10 copy
# when ../shared/data has it (Sane only), and the MNIST CNN on random data.
set -u
NEW=.build/release/sane
BASE=${1:-}
ROUNDS=${2:-3}
DATA=${SANE_DATA:-../shared/data}
echo "# $(date -u) $(uname -n) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
run() {   # run LABEL ARGS...
  local label=$1; shift
  "$@" 2>&1 | tail -1 | sed "s/^/$label /"
}
for i in $(seq 1 "$ROUNDS"); do
  echo "== round $i, load $(cut -d' ' -f1-3 /proc/loadavg)"
  run "NEW   CNN3 " $NEW bench cnn-train --architecture CNN3 --steps 100 --synthetic
  [ -n "$BASE" ] && run "BASE  CNN3 " "$BASE" bench cnn-train --architecture CNN3 --steps 100 --synthetic
  run "TORCH CNN3 " python3 Scripts/bench/pytorch_cnn_train.py --arch CNN3 --threads 1 --steps 100
  [ -d "$DATA/cifar10" ] && run "NEW   CNN3 " $NEW bench cnn-train --architecture CNN3 --steps 100 --data "$DATA"
  run "NEW   CNN  " $NEW bench cnn-train --steps 200 --synthetic
  [ -n "$BASE" ] && run "BASE  CNN  " "$BASE" bench cnn-train --steps 200 --synthetic
  run "TORCH CNN  " python3 Scripts/bench/pytorch_cnn_train.py --threads 1 --batch 64 --steps 200
done
echo "# done $(date -u), load $(cut -d' ' -f1-3 /proc/loadavg)"
