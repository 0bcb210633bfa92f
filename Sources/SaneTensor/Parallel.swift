import Foundation

/// Work splitting over the machine's cores.
///
/// All parallelism in Sane goes through here: kernels split their loops with `forEach`, `sgemm`
/// splits large products with it, and trainers that run one model per core use `jobs`. While
/// work is spread over the cores, `isBusy` is true on the threads doing it, and nested parallel
/// work (a kernel inside a per-model job, a GEMM inside a per-head loop) runs serially on its
/// thread instead of oversubscribing the cores.
///
/// No process-wide mutable state: `workers` and `isBusy` are task-local (bound for the duration
/// of a closure, on the calling thread or task), and a parallel region hands its caller's
/// settings (`Context`) to its worker threads, which Dispatch would not otherwise do.
public enum Parallel {
    /// Number of worker threads used by `forEach`, `jobs` and `sgemm`'s splits (default: the
    /// active processor count). Bound for a scope with `Parallel.$workers.withValue(n) { … }`
    /// (`sane bench --threads`, tests that compare worker counts).
    @TaskLocal public static var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    /// True on the threads of a running `forEach` or `jobs` region (there, nested `forEach`,
    /// `jobs` and `sgemm` run on their one thread). Task-local: a thread outside the region —
    /// say a data loader — is not slowed down (or its GEMM's rounding changed) by whether some
    /// other thread happens to be inside one at that moment, as it was with a global flag.
    public static var isBusy: Bool { insideRegion }
    @TaskLocal static var insideRegion = false

    /// Calls `body(i)` for every i in 0..<count, spread over `workers` threads when `count` is
    /// large enough to pay for it (`minimumPerWorker` items each) and this thread is not already
    /// in a parallel region; otherwise serially. `body` must be safe to call concurrently for
    /// distinct `i`.
    public static func forEach(_ count: Int, minimumPerWorker: Int = 1, _ body: (Int) -> Void) {
        let w = isBusy ? 1 : min(workers, count / max(minimumPerWorker, 1))
        if w <= 1 { for i in 0..<count { body(i) }; return }
        spread(count, over: w, body)
    }

    /// Calls `body(range)` for the consecutive ranges of `chunk` indices (the last one shorter)
    /// that cover 0..<count, spread over the cores by `forEach` when there are two or more. The
    /// ranges depend only on `count` and `chunk`, never on the number of workers, so anything a
    /// body computes per range (elementwise work, a partial sum) is the same for any worker count.
    public static func forEachRange(_ count: Int, chunk: Int, _ body: (Range<Int>) -> Void) {
        let chunk = max(chunk, 1), parts = (count + chunk - 1) / chunk
        if parts <= 1 { if count > 0 { body(0..<count) }; return }
        forEach(parts) { i in body(i * chunk..<min(count, (i + 1) * chunk)) }
    }

    /// Elements per range for memory-bound elementwise loops split with `forEachRange`
    /// (128 KiB of Float32: below two of them the dispatch costs more than the second core saves).
    public static let elementwiseChunk = 1 << 15

    /// Runs `count` independent jobs (e.g. one model each), at most `workers` at a time, every
    /// job's own kernels and GEMMs on its one core — also when only one job runs — so a job's
    /// results do not depend on how many run at once. Jobs see the caller's backend, gradient
    /// recording and kernel settings (`Context`).
    public static func jobs(_ count: Int, _ body: (Int) -> Void) {
        let w = isBusy ? 1 : min(workers, count)
        if w <= 1 { $insideRegion.withValue(true) { for i in 0..<count { body(i) } }; return }
        spread(count, over: w, body)
    }

    /// `body(i)` for i in 0..<count on `w` threads, contiguous ranges of i each, every thread
    /// inside the caller's `Context` and marked as in a parallel region.
    private static func spread(_ count: Int, over w: Int, _ body: (Int) -> Void) {
        let context = Context.current
        withoutActuallyEscaping(body) { body in
            // The one unchecked spot of Sane's threading: `body` (kernels' loops over raw
            // pointers, which Swift cannot prove disjoint) is called from several threads at
            // once; its contract above (distinct i touch distinct memory) is what makes it safe.
            nonisolated(unsafe) let body = body
            DispatchQueue.concurrentPerform(iterations: w) { worker in
                context.bind {
                    var i = worker * count / w
                    let end = (worker + 1) * count / w
                    while i < end { body(i); i += 1 }
                }
            }
        }
    }

    /// The task-local settings that ops and kernels read, captured on the thread that starts a
    /// parallel region and bound again on each of its worker threads. `workers` and
    /// `BLAS.profile` are not carried: inside a region nothing splits and nothing is profiled.
    struct Context: Sendable {
        let backend: any Backend
        let recording: Bool
        let gemm: GEMMBackend
        let convolution: ConvolutionAlgorithm?

        static var current: Context {
            Context(backend: Backends.current, recording: Variable.recording, gemm: BLAS.backend,
                    convolution: ConvolutionKernels.forcedAlgorithm)
        }

        /// Runs `body` with these settings, inside a parallel region.
        func bind(_ body: () -> Void) {
            Backends.using(backend) {
                Variable.$recording.withValue(recording) {
                    BLAS.$backend.withValue(gemm) {
                        ConvolutionKernels.$forcedAlgorithm.withValue(convolution) {
                            Parallel.$insideRegion.withValue(true, operation: body)
                        }
                    }
                }
            }
        }
    }
}
