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

    /// Decompresses `data`. `expectedSize` (when known, e.g. from a ZIP directory) presizes the
    /// output and is checked. `source` names the file in errors.
    public static func decompress(_ data: Data, format: Format, expectedSize: Int? = nil, source: String) throws -> Data {
        func fail(_ what: String) -> SaneError {
            SaneError("\(what) in \(source)", hint: "the compressed file is corrupt or truncated; download it again")
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, format.windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("zlib could not be initialized")
        }
        defer { inflateEnd(&stream) }

        // Deflate expands at most ~1032:1, so a claimed size beyond that is a lie; do not trust it for allocation.
        var output = Data(count: max(min(expectedSize ?? data.count * 4, data.count * 1032), 1024))
        var produced = 0
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let inBase = input.bindMemory(to: UInt8.self).baseAddress else { throw fail("empty compressed data") }
            stream.next_in = UnsafeMutablePointer(mutating: inBase)
            var consumed = 0
            while true {
                let remaining = input.count - consumed
                stream.avail_in = UInt32(min(remaining, Int(UInt32.max)))
                if produced == output.count { output.count *= 2 }
                let status: Int32 = output.withUnsafeMutableBytes { out in
                    stream.next_out = out.bindMemory(to: UInt8.self).baseAddress! + produced
                    stream.avail_out = UInt32(min(out.count - produced, Int(UInt32.max)))
                    let before = (stream.avail_in, stream.avail_out)
                    let s = inflate(&stream, Z_NO_FLUSH)
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
        output.count = produced
        if let expected = expectedSize, expected != produced {
            throw fail("decompressed to \(produced) bytes, expected \(expected)")
        }
        return output
    }

    /// gunzip: decompresses gzip data.
    public static func gunzip(_ data: Data, source: String) throws -> Data {
        try decompress(data, format: .gzip, source: source)
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
