import CBLAS
import Foundation

/// General matrix multiply, row-major:
///
///     C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
///
/// `op(X)` is `X` or `Xᵀ`. `lda`, `ldb`, `ldc` are row strides of the matrices as stored.
/// With `beta = 1` the product accumulates into `C` — backward passes use that.
///
/// The product runs in BLAS (OpenBLAS on Linux, Accelerate on macOS) on one thread per call.
/// Products of at least `BLAS.parallelThreshold` multiply-adds are split into `Parallel.workers`
/// blocks of C — along the longer of m and n, at multiples of 16 — each one single-threaded
/// BLAS call on its own core (see `BLAS` for why). Results are deterministic for a given
/// `Parallel.workers`; across worker counts they differ in the last bits (OpenBLAS's kernels for
/// the ragged edge of a block sum in another order).
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
    _ = BLAS.configure
    BLAS.work.add(2 * m * n * k)
    let workers = Parallel.isBusy || m * n * k < BLAS.parallelThreshold ? 1 : Parallel.workers
    let splitRows = m >= n
    let blocks = min(workers, (splitRows ? m : n) / 16)
    if blocks <= 1 {
        BLAS.gemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    }
    let length = splitRows ? m : n
    Parallel.forEach(blocks) { i in
        let lo = i * length / blocks / 16 * 16
        let hi = i == blocks - 1 ? length : (i + 1) * length / blocks / 16 * 16
        if splitRows {
            // rows lo..<hi of C take rows lo..<hi of op(A)
            BLAS.gemm(transposeA, transposeB, hi - lo, n, k, alpha, transposeA ? a + lo : a + lo * lda, lda,
                      b, ldb, beta, c + lo * ldc, ldc)
        } else {
            // columns lo..<hi of C take columns lo..<hi of op(B)
            BLAS.gemm(transposeA, transposeB, m, hi - lo, k, alpha, a, lda,
                      transposeB ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc)
        }
    }
}

/// BLAS threading: BLAS itself always runs on one thread; `sgemm` and the callers split work
/// over the cores with `Parallel`.
///
/// Why not OpenBLAS's own threads: for the mid-sized products of a SANE step (3,072 × 768 × 256)
/// two single-threaded calls on half of C each ran at 150–158 GFLOP/s where OpenBLAS's two threads
/// gave 80–139, and between calls its idle workers spin in `sched_yield` (8 % of a d-1024 step in
/// `perf`), taking the cores from our own parallel loops.
public enum BLAS {
    /// Smallest product (m·n·k multiply-adds) that `sgemm` splits over the cores: below ≈ 4 MFLOP
    /// (≈ 50 µs on one core) the dispatch costs more than it saves.
    public static let parallelThreshold = 1 << 21

    /// Floating-point operations done by `sgemm` so far (2·m·n·k per call), for benchmarks that
    /// report a step's GFLOP/s from what it actually computed.
    public static var flops: Int { work.value }
    static let work = Counter()

    /// Sets BLAS to one thread, once per process (Accelerate: nothing to do).
    static let configure: Void = {
        #if !os(macOS)
        openblas_set_num_threads(1)
        #endif
    }()

    @inline(__always)
    static func gemm(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                     _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                     _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// A thread-safe running total.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0
    func add(_ n: Int) { lock.lock(); total += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return total }
}
