// A bounded reader of ustar archives (POSIX.1-1988 / pax "ustar" and GNU "ustar  " headers),
// enough for datasets shipped as `.tar` / `.tar.gz` (e.g. the CIFAR-10 JPEG copy).
//
// Layout: 512-byte header blocks, each followed by the member's data padded to 512 bytes; the
// archive ends with two zero blocks. Header fields used (offset, length): name (0, 100),
// size (124, 12, octal), checksum (148, 8, octal: sum of the header bytes with this field read
// as spaces), typeflag (156), magic (257, 6), prefix (345, 155; path = prefix + "/" + name).
//
// Every field is checked, every size bounded by the archive: a corrupt or truncated archive is
// a one-line error naming the byte offset, never a crash or a silently short listing.

import Foundation
import SaneTensor

/// One regular file or directory of a tar archive.
public struct TarMember: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case file, directory }
    /// Path inside the archive (prefix/name joined), e.g. "train/airplane/0000.jpg".
    public var path: String
    public var kind: Kind
    /// Byte offset of the member's data in the archive, and its size.
    public var offset: Int
    public var size: Int
}

public enum Tar {
    static let block = 512

    /// The members of the archive `bytes`, in archive order. `source` names the archive in errors.
    public static func members(_ bytes: UnsafeRawBufferPointer, source: String) throws -> [TarMember] {
        func fail(_ what: String, at offset: Int) -> SaneError {
            SaneError("\(what) at byte \(offset) of tar archive \(source)", hint: "the archive is corrupt or truncated; download it again")
        }
        var out: [TarMember] = []
        var at = 0
        while true {
            guard bytes.count - at >= block else {
                throw fail(at == bytes.count ? "archive ends without its end-of-archive blocks" : "header block cut short", at: at)
            }
            let header = UnsafeRawBufferPointer(rebasing: bytes[at..<at + block])
            if header.allSatisfy({ $0 == 0 }) {
                // End of archive: a second zero block must follow (anything after it is padding).
                guard bytes.count - at >= 2 * block,
                      UnsafeRawBufferPointer(rebasing: bytes[at + block..<at + 2 * block]).allSatisfy({ $0 == 0 }) else {
                    throw fail("end-of-archive marker is a single zero block", at: at)
                }
                return out
            }
            let magic = Array(header[257..<263])
            guard magic == Array("ustar\0".utf8) || magic == Array("ustar ".utf8) else {
                throw fail("not a ustar header (magic \(magic.map { String(format: "%02x", $0) }.joined()))", at: at)
            }
            let recorded = try octal(header, 148, 8, field: "checksum", fail: { fail($0, at: at) })
            var sum = 0
            for i in 0..<block { sum += (148..<156).contains(i) ? 0x20 : Int(header[i]) }
            guard recorded == sum else { throw fail("header checksum \(recorded) does not match the header (\(sum))", at: at) }
            if header[124] & 0x80 != 0 { throw fail("base-256 size field (member over 8 GiB) is not supported", at: at) }
            let size = try octal(header, 124, 12, field: "size", fail: { fail($0, at: at) })
            let dataStart = at + block
            let padded = (size + block - 1) / block * block
            guard size <= bytes.count - dataStart, padded <= bytes.count - dataStart else {
                throw fail("member of \(size) bytes runs past the end of the archive (\(bytes.count - dataStart) bytes left)", at: at)
            }
            let name = try text(header, 0, 100, field: "name", fail: { fail($0, at: at) })
            let prefix = try text(header, 345, 155, field: "prefix", fail: { fail($0, at: at) })
            let path = prefix.isEmpty ? name : prefix + "/" + name
            guard !path.isEmpty else { throw fail("member with an empty name", at: at) }
            switch header[156] {
            case UInt8(ascii: "0"), 0:
                out.append(TarMember(path: path, kind: .file, offset: dataStart, size: size))
            case UInt8(ascii: "5"):
                guard size == 0 else { throw fail("directory \(path) claims \(size) bytes of data", at: at) }
                out.append(TarMember(path: path, kind: .directory, offset: dataStart, size: 0))
            case let t:
                let kind = t >= 0x20 && t < 0x7F ? "'\(Character(UnicodeScalar(t)))'" : String(format: "0x%02x", t)
                throw fail("member \(path) has type \(kind); only regular files and directories are supported", at: at)
            }
            at = dataStart + padded
        }
    }

    /// An octal number field: optional leading spaces, octal digits, then NULs/spaces to the end.
    static func octal(_ h: UnsafeRawBufferPointer, _ start: Int, _ length: Int, field: String,
                      fail: (String) -> SaneError) throws -> Int {
        var i = start, end = start + length, value = 0, digits = 0
        while i < end, h[i] == 0x20 { i += 1 }
        while i < end, h[i] >= 0x30, h[i] <= 0x37 {
            value = value * 8 + Int(h[i] - 0x30); digits += 1; i += 1
            if digits > 11 { throw fail("\(field) field has more than 11 octal digits") }
        }
        while i < end, h[i] == 0 || h[i] == 0x20 { i += 1 }
        guard digits > 0, i == end else {
            end = start + length
            throw fail("\(field) field \"\(String(decoding: h[start..<end].map { $0 >= 0x20 && $0 < 0x7F ? $0 : 0x3F }, as: UTF8.self))\" is not an octal number")
        }
        return value
    }

    /// A NUL-terminated (or full-length) UTF-8 text field.
    static func text(_ h: UnsafeRawBufferPointer, _ start: Int, _ length: Int, field: String,
                     fail: (String) -> SaneError) throws -> String {
        let raw = h[start..<start + length]
        let bytes = raw.prefix { $0 != 0 }
        guard let s = String(bytes: bytes, encoding: .utf8) else { throw fail("\(field) field is not UTF-8") }
        return s
    }
}
