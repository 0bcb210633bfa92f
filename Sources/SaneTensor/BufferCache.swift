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
///
/// Process-wide on purpose, like the heap it stands in front of: a buffer freed by one thread
/// (a tensor released by a zoo job, a gradient of the last step) serves the next allocation of
/// that size on any thread, and the memory limit is the process's. A per-task cache would keep
/// one copy of the working set per thread. The state is one `Locked` value.
enum BufferCache {
    static let minimumBytes = 256 << 10
    static let limitBytes = Int(min(ProcessInfo.processInfo.physicalMemory / 4, UInt64(Int.max)))

    /// Freed buffers by size in bytes, and their total.
    private struct Shelves { var free: [Int: [UnsafeMutableRawPointer]] = [:]; var cachedBytes = 0 }
    private static let shelves = Locked(Shelves())

    /// A kept buffer of exactly `bytes` bytes (64-byte aligned), or nil.
    static func take(_ bytes: Int) -> UnsafeMutableRawPointer? {
        guard bytes >= minimumBytes else { return nil }
        return shelves.withLock { s in
            guard let p = s.free[bytes]?.popLast() else { return nil }
            s.cachedBytes -= bytes
            return p
        }
    }

    /// Keeps `p` (allocated with `bytes` bytes, 64-byte aligned) for reuse; false when it is too
    /// small or the cache is full, and the caller must free it.
    static func give(_ p: UnsafeMutableRawPointer, bytes: Int) -> Bool {
        guard bytes >= minimumBytes else { return false }
        return shelves.withLock { s in
            guard s.cachedBytes + bytes <= limitBytes else { return false }
            s.free[bytes, default: []].append(p)
            s.cachedBytes += bytes
            return true
        }
    }
}
