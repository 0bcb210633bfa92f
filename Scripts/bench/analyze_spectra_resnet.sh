#!/bin/bash
# Layer spectra at ResNet size (BENCHMARKS.md "Layer spectra at ResNet size"): times
# `sane analyze --zoo Z` (no --model: spectra only) on random-init ResNet-18/34 at widths 16 and 64,
# wall time and peak RSS from /usr/bin/time, eigenvalue seconds from the command's own summary.
# Usage (repository root):  Scripts/bench/analyze_spectra_resnet.sh [SANE_BINARY] [WORK_FOLDER]
# To compare two builds, run it for each into its own folder, then
#   python3 Scripts/bench/compare_spectra.py A/out-resnet18-w64/spectra.json B/out-resnet18-w64/spectra.json
set -euo pipefail
sane=${1:-.build/release/sane}
work=${2:-/tmp/sane-spectra-bench}
[ -d "$work/zoos" ] || python3 Scripts/bench/make_resnet_spectra_zoos.py "$work/zoos"
for z in resnet18-w16 resnet34-w16 resnet18-w64 resnet34-w64; do
  rm -rf "$work/out-$z"
  /usr/bin/time -f "$z: wall %e s, peak RSS %M KB" "$sane" analyze --zoo "$work/zoos/$z" --out "$work/out-$z" 2>&1 >"$work/out-$z.txt" \
    | grep -v '^spectra'
  head -1 "$work/out-$z.txt"
done
