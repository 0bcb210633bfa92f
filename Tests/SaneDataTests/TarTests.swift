import Foundation
import XCTest
@testable import SaneData
@testable import SaneTensor

/// The ustar reader: a GNU tar archive, then truncations, bad fields and random corruption — every
/// malformed archive must give a SaneError (never a crash, never a silently short listing).
final class TarTests: XCTestCase {
    /// small.tar: `tar --format=ustar --sort=name` of dir/{a.txt ("hello\n"), empty, sub/b.bin (1500 × "x")}.
    func archive() throws -> [UInt8] { [UInt8](try Data(contentsOf: fixture("small.tar"))) }

    func members(_ bytes: [UInt8]) throws -> [TarMember] {
        try bytes.withUnsafeBytes { try Tar.members($0, source: "test.tar") }
    }

    func testReadsGNUTarUstarArchive() throws {
        let bytes = try archive()
        let m = try members(bytes)
        XCTAssertEqual(m.map(\.path), ["dir/", "dir/a.txt", "dir/empty", "dir/sub/", "dir/sub/b.bin"])
        XCTAssertEqual(m.map(\.kind), [.directory, .file, .file, .directory, .file])
        XCTAssertEqual(m.map(\.size), [0, 6, 0, 0, 1500])
        XCTAssertEqual(Array(bytes[m[1].offset..<m[1].offset + 6]), Array("hello\n".utf8))
        XCTAssertTrue(bytes[m[4].offset..<m[4].offset + 1500].allSatisfy { $0 == UInt8(ascii: "x") })
    }

    /// Every truncation of the archive (at each header boundary and inside every block) is an error.
    func testEveryTruncationIsAnError() throws {
        let bytes = try archive()
        let m = try members(bytes)
        let end = m.last!.offset + 1536 + 1024   // data of b.bin padded, then the two zero blocks
        for cut in Set(Array(stride(from: 0, to: end, by: 97)) + stride(from: 0, to: end, by: 512).flatMap { [$0, $0 + 1, $0 + 511] })
            where cut < end {
            XCTAssertThrowsError(try members(Array(bytes[..<cut])), "cut at \(cut)") { e in
                XCTAssertTrue(e is SaneError, "cut at \(cut): \(e)")
            }
        }
    }

    /// Rewrites a header field of the member at `header` (fixing the checksum unless told not to).
    func patched(_ bytes: [UInt8], header: Int, field: Int, _ value: String, fixChecksum: Bool = true) -> [UInt8] {
        var b = bytes
        for (i, c) in Array(value.utf8).enumerated() { b[header + field + i] = c }
        if fixChecksum {
            let sum = (0..<512).reduce(0) { $0 + ((148..<156).contains($1) ? 0x20 : Int(b[header + $1])) }
            for (i, c) in Array(String(format: "%06o\0 ", sum).utf8).enumerated() { b[header + 148 + i] = c }
        }
        return b
    }

    func testBadHeaderFieldsAreErrors() throws {
        let bytes = try archive()
        let h = try members(bytes)[4].offset - 512   // header of dir/sub/b.bin
        assertSaneError("runs past the end of the archive") { try members(patched(bytes, header: h, field: 124, "77777777777")) }
        assertSaneError("runs past the end of the archive") { try members(patched(bytes, header: h, field: 124, "00000020000")) }
        assertSaneError("size field") { try members(patched(bytes, header: h, field: 124, "0000000x000")) }
        assertSaneError("header checksum") { try members(patched(bytes, header: h, field: 124, "00000000001", fixChecksum: false)) }
        assertSaneError("not a ustar header") { try members(patched(bytes, header: h, field: 257, "ustaR")) }
        assertSaneError("type '2'") { try members(patched(bytes, header: h, field: 156, "2")) }
        assertSaneError("claims 6 bytes") { try members(patched(bytes, header: 0, field: 124, "00000000006")) }
        var b = bytes; b[h + 124] = 0x80
        assertSaneError("base-256") { try members(patched(b, header: h, field: 0, "dir/sub/b.bin")) }
        // A smaller size still parses (it is a valid archive) but then the next header is garbage.
        XCTAssertThrowsError(try members(patched(bytes, header: h, field: 124, "00000000100")))
    }

    /// Seeded random byte corruption: each variant either parses to members inside the archive or
    /// throws a SaneError.
    func testRandomCorruptionNeverEscapesTheArchive() throws {
        let bytes = try archive()
        var g = SeededGenerator(seed: 13)
        for _ in 0..<400 {
            var b = bytes
            for _ in 0..<(1 + g.int(below: 4)) { b[g.int(below: 4096)] = UInt8(g.int(below: 256)) }
            do {
                for m in try members(b) { XCTAssertLessThanOrEqual(m.offset + m.size, b.count) }
            } catch {
                XCTAssertTrue(error is SaneError, "\(error)")
            }
        }
    }
}
