// A minimal, bounds-checked ZIP archive reader: enough for `torch.save` checkpoints (stored
// entries, ZIP64 end records) and ordinary deflated archives.
//
// Layout read (PKWARE APPNOTE): the End Of Central Directory record (EOCD, signature
// 0x06054b50) near the end of the file gives the central directory's offset and entry count
// (or a ZIP64 EOCD locator 0x07064b50 → ZIP64 EOCD 0x06064b50 when those overflow); each
// central directory entry (0x02014b50) gives name, method, sizes, CRC-32 and the offset of its
// local header (0x04034b50), after which the entry's data follows.

import Foundation
import SaneTensor

/// A ZIP archive held in memory. Entries are listed once; data is extracted on demand.
public struct ZipArchive: Sendable {
    /// One file in the archive.
    public struct Entry: Sendable {
        public let name: String
        /// 0 = stored, 8 = deflate.
        public let method: UInt16
        public let compressedSize: Int
        public let uncompressedSize: Int
        public let crc32: UInt32
        let localHeaderOffset: Int
    }

    public let data: Data
    /// Names the archive in error messages.
    public let source: String
    /// Entries in central-directory order.
    public let entries: [Entry]

    /// Reads and indexes the archive at `url`.
    public init(contentsOf url: URL) throws {
        try self.init(data: FileBytes.read(url, what: "ZIP archive"), source: url.path)
    }

    /// Indexes the archive bytes `data`; `source` names it in errors.
    public init(data: Data, source: String) throws {
        self.data = data
        self.source = source
        let r = ByteReader(data: data, source: source, what: "ZIP archive")

        // The EOCD is 22 bytes plus a comment of up to 65,535 bytes; search backwards.
        var eocd = -1
        var pos = data.count - 22
        while pos >= 0 && pos >= data.count - 22 - 65_535 {
            if try r.u32(pos) == 0x0605_4B50 { eocd = pos; break }
            pos -= 1
        }
        guard eocd >= 0 else {
            throw SaneError("no ZIP end-of-central-directory record in \(source)",
                            hint: "the file is truncated or not a ZIP archive")
        }
        var count = Int(try r.u16(eocd + 10))
        var dirSize = Int(try r.u32(eocd + 12))
        var dirOffset = Int(try r.u32(eocd + 16))
        if count == 0xFFFF || dirSize == 0xFFFF_FFFF || dirOffset == 0xFFFF_FFFF {
            // ZIP64: the locator sits right before the EOCD and points to the ZIP64 EOCD record.
            let locator = eocd - 20
            guard locator >= 0, try r.u32(locator) == 0x0706_4B50 else { throw r.fail("missing ZIP64 locator") }
            let z64 = try r.int64(locator + 8)
            guard try r.u32(z64) == 0x0606_4B50 else { throw r.fail("bad ZIP64 end record") }
            count = try r.int64(z64 + 32)
            dirSize = try r.int64(z64 + 40)
            dirOffset = try r.int64(z64 + 48)
        }
        guard dirOffset <= data.count, dirSize <= data.count - dirOffset, count <= dirSize / 46 else {
            throw r.fail("central directory (offset \(dirOffset), \(dirSize) bytes, \(count) entries) does not fit the \(data.count)-byte file")
        }

        var entries: [Entry] = []
        var p = dirOffset
        for _ in 0..<count {
            guard try r.u32(p) == 0x0201_4B50 else { throw r.fail("bad central directory entry at byte \(p)") }
            let method = try r.u16(p + 10)
            let crc = try r.u32(p + 16)
            var compressed = Int(try r.u32(p + 20))
            var uncompressed = Int(try r.u32(p + 24))
            let nameLength = Int(try r.u16(p + 28))
            let extraLength = Int(try r.u16(p + 30))
            let commentLength = Int(try r.u16(p + 32))
            var localOffset = Int(try r.u32(p + 42))
            let name = try r.string(p + 46, count: nameLength)

            // ZIP64 extended information (extra field id 1) holds, in this order, whichever of
            // the three values overflowed to 0xFFFFFFFF.
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let id = try r.u16(e), size = Int(try r.u16(e + 2))
                if id == 1 {
                    let needed = 8 * [uncompressed, compressed, localOffset].filter { $0 == 0xFFFF_FFFF }.count
                    guard needed <= size else { throw r.fail("ZIP64 field of entry \(name) is \(size) bytes, needs \(needed)") }
                    var q = e + 4
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try r.int64(q); q += 8 }
                    if compressed == 0xFFFF_FFFF { compressed = try r.int64(q); q += 8 }
                    if localOffset == 0xFFFF_FFFF { localOffset = try r.int64(q) }
                }
                e += 4 + size
            }
            entries.append(Entry(name: name, method: method, compressedSize: compressed,
                                 uncompressedSize: uncompressed, crc32: crc, localHeaderOffset: localOffset))
            p = extraEnd + commentLength
        }
        self.entries = entries
    }

    /// The entry named `name`, if present.
    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// The uncompressed bytes of `entry`, CRC-checked.
    public func contents(of entry: Entry) throws -> Data {
        let r = ByteReader(data: data, source: source, what: "ZIP archive")
        let h = entry.localHeaderOffset
        guard try r.u32(h) == 0x0403_4B50 else { throw r.fail("bad local header for \(entry.name) at byte \(h)") }
        let start = h + 30 + Int(try r.u16(h + 26)) + Int(try r.u16(h + 28))
        guard start <= data.count, entry.compressedSize <= data.count - start else {
            throw r.fail("entry \(entry.name) (\(entry.compressedSize) bytes at byte \(start)) runs past the end of the file")
        }
        let lower = data.startIndex + start
        let raw = data[lower..<lower + entry.compressedSize]
        let out: Data
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else { throw r.fail("stored entry \(entry.name) has mismatched sizes") }
            out = Data(raw)
        case 8:
            out = try Inflate.decompress(Data(raw), format: .raw, expectedSize: entry.uncompressedSize,
                                         source: "\(source) entry \(entry.name)")
        default:
            throw SaneError("ZIP entry \(entry.name) in \(source) uses unsupported compression method \(entry.method)",
                            hint: "only stored and deflate entries are supported")
        }
        guard Inflate.crc32(out) == entry.crc32 else { throw r.fail("CRC-32 mismatch in entry \(entry.name)") }
        return out
    }

    /// The uncompressed bytes of the entry named `name`.
    public func contents(ofEntryNamed name: String) throws -> Data {
        guard let e = entry(named: name) else { throw SaneError("no entry \(name) in ZIP archive \(source)") }
        return try contents(of: e)
    }
}

