import CBLAS
import CGEMM
import Foundation

/// General matrix multiply, row-major:
///
///     C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
///
/// `op(X)` is `X` or `Xᵀ`. `lda`, `ldb`, `ldc` are row strides of the matrices as stored.
/// With `beta = 1` the product accumulates into `C` — backward passes use that.
///
/// The product runs in one of two GEMMs, chosen per shape (`BLAS.usesOwnGEMM`, overridden by
/// the environment variable `SANE_GEMM=openblas|own|auto`): Sane's own packed SGEMM with an
/// AVX-512 micro-kernel (`OwnGEMM`, only on CPUs with AVX-512F) or BLAS (OpenBLAS on Linux,
/// Accelerate on macOS). Own GEMM: products of at least `BLAS.parallelThreshold` multiply-adds
/// are cut into one call per core by rows or columns of C. BLAS: tall products — at least
/// `BLAS.parallelThreshold` multiply-adds and `BLAS.minimumRowsPerCore` rows of C per core — are
/// split by rows of C into one single-threaded BLAS call per core; other large products use
/// BLAS's own threads. Inside a parallel region (`Parallel.isBusy`) either runs on one thread.
/// Results are deterministic for a given `Parallel.workers`; across worker counts BLAS's differ
/// in the last bits (OpenBLAS's kernels for the ragged edge of a block sum in another order), the
/// own GEMM's do not.
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
    _ = BLAS.configured
    BLAS.work.withLock { $0 += 2 * m * n * k }
    let profile = Parallel.isBusy ? nil : BLAS.profile
    let t0 = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
    multiply(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    profile?.add(GEMMProfile.Shape(transposeA, transposeB, m, n, k), nanoseconds: DispatchTime.now().uptimeNanoseconds - t0)
}

