// A safetensors file read through mmap: the header is parsed and checked once (as
// `Safetensors.decode` does), tensor rows are copied out on demand. Only the pages touched are
// read; `release` drops them from the process again (they stay in the page cache), so reading
// a large file piece by piece keeps the resident set at the size of the pieces.

import Foundation

public final class MappedSafetensors: @unchecked Sendable {
    // @unchecked: the mapping is read-only and immutable after init; `release` only advises the kernel.
    public let url: URL
    public let header: Safetensors.Header
    /// File size in bytes.
    public let size: Int
    private let base: UnsafeRawPointer
    private let entryIndex: [String: Int]

    /// Maps `url` read-only and checks its header; a missing, short or corrupt file throws a
    /// one-line `SaneError` naming it, with `hint` (what to do) when given.
    public init(_ url: URL, hint: String? = nil) throws {
        self.url = url
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else {
            throw SaneError("cannot open \(url.path): \(String(cString: strerror(errno)))", hint: hint ?? "check the path")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw SaneError("\(url.path) is not a regular file", hint: hint)
        }
        size = Int(st.st_size)
        guard size >= 8 else { throw SaneError("safetensors file \(url.path) is \(size) bytes, shorter than its 8-byte header length", hint: hint) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw SaneError("cannot map \(url.path): \(String(cString: strerror(errno)))", hint: hint)
        }
        base = UnsafeRawPointer(p)
        do {
            header = try Safetensors.Header(parsing: UnsafeRawBufferPointer(start: base, count: size), source: url.path)
        } catch let e as SaneError {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
            throw SaneError(e.message, hint: hint ?? e.hint)
        }
        entryIndex = Dictionary(header.entries.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        release(0..<size)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    /// The entry named `name`.
    public func entry(_ name: String) -> Safetensors.Header.Entry? { entryIndex[name].map { header.entries[$0] } }

    /// The bytes `range` of the file (for checksums); call `release` afterwards on large ranges.
    public func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= size, "byte range \(range) outside \(url.path) (\(size) bytes)")
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// Copies elements `elements` of F32 tensor `entry` (flat, row-major) into `out`.
    public func copyFloats(of entry: Safetensors.Header.Entry, elements: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(entry.dtype == .float32 && elements.lowerBound >= 0 && elements.upperBound <= entry.count,
                     "elements \(elements) outside F32 tensor \(entry.name) of \(entry.count)")
        let p = base + header.dataStart + entry.begin + 4 * elements.lowerBound
        entry.dtype.convert(p, count: elements.count, into: out)
    }

    /// A pointer to the first byte of `entry`'s data (read-only; valid while `self` lives).
    public func data(of entry: Safetensors.Header.Entry) -> UnsafeRawPointer { base + header.dataStart + entry.begin }

    /// The largest block of file pages one read fault may map: a page-cache folio of PMD size
    /// (2 MiB with 4 KiB pages). The kernel maps more than the bytes a read touches: fault-around
    /// maps up to 64 KiB of neighbouring cached pages, and where the page cache holds large folios
    /// (Linux 6.x: xfs, ext4 since 6.16, …) a fault maps the folio's pages, up to 2 MiB, naturally
    /// aligned in the file.
    public static let largestFolioBytes = 2 << 20

    /// Drops every page a read of `range` may have mapped: `range` widened to the
    /// `largestFolioBytes` blocks that hold it (and so every folio and fault-around window a read
    /// inside it can touch). Neighbouring entries' pages go too; they are read again from the
    /// page cache when needed.
    public func releaseMapped(around range: Range<Int>) {
        let block = MappedSafetensors.largestFolioBytes
        release((range.lowerBound / block * block)..<min(size, (range.upperBound + block - 1) / block * block))
    }

    /// Bytes of this mapping resident in the process now (Linux: /proc/self/smaps; nil elsewhere
    /// or when unreadable): what `release` and `releaseMapped` bound, for tests and diagnostics.
    public var residentBytes: Int? {
        #if os(Linux)
        // Line by line with stdio: /proc files report size 0, and whole-file reads may stop early.
        guard let f = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(f) }
        let start = UInt(bitPattern: base)
        var inside = false, total = 0
        var buffer: UnsafeMutablePointer<CChar>? = nil, capacity = 0
        defer { free(buffer) }
        while getline(&buffer, &capacity, f) > 0, let buffer {
            let line = String(cString: buffer)
            let first = line.prefix { $0 != " " }
            if let dash = first.firstIndex(of: "-"), let low = UInt(first[..<dash], radix: 16), UInt(first[first.index(after: dash)...], radix: 16) != nil {
                inside = low == start   // a mapping's header line: "low-high perms offset device inode path"
            } else if inside, first == "Rss:" {
                total += 1024 * (Int(line.split(whereSeparator: { $0 == " " || $0 == "\n" }).dropFirst().first ?? "") ?? 0)
            }
        }
        return total
        #else
        return nil
        #endif
    }

    /// Drops the whole pages inside `range` from this process's resident set (MADV_DONTNEED on a
    /// private read-only file mapping: the next access reads them again from the page cache).
    public func release(_ range: Range<Int>) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound / page) * page
        let end = min(size, ((range.upperBound + page - 1) / page) * page)
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, Int32(MADV_DONTNEED))
    }
}
