import Foundation
import SaneData
import SaneTensor
import XCTest

final class TorchCheckpointTests: XCTestCase {
    func testReadsAllDtypesViewsAndSkipsNonTensors() throws {
        let sd = try TorchCheckpoint.read(fixture("tiny_checkpoint.pt"))
        try assertMatchesExpected(sd, "tiny_checkpoint.pt")
        XCTAssertNil(sd["python_int"])
        XCTAssertEqual(sd["bn.num_batches_tracked"]?.shape, [])
        XCTAssertEqual(sd["view"]?.shape, [4, 3])
    }

    func testUnwrapsStateDictKey() throws {
        try assertMatchesExpected(try StateDict(contentsOf: fixture("wrapped_checkpoint.pt")), "wrapped_checkpoint.pt")
    }

    func testRefusesUnknownGlobals() throws {
        assertSaneError("unknown pickle global os.system in") { try TorchCheckpoint.read(fixture("evil_checkpoint.pt")) }
    }

    /// Truncates and mutates a real checkpoint in many seeded ways: every case must end in a
    /// SaneError or a valid StateDict — never a crash or a hang.
    func testFuzzedCheckpointsNeverCrash() throws {
        let good = try Data(contentsOf: fixture("tiny_checkpoint.pt"))
        let zip = try ZipArchive(data: good, source: "good")
        let pkl = try XCTUnwrap(zip.entries.first { $0.name.hasSuffix("data.pkl") })
        var g = SeededGenerator(seed: 7)
        var errors = 0, valid = 0
        for round in 0..<600 {
            var bytes = [UInt8](good)
            switch round % 4 {
            case 0: bytes = Array(bytes.prefix(g.int(below: bytes.count)))        // truncation
            case 1: for _ in 0..<1 + g.int(below: 4) { bytes[g.int(below: bytes.count)] = UInt8(g.int(below: 256)) }
            default:
                // Mutate inside data.pkl and fix the CRC, so the unpickler itself sees the damage.
                bytes = try mutatedPickle(good, zip: zip, entry: pkl, using: &g)
            }
            do {
                let sd = try TorchCheckpoint.decode(Data(bytes), source: "fuzz-\(round)")
                XCTAssertGreaterThan(sd.count, 0)
                valid += 1
            } catch is SaneError {
                errors += 1
            }
        }
        XCTAssertGreaterThan(errors, 300)
        print("fuzz: \(errors) errors, \(valid) valid")
    }

    /// `good` with 1–3 bytes of the (stored) pickle entry changed and its CRC-32 fields updated.
    private func mutatedPickle(_ good: Data, zip: ZipArchive, entry: ZipArchive.Entry, using g: inout SeededGenerator) throws -> [UInt8] {
        var pickle = [UInt8](try zip.contents(of: entry))
        for _ in 0..<1 + g.int(below: 3) { pickle[g.int(below: pickle.count)] = UInt8(g.int(below: 256)) }
        var bytes = [UInt8](good)
        let start = try XCTUnwrap(bytes.firstRange(of: [UInt8](try zip.contents(of: entry)))).lowerBound
        bytes.replaceSubrange(start..<start + pickle.count, with: pickle)
        let oldCRC = withUnsafeBytes(of: entry.crc32.littleEndian) { [UInt8]($0) }
        let newCRC = withUnsafeBytes(of: Inflate.crc32(Data(pickle)).littleEndian) { [UInt8]($0) }
        var i = 0
        while let r = bytes[i...].firstRange(of: oldCRC) { bytes.replaceSubrange(r, with: newCRC); i = r.upperBound }
        return bytes
    }

    func testReadsRealZooCheckpoint() throws {
        let url = try sharedDirectory().appendingPathComponent("zoos/mnist-cnn-seed/mnist_seed_00001_seed=1/checkpoint_000001/checkpoints")
        let sd = try StateDict(contentsOf: url)
        XCTAssertEqual(sd.keys, [0, 3, 6, 9, 11].flatMap { ["module_list.\($0).weight", "module_list.\($0).bias"] })
        XCTAssertEqual(sd.parameterCount, 2464)
        XCTAssertEqual(sd["module_list.0.weight"]?.shape, [8, 1, 5, 5])
        // Reference: torch.load(url)["module_list.0.weight"].flatten()[:3], and the sum of |w| over all tensors.
        XCTAssertEqual(Array(sd["module_list.0.weight"]!.scalars.prefix(3)), [0.1635179966688156, -0.03247148543596268, -0.031541433185338974])
        let total = sd.items.reduce(0.0) { $0 + $1.1.scalars.reduce(0.0) { $0 + Double(abs($1)) } }
        XCTAssertEqual(total, 364.7737523504111, accuracy: 1e-6)
    }

    func testZipAndGzipErrors() throws {
        assertSaneError("no ZIP end-of-central-directory") { try ZipArchive(data: Data("not a zip".utf8), source: "x.zip") }
        assertSaneError("in y.gz") { try Inflate.gunzip(Data([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]), source: "y.gz") }
        let truncated = try Data(contentsOf: fixture("tiny_checkpoint.pt")).dropLast(30)
        assertSaneError("in t.pt") { try TorchCheckpoint.decode(truncated, source: "t.pt") }
    }
}
