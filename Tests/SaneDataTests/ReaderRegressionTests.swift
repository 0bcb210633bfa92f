import Foundation
@testable import SaneData
import SaneTensor
import XCTest

/// One test per reader bug found by hostile input: each builds the offending bytes and checks
/// for a one-line error naming the file (the bugs were crashes, traps and huge allocations).
final class ReaderRegressionTests: XCTestCase {
    func unpickle(_ bytes: [UInt8]) throws -> PickleValue {
        var u = Unpickler(bytes: bytes, source: "crafted.pkl")
        return try u.load()
    }

    func tempDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sane-readers-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    // MARK: pickle

    /// 40,000 nested containers (a 40 KB file) used to overflow the stack (SIGSEGV).
    func testDeeplyNestedPicklesAreRefused() {
        let n = 40_000
        var tuple1 = PickleWriter(); tuple1.op(0x4E); tuple1.bytes += Array(repeating: 0x85, count: n); tuple1.stop()
        var marks = PickleWriter(); marks.bytes += Array(repeating: 0x28, count: n) + Array(repeating: 0x74, count: n); marks.stop()
        var lists = PickleWriter(); lists.bytes += Array(repeating: 0x5D, count: n) + Array(repeating: 0x61, count: n - 1); lists.stop()
        var dicts = PickleWriter(); dicts.op(0x7D)
        for _ in 0..<n { dicts.op(0x4E, 0x7D) }                 // key None, value {} …
        dicts.bytes += Array(repeating: 0x73, count: n); dicts.stop()   // … each SETITEM nests the top dict in the one below
        for (label, p) in [("TUPLE1", tuple1), ("MARK/TUPLE", marks), ("lists", lists), ("dicts", dicts)] {
            assertSaneError("deeper than \(Unpickler.maxDepth) levels", label) { try unpickle(p.bytes) }
        }
    }

    /// Nesting below the limit is still read (the limit does not refuse real structures).
    func testModerateNestingIsAccepted() throws {
        var p = PickleWriter(); p.op(0x4E); p.bytes += Array(repeating: 0x85, count: Unpickler.maxDepth); p.stop()
        guard case .tuple(_, let depth) = try unpickle(p.bytes) else { return XCTFail("expected a tuple") }
        XCTAssertEqual(depth, Unpickler.maxDepth)
    }

    /// A list appended to itself (a cycle) is refused, not built.
    func testRecursivePicklesAreRefused() {
        var p = PickleWriter(); p.op(0x5D, 0x32, 0x61); p.stop()     // l = []; l.append(l)
        assertSaneError("recursive structures") { try unpickle(p.bytes) }
        var q = PickleWriter(); q.op(0x5D, 0x71, 0, 0x5D, 0x71, 1, 0x61, 0x68, 1, 0x68, 0, 0x61); q.stop()   // a=[]; b=[]; a.append(b); b.append(a)
        assertSaneError("recursive structures") { try unpickle(q.bytes) }
    }

    func testPickleStackAndMemoAreBounded() {
        var p = PickleWriter(); p.op(0x4E); p.bytes += Array(repeating: 0x32, count: Unpickler.maxStack + 1); p.stop()   // DUP …
        assertSaneError("stack exceeds") { try unpickle(p.bytes) }
        var m = PickleWriter(); m.op(0x4E)
        for k in 0...Unpickler.maxMemo { m.bytes += [0x72] + le(UInt32(k)) }                        // LONG_BINPUT k
        m.stop()
        assertSaneError("memo exceeds") { try unpickle(m.bytes) }
    }

    // MARK: checkpoint views

