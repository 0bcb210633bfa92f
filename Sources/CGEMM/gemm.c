// Sane's own packed SGEMM with an AVX-512 micro-kernel (see include/sane_gemm.h).
//
// Loop nest (Goto / BLIS, with the roles of A and B swapped because C is row-major and the vectors
// run along its rows):
//
//     for pc in 0..<k by KC                      depth block; beta applies at the first only
//       for ic in 0..<m by MC                    pack op(A)[ic.., pc..] → Ã (MC×KC, MR-row panels)
//         for jc in 0..<n by NC                  pack op(B)[pc.., jc..] → B̃ (KC×NC, NR-column panels)
//           for ir in 0..<MC by MR               one panel of Ã (MR×KC), kept in L1
//             for jr in 0..<NC by NR             one panel of B̃ (KC×NR), streamed from L2
//               C[ir.., jr..] (MR×NR) = alpha · Ã-panel · B̃-panel + beta · C    (micro-kernel)
//
// The micro-kernel holds an MR×NR tile of C in MR·NR/16 zmm registers; each step of the depth
// loads NR/16 vectors of B̃ and broadcasts MR values of Ã. Panels are zero-padded to whole tiles,
// so the kernel always computes a full tile and stores only the valid rows, masking the columns.
// Every element of C is the same sum in the same order whatever the blocking of m and n, so
// splitting a product over cores by rows or columns does not change its bits.
//
// Compiled for AVX-512 per function (target attributes) so the rest of the package stays
// Haswell-compatible; `sane_gemm_available` checks the CPU at run time.
#include "sane_gemm.h"
#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#ifndef SANE_GEMM_MR
#define SANE_GEMM_MR 12
#endif
#ifndef SANE_GEMM_NV
#define SANE_GEMM_NV 2
#endif
enum { MR = SANE_GEMM_MR, NV = SANE_GEMM_NV, NR = 16 * NV };

#define AVX512 __attribute__((target("avx512f"), noinline))

int sane_gemm_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
}

void sane_gemm_tile(int *rows, int *columns) { *rows = MR; *columns = NR; }

// MARK: - Cache sizes and blocking

/// Size in bytes of the cache at `level` ("Data" or "Unified"), and how many CPUs share it, from
/// sysfs; 0 when Linux does not tell.
static long sysfs_cache(int level, int *sharing) {
    char path[128], text[256];
    for (int index = 0; index < 16; index++) {
        long lvl = 0, size = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", index);
        FILE *f = fopen(path, "r");
        if (!f) break;
        if (fscanf(f, "%ld", &lvl) != 1) lvl = 0;
        fclose(f);
        if (lvl != level) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        if (!(f = fopen(path, "r"))) continue;
        int instruction = fgets(text, sizeof text, f) && strncmp(text, "Instruction", 11) == 0;
        fclose(f);
        if (instruction) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", index);
        if (!(f = fopen(path, "r"))) continue;
        char unit = 'K';
        if (fscanf(f, "%ld%c", &size, &unit) < 1) size = 0;
        fclose(f);
        size *= unit == 'M' ? 1 << 20 : unit == 'G' ? 1 << 30 : unit == 'K' ? 1 << 10 : 1;
        // shared_cpu_list: "0-1", "0,2,4-7", …
        *sharing = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/shared_cpu_list", index);
        if ((f = fopen(path, "r"))) {
            if (fgets(text, sizeof text, f)) {
                char *s = text;
                while (*s >= '0' && *s <= '9') {
                    long lo = strtol(s, &s, 10), hi = lo;
                    if (*s == '-') hi = strtol(s + 1, &s, 10);
                    *sharing += (int)(hi - lo + 1);
                    if (*s == ',') s++;
                }
            }
            fclose(f);
        }
        if (*sharing < 1) *sharing = 1;
        return size;
    }
    return 0;
}

