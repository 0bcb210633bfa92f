import CBLAS

/// General matrix multiply through BLAS (OpenBLAS on Linux, Accelerate on macOS), row-major:
///
///     C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
///
/// `op(X)` is `X` or `Xᵀ`. `lda`, `ldb`, `ldc` are row strides of the matrices as stored.
/// With `beta = 1` the product accumulates into `C` — backward passes use that.
@inline(__always)
public func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // BLAS leaves C·beta untouched only for beta handling; make k = 0 explicit.
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        else if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
        return
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// BLAS threading. Large GEMMs use both cores; code that parallelizes over heads or models
/// itself sets BLAS to one thread around that region.
public enum BLAS {
    /// Sets the number of threads BLAS uses (no-op on Accelerate).
    public static func setThreads(_ n: Int) {
        #if !os(macOS)
        openblas_set_num_threads(Int32(n))
        #endif
    }

    public static var threads: Int {
        #if os(macOS)
        return 1
        #else
        return Int(openblas_get_num_threads())
        #endif
    }

    /// Runs `body` with BLAS restricted to one thread, restoring the previous setting.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        let previous = threads
        if previous != 1 { setThreads(1) }
        defer { if previous != 1 { setThreads(previous) } }
        return try body()
    }
}
