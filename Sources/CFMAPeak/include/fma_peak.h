#ifndef SANE_FMA_PEAK_H
#define SANE_FMA_PEAK_H

/// Widest FP32 vector, in lanes, that this CPU runs fused multiply-adds on and `sane_fma_chains`
/// can use: 16 (AVX-512F), 8 (AVX2 + FMA) or 4 (anything else: SSE, NEON).
int sane_fma_lanes(void);

/// 12 independent chains of `iterations` fused multiply-adds on `sane_fma_lanes()`-wide vectors:
/// 24 · lanes FLOP per iteration. Returns a sum of all chains so that none is optimized away.
float sane_fma_chains(long iterations, float seed);

#endif
