#ifndef SANE_GEMM_H
#define SANE_GEMM_H

/// Sane's own packed SGEMM (gemm.c): row-major C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
/// on one thread, with an AVX-512 micro-kernel. Callers split work over cores themselves.

/// 1 when this CPU can run the kernel (AVX-512F), else 0: `sane_sgemm` must not be called then.
int sane_gemm_available(void);

/// The micro-kernel's register tile: `rows` of C (broadcasts of op(A)) × `columns` (vectors of op(B)).
void sane_gemm_tile(int *rows, int *columns);

/// Cache blocking: `kc` (depth of a packed block), `mc` (rows of op(A) packed at once),
/// `nc` (columns of op(B) packed at once). Derived from the caches at first use unless set.
void sane_gemm_blocking(int *mc, int *kc, int *nc);

/// Overrides the blocking (tests use small blocks so that small products cross block edges);
/// a value ≤ 0 restores that parameter's cache-derived default. Not thread-safe: call it while
/// no `sane_sgemm` runs.
void sane_gemm_set_blocking(int mc, int kc, int nc);

/// C = alpha · op(A) · op(B) + beta · C on the calling thread. beta = 0 never reads C.
/// Requires m, n, k ≥ 1 and lda, ldb, ldc at least the row lengths as stored.
void sane_sgemm(int transpose_a, int transpose_b, long m, long n, long k, float alpha,
                const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc);

#endif
