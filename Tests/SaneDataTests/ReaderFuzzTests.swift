import Foundation
@testable import SaneData
import SaneTensor
import XCTest

/// Seeded mutation fuzzing of every file reader (pickle, ZIP, gzip, IDX, safetensors, PyTorch
/// checkpoints): bit flips, byte and integer-field overwrites with boundary values, truncation,
/// deleted/duplicated chunks, long runs of one pickle opcode (deep nesting). Each case must end
/// in a value or a `SaneError` — a crash, a trap or another error type fails the run — and
/// where a property is known (sizes backed by the file, a strided view equal to a naive
/// gather) it is checked. A few hundred cases per reader by default; SANE_LONG_TESTS=1 runs
/// 20,000. A failing case prints its seed and round.
final class ReaderFuzzTests: XCTestCase {
    static let long = ProcessInfo.processInfo.environment["SANE_LONG_TESTS"] == "1"
    static let cases = long ? 20_000 : 300

    // MARK: mutations

    struct Mutator {
        var g: SeededGenerator

        static let boundaries: [UInt64] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
                                           1 << 32, 1 << 40, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, .max]
        /// Pickle opcodes that nest or grow the stack when repeated.
        static let runs: [[UInt8]] = [[0x28], [0x5D], [0x7D], [0x85], [0x74], [0x61], [0x73], [0x32], [0x4E, 0x85], [0x28, 0x29]]

        mutating func int(_ n: Int) -> Int { g.int(below: max(n, 1)) }