/// `sgemm` once the trivial cases are out of the way: picks the GEMM and the threading.
private func multiply(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                      _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                      _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    let workers = Parallel.isBusy || m * n * k < BLAS.parallelThreshold ? 1 : Parallel.workers
    if BLAS.usesOwnGEMM(m: m, n: n, k: k) {
        OwnGEMM.multiply(workers: workers, transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    } else if workers > 1 && m / workers >= BLAS.minimumRowsPerCore {
        // rows lo..<hi of C take rows lo..<hi of op(A); one single-threaded BLAS call per core
        BLAS.setThreads(1)
        Parallel.forEach(workers) { i in
            let lo = i * m / workers / 16 * 16
            let hi = i == workers - 1 ? m : (i + 1) * m / workers / 16 * 16
            BLAS.gemm(transposeA, transposeB, hi - lo, n, k, alpha, transposeA ? a + lo : a + lo * lda, lda,
                      b, ldb, beta, c + lo * ldc, ldc)
        }
    } else {
        BLAS.setThreads(workers)
        BLAS.gemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
}

/// Sane's own packed SGEMM (`Sources/CGEMM/gemm.c`: Goto/BLIS blocking for the caches read from
/// the machine, an AVX-512 micro-kernel). One call per core, each on its own share of C: the rows
/// when m ≥ n, else the columns, cut at whole register tiles; each core packs its own panels of
/// the operand it shares (the smaller one). Every element of C is the same sum in the same order
/// however the product is cut, so the result does not depend on the number of workers.
enum OwnGEMM {
    /// Rows × columns of C in one micro-kernel tile.
    static let tile: (rows: Int, columns: Int) = {
        var rows: Int32 = 0, columns: Int32 = 0
        sane_gemm_tile(&rows, &columns)
        return (Int(rows), Int(columns))
    }()

    static func multiply(workers: Int, _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                         _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                         _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        let ta: Int32 = transposeA ? 1 : 0, tb: Int32 = transposeB ? 1 : 0
        let byRows = m >= n
        let step = byRows ? tile.rows : tile.columns, extent = byRows ? m : n
        let tiles = (extent + step - 1) / step
        let parts = min(workers, tiles)
        if parts <= 1 {
            sane_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        Parallel.forEach(parts) { i in
            let lo = i * tiles / parts * step, hi = min(extent, (i + 1) * tiles / parts * step)
            if byRows {
                sane_sgemm(ta, tb, hi - lo, n, k, alpha, transposeA ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc)
            } else {
                sane_sgemm(ta, tb, m, hi - lo, k, alpha, a, lda, transposeB ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc)
            }
        }
    }
}

/// Which GEMM `sgemm` runs: OpenBLAS, Sane's own (AVX-512 CPUs only), or the per-shape choice
/// between them (`BLAS.usesOwnGEMM`). Set by the environment variable `SANE_GEMM` so that
/// benchmarks can compare whole programs; `sane bench gemm` switches it per call.
public enum GEMMBackend: String, CaseIterable, Sendable {
    case openblas, own, auto
}

extension BLAS {
    /// True when this CPU runs Sane's own GEMM kernel (AVX-512F).
    public static let ownGEMMAvailable = sane_gemm_available() != 0

    /// The GEMM in use; starts from `SANE_GEMM` (openblas, own or auto; default auto). `own` on a
    /// CPU without AVX-512 runs OpenBLAS. Task-local: `sane bench gemm` and tests bind it for a
    /// call (`BLAS.$backend.withValue(.own) { … }`); parallel regions carry it to their workers.
    @TaskLocal public static var backend: GEMMBackend = {
        guard let value = ProcessInfo.processInfo.environment["SANE_GEMM"] else { return .auto }
        if let b = GEMMBackend(rawValue: value.lowercased()) { return b }
        FileHandle.standardError.write(Data("sane: SANE_GEMM='\(value)' is not one of openblas, own, auto; using auto\n".utf8))
        return .auto
    }()

    /// Whether `sgemm` runs this product with Sane's own GEMM rather than OpenBLAS. `auto`: own for
    /// products of at least `parallelThreshold` (2²¹) multiply-adds whose whole register tiles
    /// (m, n rounded up to 12, 32) exceed m·n by at most 25 %. Measured on a Zen 4 EPYC with
    /// AVX-512 (BENCHMARKS.md, `sane bench gemm`, 2 threads): own / OpenBLAS 0.93–1.09× on the
    /// d-256 and d-1024 steps' products (e.g. NT 3072×1024×256 207 vs 190 GFLOP/s), 1.39–1.70× on
    /// the projection head's 64×6144×30 ones; below 2²¹ and on ragged tiles OpenBLAS was faster
    /// (48×48×64: 0.63×; 1000×33×100 on one core, thread CPU time: 51 vs 84 GFLOP/s).
    public static func usesOwnGEMM(m: Int, n: Int, k: Int) -> Bool {
        guard ownGEMMAvailable else { return false }
        switch backend {
        case .openblas: return false
        case .own: return true
        case .auto:
            let rows = (m + OwnGEMM.tile.rows - 1) / OwnGEMM.tile.rows * OwnGEMM.tile.rows
            let columns = (n + OwnGEMM.tile.columns - 1) / OwnGEMM.tile.columns * OwnGEMM.tile.columns
            return m * n * k >= BLAS.parallelThreshold && 4 * rows * columns <= 5 * m * n
        }
    }
}

/// BLAS threading. Why the row split: for the 3,072-row products of the d-256 SANE step, two
/// single-threaded calls on half of C each ran at 150–158 GFLOP/s where OpenBLAS's two threads
/// gave 80–139, and its idle worker spins in `sched_yield` between calls. Why not everywhere:
/// for the 512-row products of the d-1024 step OpenBLAS's threads were as fast or faster (the
/// whole step 2–12 % faster, alternating A/B), as they share the packed panels.
public enum BLAS {
    /// Smallest product (m·n·k multiply-adds) that `sgemm` splits over the cores: below ≈ 4 MFLOP
    /// (≈ 50 µs on one core) the dispatch costs more than it saves.
    public static let parallelThreshold = 1 << 21

    /// Floating-point operations done by `sgemm` so far (2·m·n·k per call), for benchmarks that
    /// report a step's GFLOP/s from what it actually computed.
    public static var flops: Int { work.withLock { $0 } }
    /// Process-wide like the FLOP count it reports: every thread's `sgemm` adds to it.
    static let work = Locked(0)

    /// When bound, `sgemm` calls made outside parallel regions are timed into it, by shape
    /// (`sane bench sane-step --gemm-profile`: `BLAS.$profile.withValue(profile) { … }`).
    /// Per-head products inside a parallel region run concurrently, so their wall times would
    /// overlap; they are left out (and the binding is not carried into the region).
    @TaskLocal public static var profile: GEMMProfile?

    /// Rows of C per core below which `sgemm` leaves the product to BLAS's own threads.
    public static let minimumRowsPerCore = 512

    /// Once per process: OpenBLAS's idle workers go to sleep right after a threaded call instead
    /// of spinning in `sched_yield` for 2²⁸ cycles, on the core the rest of the step needs (15 % of
    /// the d-1024 step's samples; with the short timeout the step ran 5–10 % faster, two
    /// alternating pairs). OpenBLAS takes the timeout from `OPENBLAS_THREAD_TIMEOUT` only when its
    /// thread server starts, at library load: so the variable is set (to 4, its minimum, unless the
    /// environment already sets it), re-read, and the server restarted. The OpenBLAS entry points
    /// are looked up at run time; without them (Accelerate, another BLAS) nothing happens.
    static let configured: Void = {
        #if os(Linux)
        let all = UnsafeMutableRawPointer(bitPattern: 0)   // RTLD_DEFAULT
        guard let read = dlsym(all, "openblas_read_env"), let stop = dlsym(all, "blas_thread_shutdown_"),
              let start = dlsym(all, "blas_thread_init") else { return }
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0)
        unsafeBitCast(read, to: (@convention(c) () -> Void).self)()
        _ = unsafeBitCast(stop, to: (@convention(c) () -> Int32).self)()
        _ = unsafeBitCast(start, to: (@convention(c) () -> Int32).self)()
        #endif
    }()

    /// BLAS's thread count as last set here (Accelerate: nothing to set). Process-wide because it
    /// mirrors OpenBLAS's own setting, which is one per process; the lock also keeps two threads
    /// (jobs calling `sgemm` at once) from racing on it.
    private static let currentThreads = Locked(0)
    static func setThreads(_ n: Int) {
        #if !os(macOS)
        currentThreads.withLock { current in
            if n != current { openblas_set_num_threads(Int32(n)); current = n }
        }
        #endif
    }

    @inline(__always)
    static func gemm(_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                     _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                     _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Wall time and FLOPs of `sgemm` calls, by shape (see `BLAS.profile`). Thread-safe.
public final class GEMMProfile: @unchecked Sendable {
    /// op(A) and op(B) transposed or not, and m × n × k.
    public struct Shape: Hashable, CustomStringConvertible {
        public let transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int
        init(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int) { transposeA = ta; transposeB = tb; self.m = m; self.n = n; self.k = k }
        /// e.g. "TN 768×256×3072"
        public var description: String { "\(transposeA ? "T" : "N")\(transposeB ? "T" : "N") \(m)×\(n)×\(k)" }
    }
    public struct Entry { public var calls = 0, nanoseconds: UInt64 = 0, flops = 0 }

    private let lock = NSLock()
    private var entries: [Shape: Entry] = [:]

    public init() {}

    func add(_ shape: Shape, nanoseconds: UInt64) {
        lock.lock(); defer { lock.unlock() }
        entries[shape, default: Entry()].calls += 1
        entries[shape]!.nanoseconds += nanoseconds
        entries[shape]!.flops += 2 * shape.m * shape.n * shape.k
    }

    /// Shapes by total time, longest first.
    public var sorted: [(shape: Shape, entry: Entry)] {
        lock.lock(); defer { lock.unlock() }
        return entries.map { ($0.key, $0.value) }.sorted { $0.1.nanoseconds > $1.1.nanoseconds }
    }
}
