import Foundation
import SaneTensor
import XCTest

final class SafetensorsTests: XCTestCase {
    func tempURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("sane-\(getpid())-\(name)")
    }

    func testRoundTripKeepsOrderValuesAndMetadata() throws {
        var g = SeededGenerator(seed: 1)
        let sd = StateDict([
            ("z.weight", Tensor.normal([3, 2, 2], using: &g)),
            ("a.bias", Tensor(shape: [3], scalars: [1, -.infinity, 0])),
            ("m", Tensor(2.5)),
            ("empty", Tensor(zeros: [0, 4])),
        ], metadata: ["epoch": "3", "format": "pt"])
        let url = tempURL("roundtrip.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try sd.writeSafetensors(to: url)

        let data = try Data(contentsOf: url)
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0, "header is padded to 8 bytes")

        let back = try StateDict(safetensorsAt: url)
        XCTAssertEqual(back.keys, sd.keys)
        XCTAssertEqual(back.metadata, sd.metadata)
        for (name, t) in sd.items {
            XCTAssertEqual(back[name]!.shape, t.shape)
            XCTAssertEqual(back[name]!.scalars, t.scalars)
        }
        // The format-sniffing loader reads it too.
        XCTAssertEqual(try StateDict(contentsOf: url).keys, sd.keys)
    }

    func testReadsFixtureWithAllFloatTypes() throws {
        let sd = try StateDict(safetensorsAt: fixture("tiny.safetensors"))
        try assertMatchesExpected(sd, "tiny.safetensors")
        XCTAssertEqual(sd.metadata, ["format": "pt", "note": "keys deliberately unsorted"])
    }

    func testCorruptFilesAreErrorsNamingTheFile() throws {
        let good = try Data(contentsOf: fixture("tiny.safetensors"))
        func decode(_ d: Data) throws -> StateDict { try Safetensors.decode(d, source: "bad.safetensors") }
        func withLength(_ v: UInt64, _ rest: Data) -> Data {
            var d = Data(); withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) }; return d + rest
        }

        assertSaneError("bad.safetensors") { try decode(Data([1, 2, 3])) }
        assertSaneError("exceeds") { try decode(withLength(1 << 40, good.dropFirst(8))) }
        assertSaneError("runs past the end") { try decode(withLength(UInt64(good.count), good.dropFirst(8))) }
        assertSaneError("bad JSON") { try decode(withLength(8, Data("{\"a\": [1,".utf8))) }
        assertSaneError("data_offsets outside") { try decode(good.prefix(good.count - 4)) }   // truncated data
        func file(_ header: String, dataBytes: Int) -> Data {
            withLength(UInt64(header.utf8.count), Data(header.utf8)) + Data(count: dataBytes)
        }
        assertSaneError("unsupported dtype C64") {
            try decode(file(#"{"x":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, dataBytes: 8))
        }
        var int64 = file(#"{"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}"#, dataBytes: 0)
        withUnsafeBytes(of: Int64(-1234).littleEndian) { int64.append(contentsOf: $0) }
        XCTAssertEqual(try decode(int64)["n"]?.scalars, [-1234], "integer tensors are converted to Float")
        assertSaneError("needs 2 × 4 bytes") {
            try decode(file(#"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, dataBytes: 8))
        }
        assertSaneError("bad shape") {
            try decode(file(#"{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataBytes: 8))
        }
        assertSaneError("header is not a JSON object") { try decode(file("[1, 2]", dataBytes: 0)) }
        assertSaneError("cannot read") { try StateDict(safetensorsAt: URL(fileURLWithPath: "/nonexistent/x.safetensors")) }
    }

    func testJSONKeepsOrderAndPythonNonFinite() throws {
        let v = try JSONValue.parse("{\"b\": 1, \"a\": [NaN, -Infinity, 2.5e-3, \"\\u00e9\\ud83d\\ude00\"], \"c\": null}")
        XCTAssertEqual(v.objectMembers?.map(\.key), ["b", "a", "c"])
        let a = try XCTUnwrap(v["a"]?.arrayValue)
        XCTAssertTrue(a[0].doubleValue!.isNaN)
        XCTAssertEqual(a[1].doubleValue, -.infinity)
        XCTAssertEqual(a[3].stringValue, "é😀")
        XCTAssertThrowsError(try JSONValue.parse(String(repeating: "[", count: 10_000)))
    }

    /// Truncated and byte-mutated copies of the fixture: each ends in a SaneError or a valid
    /// StateDict, never a crash.
    func testFuzzedFilesNeverCrash() throws {
        let good = [UInt8](try Data(contentsOf: fixture("tiny.safetensors")))
        var g = SeededGenerator(seed: 11)
        var errors = 0
        for round in 0..<400 {
            var bytes = good
            if round % 2 == 0 {
                bytes = Array(bytes.prefix(g.int(below: bytes.count)))
            } else {
                for _ in 0..<1 + g.int(below: 3) { bytes[g.int(below: bytes.count)] = UInt8(g.int(below: 256)) }
            }
            do { _ = try Safetensors.decode(Data(bytes), source: "fuzz") } catch is SaneError { errors += 1 }
        }
        XCTAssertGreaterThan(errors, 200)
    }
}
