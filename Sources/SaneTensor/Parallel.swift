import Foundation

/// Work splitting over the machine's cores.
public enum Parallel {
    /// Number of worker threads used by `forEach` (default: active processor count).
    nonisolated(unsafe) public static var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Calls `body(i)` for every i in 0..<count, spread over `workers` threads when `count` is
    /// large enough to pay for it (`minimumPerWorker` items each); otherwise serially.
    /// `body` must be safe to call concurrently for distinct `i`.
    public static func forEach(_ count: Int, minimumPerWorker: Int = 1, _ body: (Int) -> Void) {
        let w = min(workers, count / max(minimumPerWorker, 1))
        if w <= 1 { for i in 0..<count { body(i) }; return }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: w) { worker in
                var i = worker * count / w
                let end = (worker + 1) * count / w
                while i < end { body(i); i += 1 }
            }
        }
    }
}
