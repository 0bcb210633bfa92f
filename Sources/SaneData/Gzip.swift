// zlib inflation for gzip files (.gz datasets) and deflated ZIP entries.

import CZlib
import Foundation
import SaneTensor

/// Decompression with zlib.
public enum Inflate {
    /// The container around the deflate stream.
    public enum Format: Sendable {
        /// gzip (RFC 1952), as in `train-images-idx3-ubyte.gz`; concatenated members are joined.
        case gzip
        /// Raw deflate (RFC 1951) without header, as in a ZIP entry.
        case raw

        var windowBits: Int32 { self == .gzip ? 16 + MAX_WBITS : -MAX_WBITS }
    }

    /// Decompresses `data`. With `expectedSize` (e.g. from a ZIP directory) the output must be
    /// exactly that long: inflation stops with an error as soon as it would exceed it, so a
    /// small entry that claims few bytes cannot expand to gigabytes first. Otherwise the output
    /// may grow to `limit` bytes. `source` names the file in errors.
    public static func decompress(_ data: Data, format: Format, expectedSize: Int? = nil, limit: Int = defaultLimit,
                                  source: String) throws -> Data {
        let cap = expectedSize ?? limit
        let (output, complete) = try inflate(data, format: format, upTo: cap, source: source)
        guard complete else {
            throw SaneError(expectedSize == nil
                ? "\(source) decompresses to more than \(limit) bytes"
                : "\(source) decompresses to more than its declared \(cap) bytes",
                hint: "the compressed file is corrupt or a decompression bomb")
        }
        if let expected = expectedSize, expected != output.count {
            throw SaneError("\(source) decompressed to \(output.count) bytes, expected \(expected)",
                            hint: "the compressed file is corrupt or truncated; download it again")
        }
        return output
    }

    /// The largest output `decompress` produces without an explicit limit (4 GiB).
    public static let defaultLimit = 1 << 32

    /// The first `count` decompressed bytes of `data` (fewer if the stream is shorter), e.g. a
    /// file header to read before deciding how much to inflate.
    public static func prefix(_ count: Int, of data: Data, format: Format, source: String) throws -> Data {
        try inflate(data, format: format, upTo: count, source: source).output
    }

    /// Inflates `data` into at most `cap` bytes. `complete` is false when the stream holds more
    /// than `cap` bytes (inflation stopped there) — the output is then exactly `cap` bytes long.
    static func inflate(_ data: Data, format: Format, upTo cap: Int, source: String) throws -> (output: Data, complete: Bool) {
        func fail(_ what: String) -> SaneError {
            SaneError("\(what) in \(source)", hint: "the compressed file is corrupt or truncated; download it again")
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, format.windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("zlib could not be initialized")
        }
        defer { inflateEnd(&stream) }

        // One byte of room beyond `cap` tells a stream of exactly `cap` bytes from a longer one.
        let room = cap < Int.max ? max(cap, 0) + 1 : cap
        // Deflate expands at most ~1032:1, so a larger claimed size is a lie; never presize beyond that.
        let bound = data.count.multipliedReportingOverflow(by: 1032).partialValue
        var output = Data(count: max(min(room, bound), 1))
        var produced = 0
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let inBase = input.bindMemory(to: UInt8.self).baseAddress else { throw fail("empty compressed data") }
            stream.next_in = UnsafeMutablePointer(mutating: inBase)
            var consumed = 0
            while true {
                if produced == output.count {
                    if produced >= room { return }
                    output.count = min(max(output.count, 1024).multipliedReportingOverflow(by: 2).partialValue, room)
                }
                stream.avail_in = UInt32(min(input.count - consumed, Int(UInt32.max)))
                let status: Int32 = output.withUnsafeMutableBytes { out in
                    let base = out.bindMemory(to: UInt8.self).baseAddress.map { $0 + produced }
                    stream.next_out = base
                    stream.avail_out = UInt32(min(out.count - produced, Int(UInt32.max)))
                    let before = (stream.avail_in, stream.avail_out)
                    let s = CZlib.inflate(&stream, Z_NO_FLUSH)
                    consumed += Int(before.0 - stream.avail_in)
                    produced += Int(before.1 - stream.avail_out)
                    return s
                }
                switch status {
                case Z_STREAM_END:
                    // gzip allows several members back to back; anything else after the end is junk.
                    guard format == .gzip, consumed < input.count else { return }
                    guard inflateReset(&stream) == Z_OK else { throw fail("zlib reset failed") }
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_out == 0:
                    continue
                case Z_BUF_ERROR:
                    throw fail("compressed data ends early")
                default:
                    let msg = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw fail("corrupt compressed data (\(msg))")
                }
            }
        }
        output.count = min(produced, cap)
        return (output, produced <= cap)
    }

    /// gunzip: decompresses gzip data (at most `limit` bytes).
    public static func gunzip(_ data: Data, limit: Int = defaultLimit, source: String) throws -> Data {
        try decompress(data, format: .gzip, limit: limit, source: source)
    }

    /// CRC-32 (the checksum of ZIP and gzip).
    public static func crc32(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { b in
            var crc = CZlib.crc32(0, nil, 0)
            var p = b.bindMemory(to: UInt8.self).baseAddress
            var left = b.count
            while left > 0, let base = p {
                let n = min(left, 1 << 30)
                crc = CZlib.crc32(crc, base, UInt32(n))
                p = base + n
                left -= n
            }
            return UInt32(crc)
        }
    }
}