/// Cache size in bytes at `level` available to one core: sysfs, else sysconf, else `fallback`.
static long cache_per_core(int level, long fallback) {
    int sharing = 1;
    long size = sysfs_cache(level, &sharing);
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    if (size <= 0) {
        size = sysconf(level == 1 ? _SC_LEVEL1_DCACHE_SIZE : level == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
        sharing = level == 3 ? (int)sysconf(_SC_NPROCESSORS_ONLN) : 1;
        if (sharing < 1) sharing = 1;
    }
#endif
    return size > 0 ? size / sharing : fallback;
}

static int default_mc, default_kc, default_nc, chosen_mc, chosen_kc, chosen_nc;
static pthread_once_t blocking_once = PTHREAD_ONCE_INIT;

static long clamp(long x, long lo, long hi) { return x < lo ? lo : x > hi ? hi : x; }

/// KC: a panel of Ã (MR×KC floats) takes half of L1, the other half streams B̃ and C.
/// NC: B̃ (KC×NC) takes half of L2. MC: Ã (MC×KC) takes half of this core's share of L3.
static void derive_blocking(void) {
    long l1 = cache_per_core(1, 32 << 10), l2 = cache_per_core(2, 512 << 10), l3 = cache_per_core(3, 4 << 20);
    default_kc = (int)clamp(l1 / 2 / (MR * 4) / 16 * 16, 64, 1024);
    default_nc = (int)clamp(l2 / 2 / (default_kc * 4) / NR * NR, NR, 1 << 16);
    default_mc = (int)clamp(l3 / 2 / (default_kc * 4) / MR * MR, MR, 1 << 16);
    chosen_mc = default_mc; chosen_kc = default_kc; chosen_nc = default_nc;
}

void sane_gemm_blocking(int *mc, int *kc, int *nc) {
    pthread_once(&blocking_once, derive_blocking);
    *mc = chosen_mc; *kc = chosen_kc; *nc = chosen_nc;
}

void sane_gemm_set_blocking(int mc, int kc, int nc) {
    pthread_once(&blocking_once, derive_blocking);
    chosen_mc = mc > 0 ? (mc + MR - 1) / MR * MR : default_mc;
    chosen_kc = kc > 0 ? kc : default_kc;
    chosen_nc = nc > 0 ? (nc + NR - 1) / NR * NR : default_nc;
}

// MARK: - Packing buffers (one pair per thread, grown on demand, freed when the thread ends)

typedef struct { float *a, *b; size_t capacity_a, capacity_b; } Workspace;
static pthread_key_t workspace_key;
static pthread_once_t workspace_once = PTHREAD_ONCE_INIT;

static void free_workspace(void *p) {
    Workspace *w = p;
    free(w->a); free(w->b); free(w);
}
static void make_workspace_key(void) { pthread_key_create(&workspace_key, free_workspace); }

/// A 64-byte aligned buffer of at least `count` floats in `*buffer`, reallocated when too small.
static float *reserve(float **buffer, size_t *capacity, size_t count) {
    if (count > *capacity) {
        free(*buffer);
        *buffer = aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
        if (!*buffer) { fprintf(stderr, "sane_sgemm: out of memory for a %zu-float packing buffer\n", count); abort(); }
        *capacity = count;
    }
    return *buffer;
}

static Workspace *workspace(void) {
    pthread_once(&workspace_once, make_workspace_key);
    Workspace *w = pthread_getspecific(workspace_key);
    if (!w) {
        if (!(w = calloc(1, sizeof *w))) { fprintf(stderr, "sane_sgemm: out of memory\n"); abort(); }
        pthread_setspecific(workspace_key, w);
    }
    return w;
}

// MARK: - Packing

#define AVX512_INLINE __attribute__((target("avx512f"), always_inline)) static inline

/// Loads a 16×16 block, row i from src + i·ld (rows ≥ `rows` and columns outside `columns` read
/// as zero), and transposes it: out[j] holds column j.
AVX512_INLINE void load_transposed16(const float *src, long ld, long rows, __mmask16 columns, __m512 out[16]) {
    __m512 r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_maskz_loadu_ps(columns, src + i * ld) : _mm512_setzero_ps();
    // t[2a], t[2a+1]: rows 2a and 2a+1 interleaved (within each 128-bit lane)
    for (int i = 0; i < 16; i += 2) { t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]); t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); }
    // r[4b+c], lane L: column 4L+c of rows 4b..4b+3
    for (int b = 0; b < 16; b += 4) {
        r[b] = _mm512_shuffle_ps(t[b], t[b + 2], 0x44);     r[b + 1] = _mm512_shuffle_ps(t[b], t[b + 2], 0xEE);
        r[b + 2] = _mm512_shuffle_ps(t[b + 1], t[b + 3], 0x44); r[b + 3] = _mm512_shuffle_ps(t[b + 1], t[b + 3], 0xEE);
    }
    // out[4L+c] = lanes L of r[c], r[4+c], r[8+c], r[12+c]
    for (int c = 0; c < 4; c++) {
        __m512 p0 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88), p1 = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
        __m512 q0 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88), q1 = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
        out[c] = _mm512_shuffle_f32x4(p0, q0, 0x88);      out[8 + c] = _mm512_shuffle_f32x4(p0, q0, 0xDD);
        out[4 + c] = _mm512_shuffle_f32x4(p1, q1, 0x88);  out[12 + c] = _mm512_shuffle_f32x4(p1, q1, 0xDD);
    }
}

