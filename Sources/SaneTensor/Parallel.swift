import Foundation

/// Work splitting over the machine's cores.
///
/// All parallelism in Sane goes through here: kernels split their loops with `forEach`, `sgemm`
/// splits large products with it, and trainers that run one model per core use `jobs`. While
/// work is spread over the cores, `isBusy` is set and nested parallel work (a kernel inside a
/// per-model job, a GEMM inside a per-head loop) runs serially on its thread instead of
/// oversubscribing the cores.
public enum Parallel {
    /// Number of worker threads used by `forEach` (default: active processor count).
    nonisolated(unsafe) public static var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    /// True while a `forEach` runs on several threads. Set and cleared by the thread that called
    /// `forEach` around the parallel region; the workers only read it.
    nonisolated(unsafe) public private(set) static var isBusy = false

    /// Calls `body(i)` for every i in 0..<count, spread over `workers` threads when `count` is
    /// large enough to pay for it (`minimumPerWorker` items each) and no other `forEach` is
    /// running; otherwise serially. `body` must be safe to call concurrently for distinct `i`.
    public static func forEach(_ count: Int, minimumPerWorker: Int = 1, _ body: (Int) -> Void) {
        let w = isBusy ? 1 : min(workers, count / max(minimumPerWorker, 1))
        if w <= 1 { for i in 0..<count { body(i) }; return }
        isBusy = true
        defer { isBusy = false }
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
    /// results do not depend on how many run at once. Jobs run their ops on the caller's
    /// backend (`Backends.current`, which worker threads would not otherwise see).
    public static func jobs(_ count: Int, _ body: (Int) -> Void) {
        let previous = isBusy
        isBusy = true
        defer { isBusy = previous }
        let w = previous ? 1 : min(workers, count)
        if w <= 1 { for i in 0..<count { body(i) }; return }
        let backend = Backends.current
        spread(count, over: w) { i in Backends.using(backend) { body(i) } }
    }

    /// `body(i)` for i in 0..<count on `w` threads, contiguous ranges of i each.
    private static func spread(_ count: Int, over w: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: w) { worker in
                var i = worker * count / w
                let end = (worker + 1) * count / w
                while i < end { body(i); i += 1 }
            }
        }
    }
}
