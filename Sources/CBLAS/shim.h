// CBLAS interface: OpenBLAS on Linux (`apt-get install libopenblas-dev`).
// On macOS, Accelerate provides the same cblas_* symbols (see README.md).
#if defined(__APPLE__)
#include <Accelerate/Accelerate.h>
#else
#include <stddef.h>
#include <cblas.h>
// OpenBLAS thread control (not part of CBLAS).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);

// LAPACK (float64, column-major), also in libopenblas. Debian's OpenBLAS builds LAPACK with
// gfortran, which passes the length of every CHARACTER argument as a hidden trailing size_t;
// leaving them out is undefined behaviour, so they are declared and passed (as 1).
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_length, size_t uplo_length);
void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda,
            double *b, const int *ldb, int *info, size_t uplo_length);
#endif

// One spelling of the LAPACK calls for Swift on both platforms (Accelerate's CLAPACK
// prototypes take non-const pointers and no hidden lengths). Each returns LAPACK's INFO:
// 0 = success, −i = argument i was illegal, > 0 = the routine's own failure.

/// Eigenvalues (jobz 'N') or eigenpairs (jobz 'V') of the symmetric n×n matrix `a` (column-major,
/// the `uplo` triangle is read), ascending into `w`, by divide and conquer. lwork = −1 and
/// liwork = −1 query the workspace sizes into work[0] and iwork[0].
static inline int sane_dsyevd(char jobz, char uplo, int n, double *a, int lda, double *w,
                              double *work, int lwork, int *iwork, int liwork) {
    int info = 0;
#if defined(__APPLE__)
    __CLPK_integer n_ = n, lda_ = lda, lwork_ = lwork, liwork_ = liwork, info_ = 0;
    dsyevd_(&jobz, &uplo, &n_, a, &lda_, w, work, &lwork_, (__CLPK_integer *)iwork, &liwork_, &info_);
    info = (int)info_;
#else
    dsyevd_(&jobz, &uplo, &n, a, &lda, w, work, &lwork, iwork, &liwork, &info, 1, 1);
#endif
    return info;
}

/// Solves a·x = b for symmetric positive definite n×n `a` (column-major, `uplo` triangle read)
/// by Cholesky factorization; `b` (n×nrhs) is overwritten by x, `a` by the factor.
static inline int sane_dposv(char uplo, int n, int nrhs, double *a, int lda, double *b, int ldb) {
    int info = 0;
#if defined(__APPLE__)
    __CLPK_integer n_ = n, nrhs_ = nrhs, lda_ = lda, ldb_ = ldb, info_ = 0;
    dposv_(&uplo, &n_, &nrhs_, a, &lda_, b, &ldb_, &info_);
    info = (int)info_;
#else
    dposv_(&uplo, &n, &nrhs, a, &lda, b, &ldb, &info, 1);
#endif
    return info;
}