    /// A stride of 2⁶³−1 used to trap on overflow in the strided copy. Over dimensions of size 1
    /// it is a valid view of one element.
    func testHugeStridesAreCheckedNotTrapped() throws {
        let storage = float32Bytes([10, 11, 12, 13])
        func checkpoint(offset: Int, size: [Int], stride: [Int]) -> Data {
            Data(checkpointZip(pickle: statePickle([CraftedTensor(name: "w", storageCount: 4, offset: offset, size: size, stride: stride)]),
                               storages: ["0": storage]))
        }
        let sd = try TorchCheckpoint.decode(checkpoint(offset: 1, size: [1, 1], stride: [Int.max, Int.max]), source: "s.pt")
        XCTAssertEqual(sd["w"]?.scalars, [11])
        assertSaneError("exceeds its storage") { try TorchCheckpoint.decode(checkpoint(offset: 0, size: [2], stride: [Int.max]), source: "s.pt") }
        assertSaneError("too large") { try TorchCheckpoint.decode(checkpoint(offset: 0, size: [3, 3], stride: [Int.max, Int.max]), source: "s.pt") }
        assertSaneError("too large") { try TorchCheckpoint.decode(checkpoint(offset: Int.max, size: [2], stride: [1]), source: "s.pt") }
        // Empty, but with sizes whose product overflows: refused, not trapped in shape arithmetic.
        assertSaneError("too large") { try TorchCheckpoint.decode(checkpoint(offset: 0, size: [0, 1 << 62, 1 << 62], stride: [1, 1, 1]), source: "s.pt") }
        XCTAssertEqual(try TorchCheckpoint.decode(checkpoint(offset: 99, size: [0, 5], stride: [Int.max, 1]), source: "s.pt")["w"]?.shape, [0, 5])
        assertSaneError("negative") { try TorchCheckpoint.decode(checkpoint(offset: 0, size: [2], stride: [Int.min]), source: "s.pt") }
    }

    /// Stride 0 with size 2³¹ over an 800-byte storage used to allocate 8 GiB.
    func testStrideZeroCannotExpandBeyondTheFile() throws {
        let t = CraftedTensor(name: "w", storageCount: 200, size: [1 << 31], stride: [0])
        let file = Data(checkpointZip(pickle: statePickle([t]), storages: ["0": float32Bytes(Array(repeating: 1, count: 200))]))
        assertSaneError("more than the file's size can back") { try TorchCheckpoint.decode(file, source: "zero-stride.pt") }
        // Many views of one storage draw on the same budget.
        let many = (0..<40).map { CraftedTensor(name: "w\($0)", storageCount: 200, size: [200, 200], stride: [0, 1]) }
        let shared = Data(checkpointZip(pickle: statePickle(many), storages: ["0": float32Bytes(Array(repeating: 1, count: 200))]))
        assertSaneError("more than the file's size can back") { try TorchCheckpoint.decode(shared, source: "shared.pt") }
        // A small broadcast view is fine.
        let small = CraftedTensor(name: "w", storageCount: 2, size: [3, 2], stride: [0, 1])
        let ok = try TorchCheckpoint.decode(Data(checkpointZip(pickle: statePickle([small]), storages: ["0": float32Bytes([1, 2])])), source: "ok.pt")
        XCTAssertEqual(ok["w"]?.scalars, [1, 2, 1, 2, 1, 2])
    }

    // MARK: zip and gzip

    /// A ZIP entry declaring 800 bytes that inflates to far more used to be inflated in full
    /// (4 GiB, 26 s) before the size check. Inflation now stops at the declared size.
    func testZipEntryInflatingPastItsDeclaredSizeStops() throws {
        let bomb = deflateRepeating(0x4E, count: 64 << 20)            // 64 MiB from ~400 KB
        let zip = zipArchive([ZipEntrySpec(name: "archive/data.pkl", data: bomb, method: 8, uncompressedSize: 800, crc: 0)])
        assertSaneError("archive/data.pkl decompresses to more than its declared 800 bytes") {
            try TorchCheckpoint.decode(Data(zip), source: "bomb.pt")
        }
        let (out, complete) = try Inflate.inflate(Data(bomb), format: .raw, upTo: 800, source: "bomb")
        XCTAssertEqual(out.count, 800)
        XCTAssertFalse(complete)
        // Exactly the declared size is accepted; one byte short is an error.
        let exact = deflateRepeating(7, count: 5000)
        XCTAssertEqual(try Inflate.decompress(Data(exact), format: .raw, expectedSize: 5000, source: "e").count, 5000)
        assertSaneError("decompressed to 5000 bytes, expected 5001") { try Inflate.decompress(Data(exact), format: .raw, expectedSize: 5001, source: "e") }
    }

