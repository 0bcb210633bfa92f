#!/bin/bash
# Probes every checkpoint a run kept (`sane pretrain --keep-every N`) and prints validation and
# test R² per pooling, to choose the SANE checkpoint on the validation split (RESULTS.md).
#   Scripts/experiments/probe_kept_checkpoints.sh RUN ZOO EPOCHS     e.g. runs/seed-keep ../shared/zoos/mnist-cnn-seed 0-5
# Needs a release build (.build/release/sane) and python3 (standard library only).
set -euo pipefail
RUN=$1; ZOO=$2; EPOCHS=$3
SANE=${SANE:-.build/release/sane}
for dir in "$RUN"/checkpoints/epoch-*; do
  e=$((10#${dir##*epoch-}))
  "$SANE" probe --model "$RUN" --run-epoch "$e" --zoo "$ZOO" --epochs "$EPOCHS" --pooling mean,layers \
      --json --out "$RUN/probe-run-epoch-$e" 2>/dev/null |
  python3 -c '
import json, sys
r = json.load(sys.stdin)
cells = []
for m in ["SANE", "SANE layers"]:
    s = {x["target"]: x for x in r["scores"] if x["method"] == m}
    cells.append("%s: val %.3f/%.3f test %.3f/%.3f/%.3f" % (m, s["test_acc"]["validationR2"], s["epoch"]["validationR2"],
                 s["test_acc"]["testR2"], s["epoch"]["testR2"], s["ggap"]["testR2"]))
print("run epoch", sys.argv[1], " | ".join(cells))' "$e"
done
