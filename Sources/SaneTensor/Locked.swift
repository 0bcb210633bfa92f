import Foundation

/// A value behind a lock, for the few pieces of state that are process-wide by nature (a cache of
/// freed buffers, a mirror of a C library's global setting, counters). Every access goes through
/// `withLock`, so the box is `Sendable` by construction: the one `@unchecked` is this type's, not
/// each user's. (`Synchronization.Mutex` would do the same but needs macOS 15.)
final class Locked<State>: @unchecked Sendable {
    private let lock = NSLock()
    private var state: State

    init(_ state: State) { self.state = state }

    /// Runs `body` on the state while holding the lock.
    @inline(__always)
    func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&state)
    }
}
