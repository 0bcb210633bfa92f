#!/bin/bash
# Alternating comparison of the SANE training step: this build, optionally a second build, and
# PyTorch, in rounds (the VM's speed drifts by ±15 % between invocations, so every side is
# measured once per round). Output: one line per run, prefixed NEW / BASE / TORCH.
#
#   Scripts/bench/ab_sane_step.sh [BASE_SANE_BINARY]      (from the repository root, after `make build`)
#   Scripts/bench/ab_sane_step.sh SANE_GEMM=openblas      (this build against itself with OpenBLAS for every GEMM)
#
# Rounds: 3 at the CPU config (d 256), 2 at the paper's size (d 1024, 4 × 64 windows).
set -u
NEW=.build/release/sane
BASE=${1:-}
BASE_CMD=()
if [[ "$BASE" == SANE_GEMM=* ]]; then BASE_CMD=(env "$BASE" "$NEW"); elif [ -n "$BASE" ]; then BASE_CMD=("$BASE"); fi
echo "# $(date -u) $(uname -n) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
run() {   # run LABEL ARGS...: one Sane step benchmark
  local label=$1; shift
  "$@" 2>&1 | sed "s/^/$label /"
}
for i in 1 2 3; do
  echo "== d256 round $i"
  run "NEW  " $NEW bench sane-step --repeats 5
  [ ${#BASE_CMD[@]} -gt 0 ] && run "BASE " "${BASE_CMD[@]}" bench sane-step --repeats 5
  python3 Scripts/bench/pytorch_sane_step.py --threads 2 --repeats 5 2>&1 | tail -1 | sed "s/^/TORCH /"
done
PAPER="--config cnn-paper --d-model 1024 --heads 8 --blocks 8 --batch 4 --window 64 --repeats 3"
for i in 1 2; do
  echo "== d1024 round $i"
  run "NEW  " $NEW bench sane-step $PAPER
  [ ${#BASE_CMD[@]} -gt 0 ] && run "BASE " "${BASE_CMD[@]}" bench sane-step $PAPER
  python3 Scripts/bench/pytorch_sane_step.py --threads 2 --config cnn-paper --batch 4 --window 64 --repeats 2 2>&1 | tail -1 | sed "s/^/TORCH /"
done
$NEW bench peak --repeats 5
echo "# done $(date -u)"