    /// Many directory entries naming the same stored data would each be extracted (a 1 MB
    /// file read as 200 MB); the checkpoint reader caps the bytes extracted in all.
    func testOverlappingZipEntriesAreCapped() throws {
        let blob = [UInt8](repeating: 0, count: 1 << 20)
        let pickle = statePickle((0..<200).map { CraftedTensor(name: "t\($0)", storage: "\($0)", storageCount: 0, size: [0], stride: [1]) })
        var zip = zipArchive([ZipEntrySpec(name: "archive/data.pkl", data: pickle), ZipEntrySpec(name: "archive/data/0", data: blob)])
        // Rewrite the directory: data.pkl plus 200 names all pointing at the one blob.
        let blobOffset = 30 + "archive/data.pkl".utf8.count + pickle.count
        zip = Array(zip.prefix(blobOffset + 30 + "archive/data/0".utf8.count + blob.count))
        let dirOffset = zip.count
        func central(_ name: String, size: Int, crc: UInt32, offset: Int) -> [UInt8] {
            let n = Array(name.utf8)
            return le(UInt32(0x0201_4B50)) + le(UInt16(20)) + le(UInt16(20)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0))
                + le(crc) + le(UInt32(size)) + le(UInt32(size)) + le(UInt16(n.count)) + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
                + le(UInt32(offset)) + n
        }
        var dir = central("archive/data.pkl", size: pickle.count, crc: Inflate.crc32(Data(pickle)), offset: 0)
        for k in 0..<200 { dir += central("archive/data/\(k)", size: blob.count, crc: Inflate.crc32(Data(blob)), offset: blobOffset) }
        zip += dir + le(UInt32(0x0605_4B50)) + [0, 0, 0, 0] + le(UInt16(201)) + le(UInt16(201)) + le(UInt32(dir.count)) + le(UInt32(dirOffset)) + [0, 0]
        XCTAssertEqual(try ZipArchive(data: Data(zip), source: "o.pt").entries.count, 201)
        assertSaneError("entries extract to more than") { try TorchCheckpoint.decode(Data(zip), source: "overlap.pt") }
    }

    func testZipOffsetsAndCRCAreChecked() throws {
        let good = zipArchive([ZipEntrySpec(name: "a", data: Array("hello".utf8))])
        XCTAssertEqual(try ZipArchive(data: Data(good), source: "z.zip").contents(ofEntryNamed: "a"), Data("hello".utf8))
        var crc = good; crc[30 + 1] ^= 1                              // a content byte
        assertSaneError("CRC-32 mismatch in entry a in ZIP archive z.zip") { try ZipArchive(data: Data(crc), source: "z.zip").contents(ofEntryNamed: "a") }
        var offset = good; let eocd = good.count - 22
        offset.replaceSubrange(eocd + 16..<eocd + 20, with: le(UInt32(0xFFFF_FFF0)))   // directory offset far past the end
        assertSaneError("does not fit") { try ZipArchive(data: Data(offset), source: "z.zip") }
        var local = good
        local.replaceSubrange(eocd - 5..<eocd - 1, with: le(UInt32(0x7FFF_FFF0)))     // the entry's local-header offset
        assertSaneError("z.zip") { try ZipArchive(data: Data(local), source: "z.zip").contents(ofEntryNamed: "a") }
    }

    func testGzipIsBoundedAndChecked() throws {
        let bomb = gzipMember(deflate: deflateRepeating(0, count: 8 << 20), crc: 0, size: 0)
        assertSaneError("bomb.gz decompresses to more than 1000000 bytes") { try Inflate.gunzip(Data(bomb), limit: 1_000_000, source: "bomb.gz") }
        let data = Array((0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        XCTAssertEqual(try Inflate.gunzip(Data(gzipStored(data)), source: "ok.gz"), Data(data))
        var badCRC = gzipStored(data); badCRC[badCRC.count - 5] ^= 1
        assertSaneError("bad.gz") { try Inflate.gunzip(Data(badCRC), source: "bad.gz") }
        assertSaneError("ends early") { try Inflate.gunzip(Data(gzipStored(data).dropLast(9)), source: "cut.gz") }
    }

    // MARK: IDX

    /// A header whose dimension product overflows used to trap.
    func testIDXHeaderProductOverflowIsAnError() {
        let file = idxFile(shape: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], data: [1, 2, 3])
        assertSaneError("shape [4294967295, 4294967295, 4294967295] is too large in IDX file big.idx") { try IDX.decode(Data(file), source: "big.idx") }
        assertSaneError("too large") { try IDX.decode(Data(gzipStored(file)), source: "big.idx.gz") }
    }

    func testIDXDeclaredSizeMustMatchTheData() throws {
        let file = idxFile(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try IDX.decode(Data(file), source: "ok").shape, [2, 3])
        XCTAssertEqual(try IDX.decode(Data(gzipStored(file)), source: "ok.gz").bytes, [1, 2, 3, 4, 5, 6])
        assertSaneError("needs 6 bytes of data, file has 5") { try IDX.decode(Data(file.dropLast()), source: "short") }
        assertSaneError("needs 6 bytes of data, file has 7") { try IDX.decode(Data(file + [0]), source: "long") }
        assertSaneError("needs 6 bytes of data, file has 5") { try IDX.decode(Data(gzipStored(Array(file.dropLast()))), source: "short.gz") }
        assertSaneError("header cut short") { try IDX.decode(Data(file.prefix(9)), source: "cut") }
        assertSaneError("element type 0x0d") { try IDX.decode(Data([0, 0, 0x0D, 1] + be(UInt32(1)) + [0, 0, 0, 0]), source: "float") }
        // A .gz whose header declares 1×28×28 but whose data inflates to 64 MiB stops at the declared size.
        let header = idxFile(shape: [1, 28, 28], data: [])
        let bomb = gzipStored(header) + gzipMember(deflate: deflateRepeating(9, count: 64 << 20), crc: 0, size: 0)
        assertSaneError("more data than the header's shape [1, 28, 28] declares") { try IDX.decode(Data(bomb), source: "bomb.gz") }
    }

    // MARK: datasets

    func writeIDX(_ dir: URL, _ name: String, shape: [UInt32], data: [UInt8]) throws {
        try Data(idxFile(shape: shape, data: data)).write(to: dir.appendingPathComponent(name))
    }

    func testDatasetSanity() throws {
        let dir = try tempDirectory()
        func load(classes: Int? = 10) throws -> ImageDataset {
            try IDXSource(directory: dir, maxValue: 255, files: [.train: ("img", "lab")], classes: classes).load(.train)
        }
        try writeIDX(dir, "img", shape: [3, 2, 2], data: Array(repeating: 255, count: 12))
        try writeIDX(dir, "lab", shape: [3], data: [0, 9, 3])
        XCTAssertEqual(try load().labels, [0, 9, 3])

        try writeIDX(dir, "lab", shape: [2], data: [0, 9])
        assertSaneError("do not match") { try load() }
        try writeIDX(dir, "lab", shape: [3], data: [0, 10, 3])
        assertSaneError("label 10 of example 1 in \(dir.appendingPathComponent("lab").path) is not one of the dataset's 10 classes") { try load() }
        XCTAssertEqual(try load(classes: nil).labels, [0, 10, 3], "without a class count any byte is a label")
        try writeIDX(dir, "img", shape: [0, 28, 28], data: [])
        try writeIDX(dir, "lab", shape: [0], data: [])
        assertSaneError("no images to use") { try load() }
        try writeIDX(dir, "img", shape: [2, 0, 28], data: [])
        try writeIDX(dir, "lab", shape: [2], data: [1, 2])
        assertSaneError("no images to use") { try load() }
        // A one-file dataset split 80/20 needs enough examples for both parts.
        try writeIDX(dir, "img", shape: [1, 2, 2], data: [1, 2, 3, 4])
        try writeIDX(dir, "lab", shape: [1], data: [1])
        assertSaneError("too few to split") {
            try IDXSource(directory: dir, maxValue: 255, files: [.train: ("img", "lab")], testFraction: 0.2).load(.test)
        }
    }

    /// Labels ≥ the network's outputs used to be read out of bounds by fine-tuning.
    func testDatasetMustFitTheClassifier() throws {
        let d = ImageDataset(images: Tensor(zeros: [3, 1, 2, 2]), labels: [0, 7, 2])
        XCTAssertNoThrow(try d.checkFits(classes: 10, channels: 1, what: "d"))
        assertSaneError("label 7 of example 1 in d is outside the network's 5 classes") { try d.checkFits(classes: 5, channels: 1, what: "d") }
        assertSaneError("d has 1-channel images, the network expects 3") { try d.checkFits(classes: 10, channels: 3, what: "d") }
        let empty = ImageDataset(images: Tensor(zeros: [0, 1, 2, 2]), labels: [])
        assertSaneError("d has no images") { try empty.checkFits(classes: 10, channels: 1, what: "d") }
    }

    func testNamedDatasetsKnowTheirClassCount() throws {
        // The shipped files pass the label-range check (every label is below 10).
        let data = try sharedDirectory().appendingPathComponent("data")
        let digits = try ImageDataset.load("digits8x8", split: .train, dataDirectory: data.path)
        XCTAssertEqual(digits.classCount, 10)
    }

    // MARK: messages

    func testDirectoryAndFIFOCheckpointsGetClearMessages() throws {
        let dir = try tempDirectory()
        assertSaneError("checkpoint \(dir.path) is a directory, not a file") { try StateDict(contentsOf: dir) }
        assertSaneError("is a directory") { try TorchCheckpoint.read(dir) }
        assertSaneError("is a directory") { try StateDict(safetensorsAt: dir) }
        let fifo = dir.appendingPathComponent("fifo")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        assertSaneError("not a regular file") { try StateDict(contentsOf: fifo) }
        assertSaneError("IDX file \(fifo.path) is not a regular file") { try IDX.read(fifo) }
        assertSaneError("No such file") { try StateDict(contentsOf: dir.appendingPathComponent("missing.pt")) }
        for file in [dir, fifo] {
            do { _ = try StateDict(contentsOf: file) } catch {
                XCTAssertFalse("\(error)".contains("NSCocoaErrorDomain"), "\(error)")
            }
        }
    }

    func testMissingDataHintNamesTheRealFlag() {
        assertSaneError("pass --data DIR") { try ImageDataset.load("mnist", split: .train, dataDirectory: "/nonexistent") }
    }

    // MARK: safetensors

    func testSafetensorsRangesMustTileTheData() throws {
        func decode(_ header: String, _ bytes: Int) throws -> StateDict {
            try Safetensors.decode(Data(safetensorsFile(header: header, data: Array(repeating: 0, count: bytes))), source: "t.safetensors")
        }
        XCTAssertEqual(try decode(#"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8).keys, ["b", "a"])
        // 1,000 tensors over the same 4 MB would have made a 4 MB file expand to 4 GB.
        assertSaneError("overlap") {
            try decode(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, 8)
        }
        assertSaneError("overlap") {
            try decode(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8)
        }
        assertSaneError("4 unused bytes before tensor \"a\"") { try decode(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, 8) }
        assertSaneError("4 bytes after the last tensor") { try decode(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 8) }
        assertSaneError("is too large") {
            try decode(#"{"a":{"dtype":"F32","shape":[4611686018427387, 4611686018427387],"data_offsets":[0,4]}}"#, 4)
        }
        assertSaneError("is too large") {
            try decode(#"{"a":{"dtype":"F32","shape":[0, 4611686018427387, 4611686018427387],"data_offsets":[0,0]}}"#, 0)
        }
        assertSaneError("data_offsets outside") { try decode(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4000000000]}}"#, 4) }
        assertSaneError("bad shape") { try decode(#"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#, 4) }
    }
}

/// `assertSaneError` with a label for loops.
func assertSaneError<T>(_ text: String, _ label: String, line: UInt = #line, _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("\(label): expected an error containing \"\(text)\"", line: line)
    } catch let e as SaneError {
        XCTAssertTrue(e.description.contains(text), "\(label): error \"\(e)\" does not contain \"\(text)\"", line: line)
    } catch {
        XCTFail("\(label): expected a SaneError, got \(error)", line: line)
    }
}
