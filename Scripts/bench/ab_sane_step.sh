#!/bin/bash
# Alternating comparison of the SANE training step: this build, optionally a second build, and
# PyTorch, in rounds (the VM's speed drifts by ±15 % between invocations, so every side is
# measured once per round). Output: one line per run, prefixed NEW / BASE / TORCH.
#
#   Scripts/bench/ab_sane_step.sh [BASE_SANE_BINARY]      (from the repository root, after `make build`)
#   Scripts/bench/ab_sane_step.sh SANE_GEMM=openblas      (this build against itself with OpenBLAS for every GEMM)
#   Scripts/bench/ab_sane_step.sh resnet [BASE_SANE_BINARY]   (ResNet windows: 256 tokens of d_t 288)
#   SANE=/path/to/sane Scripts/bench/ab_sane_step.sh …     (time that binary as "this build")
#
# Rounds: 3 at the CPU config (d 256), 2 at the paper's size (d 1024, 4 × 64 windows).
# With `resnet`: 3 at the ResNet CPU preset (Configs/resnet-cpu.json: d 128, 4+4 blocks, 2 × 8
# windows), 2 at the paper's ResNet width (d 2048, 8 heads, position tables of a width-64 ResNet-18)
# with 2+2 blocks and 2 × 2 windows (RESNET_PAPER to change: the paper's 8+8 blocks and 8 windows
# need ~15 GB and minutes per step on 2 cores). Every run prints its wall and CPU time per step.
set -u
NEW=${SANE:-.build/release/sane}   # SANE=path: another binary as this build
SHAPES=cnn
if [ "${1:-}" = resnet ]; then SHAPES=resnet; shift; fi
BASE=${1:-}
BASE_CMD=()
if [[ "$BASE" == SANE_GEMM=* ]]; then BASE_CMD=(env "$BASE" "$NEW"); elif [ -n "$BASE" ]; then BASE_CMD=("$BASE"); fi
echo "# $(date -u) $(uname -n) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
run() {   # run LABEL ARGS...: one Sane step benchmark
  local label=$1; shift
  "$@" 2>&1 | sed "s/^/$label /"
}
if [ $SHAPES = resnet ]; then
  uptime
  for i in 1 2 3; do
    echo "== resnet-cpu round $i"
    run "NEW  " $NEW bench sane-step --config resnet-cpu --repeats 3
    [ ${#BASE_CMD[@]} -gt 0 ] && run "BASE " "${BASE_CMD[@]}" bench sane-step --config resnet-cpu --repeats 3
    python3 Scripts/bench/pytorch_sane_step.py --threads 2 --config resnet-cpu --repeats 3 2>&1 | tail -1 | sed "s/^/TORCH /"
  done
  PAPER=${RESNET_PAPER:---blocks 2 --batch 2 --repeats 2}
  for i in 1 2; do
    echo "== resnet-paper round $i ($PAPER)"
    run "NEW  " $NEW bench sane-step --config resnet-paper $PAPER
    [ ${#BASE_CMD[@]} -gt 0 ] && run "BASE " "${BASE_CMD[@]}" bench sane-step --config resnet-paper $PAPER
    python3 Scripts/bench/pytorch_sane_step.py --threads 2 --config resnet-paper $PAPER 2>&1 | tail -1 | sed "s/^/TORCH /"
  done
  uptime
  echo "# done $(date -u)"
  exit 0
fi
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
