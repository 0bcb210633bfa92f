import Foundation
import XCTest
@testable import SaneData
@testable import SaneTensor

/// SHA-256, libjpeg-turbo decoding, and the CIFAR-10 JPEG copy against its README's hashes.
final class CIFAR10Tests: XCTestCase {
    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // Fed in uneven pieces.
        var s = SHA256()
        let text = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        s.update(text[..<7]); s.update(text[7..<50]); s.update(text[50...])
        XCTAssertEqual(s.finalizeHex(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    /// train/airplane/0000.jpg of the archive; its pixels are the first 3,072 bytes of the train
    /// split whose full hash the README gives (checked in testArchiveDecodesToTheREADMEHashes).
    func testDecodesJPEGFixture() throws {
        let jpeg = try Data(contentsOf: fixture("cifar10_train_airplane_0000.jpg"))
        var out = [UInt8](repeating: 0, count: 3072)
        let size = try jpeg.withUnsafeBytes { b in try out.withUnsafeMutableBufferPointer { try JPEG.decodeRGB(b, into: $0.baseAddress!, capacity: 3072, source: "fixture") } }
        XCTAssertTrue(size == (32, 32))
        XCTAssertEqual(Array(out[0..<3]), [200, 202, 197])   // README: first train image, pixel (0,0)
        XCTAssertEqual(SHA256.hex(out), "59ac9bf701c9568895adee47d61e57d6310e86c6adac8179865da8b54010feee")
        // Too small an output buffer, a truncated file and garbage are errors, not crashes.
        assertSaneError("expected at most 100 RGB bytes") {
            try jpeg.withUnsafeBytes { b in try out.withUnsafeMutableBufferPointer { try JPEG.decodeRGB(b, into: $0.baseAddress!, capacity: 100, source: "fixture") } }
        }
        for bad in [jpeg.prefix(400), jpeg.prefix(10), Data("not a jpeg at all".utf8)] {
            assertSaneError("cannot decode JPEG fixture") {
                try bad.withUnsafeBytes { b in try out.withUnsafeMutableBufferPointer { try JPEG.decodeRGB(b, into: $0.baseAddress!, capacity: 3072, source: "fixture") } }
            }
        }
    }

    func cifarDirectory() throws -> URL {
        let dir = try sharedDirectory().appendingPathComponent("data/cifar10")
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent(CIFAR10JPEGSource.archiveName).path) else {
            throw XCTSkip("CIFAR-10 JPEG archive not found in \(dir.path); the hash check needs ../shared/data/cifar10")
        }
        return dir
    }

    /// Decodes the whole archive (no cache) and compares with the README's SHA-256 of the pixels
    /// (N×32×32×3 uint8, HWC RGB, tar order) and labels; then the cache round trip.
    func testArchiveDecodesToTheREADMEHashes() throws {
        let dir = try cifarDirectory()
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("sane-cifar-cache-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: cache) }
        let source = CIFAR10JPEGSource(directory: dir, cacheDirectory: cache)
        var t0 = Date()
        let train = try source.raw(.train)
        let first = Date().timeIntervalSince(t0)
        XCTAssertEqual(train.count, 50_000)
        XCTAssertEqual(SHA256.hex(train.pixels), "bf3aabd52be912dae02a0435296c4dab5289524b57f55cd162dc4796935a611b")
        XCTAssertEqual(SHA256.hex(train.labels), "a29f2a5ffc141bb1c9e1af453e9a5ef8c316b2f675f8cea1d849d220d33a14fb")
        t0 = Date()
        let test = try source.raw(.test)   // from the cache written by the first load
        let second = Date().timeIntervalSince(t0)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(SHA256.hex(test.pixels), "5a6aa8185204d80b65d3dfb540696dadd5f10d185ded226a96665d3e0fc6259f")
        XCTAssertEqual(SHA256.hex(test.labels), "a054c239a40ee7f2a5745e7e4bc11a51e9cb40c98134b602c1068e6a207487c6")
        XCTAssertEqual(try source.raw(.train), train, "cached train split differs from the decoded one")
        print(String(format: "CIFAR-10: decode (gunzip + tar + 60,000 JPEGs + cache write) %.2f s, cached test split %.2f s", first, second))

        let d = test.dataset()
        XCTAssertEqual(d.images.shape, [10_000, 3, 32, 32])
        XCTAssertEqual(Array(d.images.scalars[0..<1]), [Float(141) / 255])            // R of pixel (0,0)
        XCTAssertEqual(d.images.scalars[1024], Float(159) / 255)                      // G plane
        XCTAssertEqual(d.images.scalars[2048], Float(179) / 255)                      // B plane

        // A damaged cache file is ignored (decoded again and replaced), never trusted.
        let files = try FileManager.default.contentsOfDirectory(at: cache, includingPropertiesForKeys: nil)
        let testCache = try XCTUnwrap(files.first { $0.lastPathComponent.hasSuffix("-test.safetensors") })
        try Data(try Data(contentsOf: testCache).prefix(1000)).write(to: testCache)
        XCTAssertThrowsError(try CIFAR10JPEGSource.readCache(testCache))
        XCTAssertEqual(try source.raw(.test), test)
    }

    func testCorruptArchiveIsAnError() throws {
        assertSaneError("in x.tar.gz") { try CIFAR10JPEGSource.decode(archive: Data([0x1F, 0x8B, 8, 0, 0, 0]), source: "x.tar.gz") }
        // A valid .tar.gz without train/test JPEGs.
        let tar = try Data(contentsOf: fixture("small.tar"))
        let gz = try gzip(tar)
        assertSaneError("small.tar.gz lacks a train or test split") { _ = try CIFAR10JPEGSource.decode(archive: gz, source: "small.tar.gz") }
    }

    /// gzip via the system's `gzip` is not available to tests; build a stored (uncompressed) gzip member by hand.
    func gzip(_ data: Data) throws -> Data {
        var out = Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF])
        var i = 0
        while i < data.count || i == 0 {
            let n = min(65535, data.count - i), last: UInt8 = i + n >= data.count ? 1 : 0
            out.append(last); out.append(UInt8(n & 0xFF)); out.append(UInt8(n >> 8))
            out.append(UInt8(~n & 0xFF)); out.append(UInt8((~n >> 8) & 0xFF))
            out.append(data[i..<i + n]); i += n
            if n == 0 { break }
        }
        let crc = Inflate.crc32(data)
        for v in [UInt32(crc), UInt32(truncatingIfNeeded: data.count)] { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }
}
