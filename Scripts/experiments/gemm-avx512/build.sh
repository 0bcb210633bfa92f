#!/bin/bash
# Builds ./tiles: OpenBLAS and variants of Sources/CGEMM/gemm.c (one per argument NAME:FLAGS, e.g.
# "12x2:-DSANE_GEMM_MR=12 -DSANE_GEMM_NV=2"), each compiled with its public symbols renamed.
#   Scripts/experiments/gemm-avx512/build.sh "12x2:-DSANE_GEMM_MR=12 -DSANE_GEMM_NV=2" "6x4:-DSANE_GEMM_MR=6 -DSANE_GEMM_NV=4"
#   ./tiles THREADS TA TB M N K [TA TB M N K ...]
set -e
cd "$(dirname "$0")"
root=../../..; objs=""; decl=""; gs=""; names=""
for v in "$@"; do n=${v%%:*}; f=${v#*:}
  clang -O2 -c $f -Dsane_sgemm=sgemm_$n -Dsane_gemm_available=avail_$n -Dsane_gemm_tile=tile_$n \
    -Dsane_gemm_blocking=blk_$n -Dsane_gemm_set_blocking=setblk_$n -I$root/Sources/CGEMM/include \
    $root/Sources/CGEMM/gemm.c -o /tmp/gemm_variant_$n.o
  objs="$objs /tmp/gemm_variant_$n.o"; decl="$decl DECL($n)"; gs="$gs${gs:+,}sgemm_$n"; names="$names${names:+,}\"$n\""
done
clang -O2 "-DVARIANTS=$decl" "-DGS=$gs" "-DNAMES=$names" tiles.c $objs -o tiles -lopenblas -lpthread -lm