/// The lowest `count` lanes (0…16).
AVX512_INLINE __mmask16 lanes(long count) {
    return count >= 16 ? 0xFFFF : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

/// Rows [0, mc) × depth [0, kc) of op(A), starting at `a`, into MR-row panels: panel r holds
/// element (r·MR + i, p) at [p·MR + i]; rows past mc are zero.
AVX512 static void pack_a(int transposed, const float *a, long lda, long mc, long kc, float *dst) {
    const __mmask16 tile = lanes(MR);
    for (long i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
        long rows = mc - i0 < MR ? mc - i0 : MR;
        if (transposed) {            // element (i, p) at a[p·lda + i]: MR contiguous values per p
            __mmask16 valid = lanes(rows);
            for (long p = 0; p < kc; p++)
                _mm512_mask_storeu_ps(dst + p * MR, tile, _mm512_maskz_loadu_ps(valid, a + p * lda + i0));
        } else {                     // element (i, p) at a[i·lda + p]: transpose 16-deep blocks of MR rows
            for (long p0 = 0; p0 < kc; p0 += 16) {
                long depth = kc - p0 < 16 ? kc - p0 : 16;
                __m512 column[16];
                load_transposed16(a + i0 * lda + p0, lda, rows, lanes(depth), column);
                for (long q = 0; q < depth; q++) _mm512_mask_storeu_ps(dst + (p0 + q) * MR, tile, column[q]);
            }
        }
    }
}

/// Depth [0, kc) × columns [0, nc) of op(B), starting at `b`, into NR-column panels: panel s holds
/// element (p, s·NR + j) at [p·NR + j]; columns past nc are zero.
AVX512 static void pack_b(int transposed, const float *b, long ldb, long kc, long nc, float *dst) {
    for (long j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
        long cols = nc - j0 < NR ? nc - j0 : NR;
        if (transposed) {            // element (p, j) at b[j·ldb + p]: transpose 16×16 blocks
            for (int v = 0; v < NV; v++)
                for (long p0 = 0; p0 < kc; p0 += 16) {
                    long depth = kc - p0 < 16 ? kc - p0 : 16;
                    __m512 row[16];
                    load_transposed16(b + (j0 + 16 * v) * ldb + p0, ldb, cols - 16 * v, lanes(depth), row);
                    for (long q = 0; q < depth; q++) _mm512_store_ps(dst + (p0 + q) * NR + 16 * v, row[q]);
                }
        } else {                     // element (p, j) at b[p·ldb + j]: NR contiguous values per p
            __mmask16 mask[NV];
            for (int v = 0; v < NV; v++) mask[v] = lanes(cols - 16 * v);
            for (long p = 0; p < kc; p++)
                for (int v = 0; v < NV; v++)
                    _mm512_store_ps(dst + p * NR + 16 * v, _mm512_maskz_loadu_ps(mask[v], b + p * ldb + j0 + 16 * v));
        }
    }
}

// MARK: - Micro-kernel

/// C[rows×cols] = alpha · Ã-panel (MR×kc) · B̃-panel (kc×NR) + beta · C, for rows ≤ MR, cols ≤ NR;
/// beta = 0 does not read C.
AVX512 static void kernel(long kc, const float *restrict pa, const float *restrict pb, float *c, long ldc,
                          long rows, long cols, float alpha, float beta) {
    __m512 acc[MR][NV];
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++)
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
    for (long p = 0; p < kc; p++, pa += MR, pb += NR) {
        __m512 bv[NV];
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) bv[v] = _mm512_load_ps(pb + 16 * v);
#pragma clang loop unroll(full)
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(pa[i]);
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
        }
    }
    __mmask16 mask[NV];
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) mask[v] = lanes(cols - 16 * v);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
        if (i >= rows) break;
        float *ci = c + i * ldc;
