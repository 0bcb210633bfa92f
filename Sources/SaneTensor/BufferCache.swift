import Foundation

/// Recycles large tensor buffers by exact size.
///
/// A training step allocates and frees the same large buffers (activations, their gradients)
/// every step. Handed back to malloc, they fragment the heap around the long-lived ones
/// (parameters, gradients, optimizer moments) and come back as fresh pages that the kernel must
/// fault in and clear: 7–9 % of a d-1024 SANE step in `clear_page_erms`, and a heap that grew by
/// ~300 MB per step. Kept here, the next step takes exactly the buffers the previous one freed.
///
/// Only buffers of at least `minimumBytes` are kept, up to `limitBytes` in all (a quarter of the
/// machine's memory); beyond that a freed buffer goes back to malloc. Thread-safe.
enum BufferCache {
    static let minimumBytes = 256 << 10
    static let limitBytes = Int(min(ProcessInfo.processInfo.physicalMemory / 4, UInt64(Int.max)))

    private static let lock = NSLock()
    nonisolated(unsafe) private static var free: [Int: [UnsafeMutableRawPointer]] = [:]
    nonisolated(unsafe) private static var cachedBytes = 0

    /// A kept buffer of exactly `bytes` bytes (64-byte aligned), or nil.
    static func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes >= minimumBytes else { return nil }
        lock.lock(); defer { lock.unlock() }
        guard let p = free[bytes]?.popLast() else { return nil }
        cachedBytes -= bytes
        return p
    }

    /// Keeps `p` (allocated with `bytes` bytes, 64-byte aligned) for reuse; false when it is too
    /// small or the cache is full, and the caller must free it.
    static func give(_ p: UnsafeMutableRawPointer, bytes: Int) -> Bool {
        guard bytes >= minimumBytes else { return false }
        lock.lock(); defer { lock.unlock() }
        guard cachedBytes + bytes <= limitBytes else { return false }
        free[bytes, default: []].append(p)
        cachedBytes += bytes
        return true
    }
}