/// Bounds-checked little-endian reads from `data` at absolute offsets (relative to `startIndex`).
struct ByteReader {
    let data: Data
    let source: String
    let what: String

    func fail(_ message: String) -> SaneError {
        SaneError("\(message) in \(what) \(source)", hint: "the file is corrupt or truncated")
    }

    func bytes(_ offset: Int, _ count: Int) throws -> Data.SubSequence {
        guard offset >= 0, count >= 0, offset <= data.count, count <= data.count - offset else {
            throw fail("read of \(count) bytes at byte \(offset) past the end (\(data.count) bytes)")
        }
        let lower = data.startIndex + offset
        return data[lower..<lower + count]
    }

    func uint(_ offset: Int, _ size: Int) throws -> UInt64 {
        var v: UInt64 = 0
        for (k, b) in try bytes(offset, size).enumerated() { v |= UInt64(b) << (8 * UInt64(k)) }
        return v
    }

    func u16(_ offset: Int) throws -> UInt16 { UInt16(try uint(offset, 2)) }
    func u32(_ offset: Int) throws -> UInt32 { UInt32(try uint(offset, 4)) }

    /// A 64-bit size or offset, refused if it does not fit an `Int` file position.
    func int64(_ offset: Int) throws -> Int {
        let v = try uint(offset, 8)
        guard v <= UInt64(Int.max / 2) else { throw fail("64-bit value \(v) at byte \(offset) is out of range") }
        return Int(v)
    }

    func string(_ offset: Int, count: Int) throws -> String {
        guard let s = String(bytes: try bytes(offset, count), encoding: .utf8) else {
            throw fail("name at byte \(offset) is not UTF-8")
        }
        return s
    }
}
