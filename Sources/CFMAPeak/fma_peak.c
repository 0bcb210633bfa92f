// The FP32 FMA peak `sane bench peak` measures: the widest fused multiply-add the CPU has, chosen at
// run time. Swift compiles the rest of Sane for AVX2 (Package.swift) and cannot emit AVX-512 for one
// function, but the BLAS uses it where the CPU has it; a peak measured with 8-lane FMAs on such a CPU
// understates what GEMM can reach (an AVX-512 Xeon ran SGEMM at 130 % of it). Each variant is compiled
// for its own instruction set (target attributes) and only called when the CPU reports it.
#include "fma_peak.h"

#define CHAINS(V)                                                                         \
    V x = (V){0} + 0.999999f, y = (V){0} + 1e-7f;                                         \
    V a0 = (V){0} + seed, a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5;  \
    V a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11;    \
    for (long i = 0; i < iterations; i++) {                                               \
        a0 = a0 * x + y; a1 = a1 * x + y; a2 = a2 * x + y; a3 = a3 * x + y;                \
        a4 = a4 * x + y; a5 = a5 * x + y; a6 = a6 * x + y; a7 = a7 * x + y;                \
        a8 = a8 * x + y; a9 = a9 * x + y; a10 = a10 * x + y; a11 = a11 * x + y;            \
    }                                                                                     \
    V s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));   \
    float total = 0;                                                                      \
    for (unsigned j = 0; j < sizeof(V) / sizeof(float); j++) total += s[j];               \
    return total;

typedef float v4 __attribute__((vector_size(16)));
static float chains4(long iterations, float seed) { CHAINS(v4) }

#if defined(__x86_64__)
#pragma clang fp contract(fast)
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));
__attribute__((target("avx2,fma"))) static float chains8(long iterations, float seed) { CHAINS(v8) }
__attribute__((target("avx512f"))) static float chains16(long iterations, float seed) { CHAINS(v16) }
#endif

int sane_fma_lanes(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 16;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 8;
#endif
    return 4;
}

float sane_fma_chains(long iterations, float seed) {
#if defined(__x86_64__)
    switch (sane_fma_lanes()) {
    case 16: return chains16(iterations, seed);
    case 8: return chains8(iterations, seed);
    }
#endif
    return chains4(iterations, seed);
}
