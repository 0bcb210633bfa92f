import Foundation

/// Crash injection for the resume tests. Code that writes state calls `KillPoint.hit(label)` at
/// each point where a kill matters (every atomic write calls it before and after its rename).
///
///     SANE_TEST_KILL_AT=label[@n]   SIGKILL this process the n-th time (default: first) `label` is hit
///     SANE_TEST_KILL_TRACE=FILE     append every label hit to FILE, one per line (to list the points)
///
/// With neither variable set, a hit is one check of a flag read once at start-up.
public enum KillPoint {
    private static let environment = ProcessInfo.processInfo.environment
    private static let target: (label: String, count: Int)? = {
        guard let spec = environment["SANE_TEST_KILL_AT"], !spec.isEmpty else { return nil }
        if let at = spec.lastIndex(of: "@"), let n = Int(spec[spec.index(after: at)...]), n >= 1 {
            return (String(spec[..<at]), n)
        }
        return (spec, 1)
    }()
    private static let trace: String? = environment["SANE_TEST_KILL_TRACE"]
    private static let active = target != nil || trace != nil
    /// Hits per label so far. Process-wide by definition (SANE_TEST_KILL_AT=label@n counts the
    /// process's hits, from any thread), behind a lock.
    private static let counts = Locked([String: Int]())

    /// Marks a point; kills the process there when SANE_TEST_KILL_AT names it (see the type).
    public static func hit(_ label: @autoclosure () -> String) {
        guard active else { return }
        let label = label()
        counts.withLock { counts in
            counts[label, default: 0] += 1
            if let trace {
                let fd = open(trace, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                if fd >= 0 {
                    let line = Array((label + "\n").utf8)
                    _ = line.withUnsafeBufferPointer { Foundation.write(fd, $0.baseAddress, $0.count) }
                    close(fd)
                }
            }
            if let target, target.label == label, counts[label] == target.count {
                kill(getpid(), SIGKILL)
            }
        }
    }
}