#pragma clang loop unroll(full)
        for (int v = 0; v < NV; v++) {
            __m512 r = beta == 0 ? _mm512_mul_ps(acc[i][v], va)
                                 : _mm512_fmadd_ps(acc[i][v], va, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mask[v], ci + 16 * v)));
            _mm512_mask_storeu_ps(ci + 16 * v, mask[v], r);
        }
    }
}

// MARK: - Driver

AVX512 static void gemm_avx512(int ta, int tb, long m, long n, long k, float alpha, const float *a, long lda,
                               const float *b, long ldb, float beta, float *c, long ldc) {
    int MC, KC, NC;
    sane_gemm_blocking(&MC, &KC, &NC);
    Workspace *w = workspace();
    long mcMax = m < MC ? (m + MR - 1) / MR * MR : MC, ncMax = n < NC ? (n + NR - 1) / NR * NR : NC;
    long kcMax = k < KC ? k : KC;
    float *packedA = reserve(&w->a, &w->capacity_a, (size_t)(mcMax * kcMax));
    float *packedB = reserve(&w->b, &w->capacity_b, (size_t)(ncMax * kcMax));
    for (long pc = 0; pc < k; pc += KC) {
        long kc = k - pc < KC ? k - pc : KC;
        float betaBlock = pc == 0 ? beta : 1;
        for (long ic = 0; ic < m; ic += MC) {
            long mc = m - ic < MC ? m - ic : MC;
            pack_a(ta, ta ? a + pc * lda + ic : a + ic * lda + pc, lda, mc, kc, packedA);
            for (long jc = 0; jc < n; jc += NC) {
                long nc = n - jc < NC ? n - jc : NC;
                pack_b(tb, tb ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, packedB);
                for (long ir = 0; ir < mc; ir += MR)
                    for (long jr = 0; jr < nc; jr += NR)
                        kernel(kc, packedA + ir * kc, packedB + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc,
                               mc - ir, nc - jr, alpha, betaBlock);
            }
        }
    }
}

void sane_sgemm(int transpose_a, int transpose_b, long m, long n, long k, float alpha,
                const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc) {
    gemm_avx512(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

#else  // not x86-64: no kernel; callers check sane_gemm_available() and use their BLAS.

int sane_gemm_available(void) { return 0; }
void sane_gemm_tile(int *rows, int *columns) { *rows = 1; *columns = 1; }
void sane_gemm_blocking(int *mc, int *kc, int *nc) { *mc = *kc = *nc = 0; }
void sane_gemm_set_blocking(int mc, int kc, int nc) { (void)mc; (void)kc; (void)nc; }
void sane_sgemm(int transpose_a, int transpose_b, long m, long n, long k, float alpha,
                const float *a, long lda, const float *b, long ldb, float beta, float *c, long ldc) {
    fprintf(stderr, "sane_sgemm: no kernel for this CPU (check sane_gemm_available first)\n");
    abort();
}

#endif
