// The 6×16 AVX2 micro-kernel of this experiment, shared by microkernel.c and packed-swift's CK=1
// variant: C[6×16] = alpha · Σ_p a[p, 0..<6] ⊗ b[p, 0..<16] + beta · C (C not read when beta = 0);
// a packed kc×6, b packed kc×16; 12 accumulators, 2 loads and 6 broadcasts per 12 FMAs.
#include <immintrin.h>

__attribute__((target("avx2,fma")))
static inline void k6x16(long kc, const float *a, const float *b, float *c, long ldc, float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (long p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), x;
        x = _mm256_broadcast_ss(a);     c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a + 1); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a + 2); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a + 3); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a + 4); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a + 5); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
        a += 6; b += 16;
    }
    __m256 al = _mm256_set1_ps(alpha), be = _mm256_set1_ps(beta);
    __m256 rows[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
    for (int r = 0; r < 6; r++) {
        float *q = c + r * ldc;
        __m256 v0 = _mm256_mul_ps(al, rows[2 * r]), v1 = _mm256_mul_ps(al, rows[2 * r + 1]);
        if (beta != 0) { v0 = _mm256_fmadd_ps(be, _mm256_loadu_ps(q), v0); v1 = _mm256_fmadd_ps(be, _mm256_loadu_ps(q + 8), v1); }
        _mm256_storeu_ps(q, v0); _mm256_storeu_ps(q + 8, v1);
    }
}