        /// `bytes` with 1–3 random mutations.
        mutating func mutate(_ input: [UInt8], pickle: Bool = false) -> [UInt8] {
            var b = input
            for _ in 0..<1 + int(3) {
                guard !b.isEmpty else { b = [UInt8(int(256))]; continue }
                switch int(pickle ? 9 : 8) {
                case 0: b[int(b.count)] ^= UInt8(1 << int(8))                                   // bit flip
                case 1: b[int(b.count)] = UInt8(int(256))                                        // random byte
                case 2, 3:                                                                      // integer field
                    let width = [1, 2, 4, 8][int(4)]
                    let at = int(b.count)
                    let v = Mutator.boundaries[int(Mutator.boundaries.count)] &+ UInt64(int(3)) &- 1
                    var field = withUnsafeBytes(of: v.littleEndian) { Array($0.prefix(width)) }
                    if int(2) == 0 { field.reverse() }
                    for (k, x) in field.enumerated() where at + k < b.count { b[at + k] = x }
                case 4: b = Array(b.prefix(int(b.count)))                                        // truncation
                case 5:                                                                         // delete a chunk
                    let at = int(b.count), n = min(1 + int(64), b.count - at)
                    b.removeSubrange(at..<at + n)
                case 6:                                                                         // duplicate a chunk
                    let at = int(b.count), n = min(1 + int(64), b.count - at)
                    b.insert(contentsOf: b[at..<at + n], at: int(b.count))
                case 7: b.insert(contentsOf: (0..<1 + int(8)).map { _ in UInt8(int(256)) }, at: int(b.count))
                default:                                                                        // a long opcode run
                    let run = Mutator.runs[int(Mutator.runs.count)]
                    let n = [10, 150, 5_000, 60_000][int(4)]
                    b.insert(contentsOf: Array([[UInt8]](repeating: run, count: n).joined()), at: int(b.count))
                }
            }
            return b
        }
    }

    /// Runs `cases` mutated inputs through `body`; returns (values, errors).
    @discardableResult
    func fuzz(_ name: String, seed: UInt64, seeds: [[UInt8]], pickle: Bool = false,
              _ body: ([UInt8]) throws -> Void) -> (values: Int, errors: Int) {
        var m = Mutator(g: SeededGenerator(seed: seed))
        var values = 0, errors = 0
        for round in 0..<ReaderFuzzTests.cases {
            let input = m.mutate(seeds[m.int(seeds.count)], pickle: pickle)
            do {
                try body(input)
                values += 1
            } catch is SaneError {
                errors += 1
            } catch {
                XCTFail("\(name) seed \(seed) round \(round): not a SaneError: \(error)")
            }
        }
        print("fuzz \(name): \(ReaderFuzzTests.cases) cases, \(values) read, \(errors) refused")
        XCTAssertGreaterThan(errors, 0, "\(name): mutations should break some inputs")
        return (values, errors)
    }

    // MARK: seeds

    func fixtureBytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: fixture(name))) }

    /// The entries of a fixture checkpoint, to rebuild with a mutated pickle and valid CRCs.
    func checkpointParts(_ name: String) throws -> (pickle: [UInt8], others: [ZipEntrySpec]) {
        let zip = try ZipArchive(data: Data(try fixtureBytes(name)), source: name)
        var pickle: [UInt8] = [], others: [ZipEntrySpec] = []
        for e in zip.entries {
            let data = [UInt8](try zip.contents(of: e))
            if e.name.hasSuffix("data.pkl") { pickle = data } else { others.append(ZipEntrySpec(name: e.name, data: data)) }
        }
        return (pickle, others)
    }

    // MARK: readers

    func testFuzzPickleInsideCheckpoints() throws {
        let parts = try ["tiny_checkpoint.pt", "wrapped_checkpoint.pt"].map(checkpointParts)
        let prefixes = try ["tiny_checkpoint.pt", "wrapped_checkpoint.pt"].map { name in
            try XCTUnwrap(ZipArchive(data: Data(try fixtureBytes(name)), source: name).entries.first { $0.name.hasSuffix("data.pkl") }?.name)
        }
        fuzz("pickle", seed: 1, seeds: [0, 1].map { [UInt8($0)] + parts[$0].pickle }, pickle: true) { input in
            let which = Int(input.first ?? 0) % 2
            let zip = zipArchive([ZipEntrySpec(name: prefixes[which], data: Array(input.dropFirst()))] + parts[which].others)
            let sd = try TorchCheckpoint.decode(Data(zip), source: "fuzz.pt")
            XCTAssertLessThanOrEqual(sd.items.reduce(0) { $0 + $1.1.count }, TorchCheckpoint.elementBudget(fileBytes: zip.count))
        }
        // The unpickler alone, on crafted state-dict pickles.
        let crafted = statePickle([CraftedTensor(name: "a", storageCount: 6, size: [2, 3], stride: [3, 1]),
                                   CraftedTensor(name: "b", storageCount: 6, offset: 1, size: [2], stride: [2])])
        fuzz("unpickler", seed: 2, seeds: [crafted] + parts.map(\.pickle), pickle: true) { input in
            var u = Unpickler(bytes: input, source: "fuzz.pkl")
            _ = try u.load()
        }
    }

    func testFuzzZipArchives() throws {
        let deflated = zipArchive([ZipEntrySpec(name: "z", data: deflateRepeating(3, count: 3000), method: 8, uncompressedSize: 3000,
                                                crc: Inflate.crc32(Data(repeating: 3, count: 3000))),
                                   ZipEntrySpec(name: "s", data: Array("stored".utf8))])
        let seeds = [try fixtureBytes("tiny_checkpoint.pt"), try fixtureBytes("evil_checkpoint.pt"), deflated]
        fuzz("zip", seed: 3, seeds: seeds) { input in
            let zip = try ZipArchive(data: Data(input), source: "fuzz.zip")
            for e in zip.entries {
                let out = try zip.contents(of: e)
                XCTAssertEqual(out.count, e.uncompressedSize)
            }
            do { _ = try TorchCheckpoint.decode(Data(input), source: "fuzz.pt") } catch is SaneError {}
        }
    }

    func testFuzzGzip() {
        let text = Array((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31 ^ $0 >> 3) })
        let seeds = [gzipStored(text), gzipMember(deflate: deflateRepeating(1, count: 100_000), crc: Inflate.crc32(Data(repeating: 1, count: 100_000)), size: 100_000),
                     gzipStored([]) + gzipStored(text)]
        let limit = 1 << 22
        fuzz("gzip", seed: 4, seeds: seeds) { input in
            let out = try Inflate.gunzip(Data(input), limit: limit, source: "fuzz.gz")
            XCTAssertLessThanOrEqual(out.count, limit)
        }
    }

    func testFuzzIDX() {
        let images = idxFile(shape: [3, 4, 5], data: (0..<60).map { UInt8($0) })
        let labels = idxFile(shape: [7], data: [0, 1, 2, 3, 4, 5, 6])
        fuzz("idx", seed: 5, seeds: [images, labels, gzipStored(images), gzipStored(labels)]) { input in
            let (shape, bytes) = try IDX.decode(Data(input), source: "fuzz.idx")
            XCTAssertEqual(bytes.count, shape.reduce(1, *))
        }
    }

    func testFuzzSafetensors() throws {
        var g = SeededGenerator(seed: 6)
        let own = Safetensors.encode(StateDict([("w", Tensor.normal([3, 4], using: &g)), ("b", Tensor(zeros: [4])), ("s", Tensor(1))]))
        let seeds = [try fixtureBytes("tiny.safetensors"), [UInt8](own)]
        // Besides byte mutations: numbers in the JSON header replaced by boundary values.
        let numbers = ["0", "1", "-1", "7", "4294967296", "9007199254740993", "1e300", "18446744073709551616", "2.5"]
        var h = SeededGenerator(seed: 7)
        fuzz("safetensors", seed: 8, seeds: seeds) { input in
            var bytes = input
            if h.int(below: 2) == 0, let digit = bytes.indices.filter({ $0 >= 8 && bytes[$0] >= 0x30 && bytes[$0] <= 0x39 }).randomElement(using: &h) {
                var end = digit
                while end < bytes.count, bytes[end] >= 0x30, bytes[end] <= 0x39 { end += 1 }
                let replacement = Array(numbers[h.int(below: numbers.count)].utf8)
                bytes.replaceSubrange(digit..<end, with: replacement)
                let headerLength = bytes.count >= 8 ? Int(bytes[0]) + Int(bytes[1]) << 8 : 0
                let newLength = headerLength + replacement.count - (end - digit)
                if newLength >= 0 && newLength < 65_536 { bytes.replaceSubrange(0..<2, with: le(UInt16(newLength))) }
            }
            let sd = try Safetensors.decode(Data(bytes), source: "fuzz.safetensors")
            XCTAssertLessThanOrEqual(sd.items.reduce(0) { $0 + $1.1.count }, bytes.count, "elements backed by the file")
        }
    }

    /// Property: for random sizes, strides and offsets (small, zero and near 2⁶³), the
    /// checkpoint reader accepts exactly the views that fit their storage and the file's element
    /// budget, and copies exactly the elements a naive strided gather reads.
    func testStridedViewsMatchANaiveGather() throws {
        var g = SeededGenerator(seed: 9)
        func pick(_ small: Int) -> Int {
            switch g.int(below: 10) {
            case 0: return [1 << 31, 1 << 62, Int.max, Int.max - 1, 1 << 32][g.int(below: 5)]
            case 1: return 0
            default: return g.int(below: small + 1)
            }
        }
        var accepted = 0, refused = 0
        for round in 0..<(ReaderFuzzTests.long ? 20_000 : 1_000) {
            let rank = g.int(below: 5)
            let size = (0..<rank).map { _ in pick(4) }, stride = (0..<rank).map { _ in pick(6) }
            let storageCount = g.int(below: 65), offset = pick(10)
            let storage = (0..<storageCount).map { Float($0) }
            let t = CraftedTensor(name: "v", storageCount: storageCount, offset: offset, size: size, stride: stride)
            let file = checkpointZip(pickle: statePickle([t]), storages: ["0": float32Bytes(storage)])

            // The reference: which storage indices the view reads, in row-major order (nil = invalid).
            var expected: [Float]? = nil
            reference: do {
                // Shapes whose non-zero sizes multiply past maxElements are refused even when empty.
                var span = 1
                for n in size where n > 0 {
                    let (c, o) = span.multipliedReportingOverflow(by: n)
                    if o || c > TorchCheckpoint.maxElements { break reference }
                    span = c
                }
                if size.contains(0) { expected = []; break reference }
                var last = offset
                for (n, s) in zip(size, stride) {
                    let (r, o1) = (n - 1).multipliedReportingOverflow(by: s)
                    let (l, o2) = last.addingReportingOverflow(r)
                    if o1 || o2 { break reference }
                    last = l
                }
                let count = span
                guard count <= TorchCheckpoint.elementBudget(fileBytes: file.count), last < storageCount else { break reference }
                var out: [Float] = []
                for flat in 0..<count {
                    var rest = flat, src = offset
                    for d in (0..<rank).reversed() { src += (rest % size[d]) * stride[d]; rest /= size[d] }
                    out.append(storage[src])
                }
                expected = out
            }
            do {
                let sd = try TorchCheckpoint.decode(Data(file), source: "view.pt")
                XCTAssertEqual(sd["v"]?.shape, size, "round \(round)")
                XCTAssertEqual(sd["v"]?.scalars, expected, "round \(round): size \(size) stride \(stride) offset \(offset) storage \(storageCount)")
                accepted += 1
            } catch let e as SaneError {
                XCTAssertNil(expected, "round \(round): refused a valid view size \(size) stride \(stride) offset \(offset): \(e)")
                refused += 1
            }
        }
        print("strided views: \(accepted) accepted, \(refused) refused")
        XCTAssertGreaterThan(accepted, 100)
        XCTAssertGreaterThan(refused, 100)
    }
}
