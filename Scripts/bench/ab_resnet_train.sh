#!/bin/bash
# Alternating comparison of ResNet-18 training (batch 128, SGD momentum, 2 threads): this build,
# optionally a second build, and PyTorch, in rounds, every side once per round per width (the
# shared VM's speed drifts between invocations). Each side reports images/s by wall time and
# per second of process CPU time (all threads). One line per run, prefixed NEW / BASE / TORCH,
# and the load average per round.
#
#   Scripts/bench/ab_resnet_train.sh [BASE_SANE_BINARY] [ROUNDS] [WIDTHS]   (from the repository root)
#   e.g. Scripts/bench/ab_resnet_train.sh /tmp/sane-main 3 "8 64"
#
# Width 8: 3 batches per timed epoch, best of 2; width ≥ 32: 1 batch, best of 2.
set -u
NEW=${SANE:-.build/release/sane}
BASE=${1:-}
ROUNDS=${2:-3}
WIDTHS=${3:-8 64}
echo "# $(date -u) $(uname -n) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
run() {   # run LABEL ARGS...
  local label=$1; shift
  "$@" 2>&1 | tail -1 | sed "s/^/$label /"
}
for i in $(seq 1 "$ROUNDS"); do
  for w in $WIDTHS; do
    steps=3; [ "$w" -ge 32 ] && steps=1
    echo "== round $i, width $w, load $(cut -d' ' -f1-3 /proc/loadavg)"
    run "NEW   w$w" $NEW bench resnet-train --width "$w" --steps $steps --repeats 2
    [ -n "$BASE" ] && run "BASE  w$w" "$BASE" bench resnet-train --width "$w" --steps $steps --repeats 2
    run "TORCH w$w" python3 Scripts/bench/pytorch_resnet_train.py --width "$w" --steps $steps --repeats 2
  done
done
echo "# done $(date -u), load $(cut -d' ' -f1-3 /proc/loadavg)"
