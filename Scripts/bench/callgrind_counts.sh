#!/bin/bash
# Instruction counts (valgrind --tool=callgrind, total Ir) of small fixed workloads, for A/B
# comparisons on a loaded machine, where counts repeat and times do not. One line per workload:
#   LABEL WORKLOAD Ir
#
#   Scripts/bench/callgrind_counts.sh LABEL SANE_BINARY
#
# Workloads: a SANE step of the `tiny` preset (d 32, 2×32 windows × 48 tokens, 1 worker: small
# ops, so per-op overhead shows; warm-up + 1 timed step, plus the bench's FMA-peak probe) and zoo
# CNN / CNN3 training (batch 64, 10 batches, synthetic data, one thread, warm-up + 1 timed epoch).
# With 2 workers the threads spin under valgrind's one-thread-at-a-time scheduling (tens of
# minutes, counts not repeatable), and a d-256 step takes over half an hour: time those instead
# (ab_sane_step.sh).
set -eu
LABEL=$1; BIN=$2
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
# valgrind 3.x cannot read the DWARF of Swift 6.3 release builds ("Possibly corrupted debuginfo
# file"); the counts do not need it.
objcopy --strip-debug "$BIN" "$TMP/sane"
count() {   # count NAME ARGS...
  local name=$1; shift
  timeout 900 valgrind --tool=callgrind --callgrind-out-file="$TMP/$name.out" "$TMP/sane" "$@" >/dev/null 2>"$TMP/$name.err"
  echo "$LABEL $name $(grep -m1 '^summary:' "$TMP/$name.out" | cut -d' ' -f2)"
}
count cnn-train bench cnn-train --steps 10 --repeats 1 --synthetic
count cnn3-train bench cnn-train --architecture CNN3 --steps 10 --repeats 1 --synthetic
# OpenBLAS's idle pool threads spin under valgrind; one thread keeps the count finite and fixed
OPENBLAS_NUM_THREADS=1 count sane-step-tiny bench sane-step --config tiny --repeats 1 --threads 1
