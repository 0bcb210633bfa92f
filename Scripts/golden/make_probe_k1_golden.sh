#!/bin/sh
# Golden of the one-split probe (Tests/SaneTests/Golden/probe-k1): `sane probe` built from main
# 367165a, before `--splits` existed, on the shared seed zoo's epochs 0-2 (baselines only).
# CLITests.testProbeOneSplitIsUnchanged checks that `--splits 1` and no --splits still write these bytes.
# Usage: Scripts/golden/make_probe_k1_golden.sh SANE_BINARY_OF_367165a
set -eu
sane="$1"
out=$(mktemp -d)
"$sane" probe --zoo /work/shared/zoos/mnist-cnn-seed --epochs 0-2 --out "$out/p" > /dev/null
mkdir -p Tests/SaneTests/Golden/probe-k1
cp "$out/p/probe.json" "$out/p/probe.md" Tests/SaneTests/Golden/probe-k1/
rm -rf "$out"
