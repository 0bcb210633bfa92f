import Foundation
import SaneData
import SaneTensor
import XCTest

final class IDXDatasetTests: XCTestCase {
    func dataDirectory() throws -> String { try sharedDirectory().appendingPathComponent("data").path }

    func testLoadsMNIST() throws {
        let train = try ImageDataset.load("mnist", split: .train, dataDirectory: dataDirectory())
        XCTAssertEqual(train.images.shape, [60000, 1, 28, 28])
        XCTAssertEqual(train.classCount, 10)
        XCTAssertEqual(Array(train.labels.prefix(5)), [5, 0, 4, 1, 9])
        XCTAssertEqual(train.images.maxAbs, 1)
        let test = try NamedDataset.mnist.load(.test, dataDirectory: dataDirectory())
        XCTAssertEqual(test.count, 10000)
    }

    func testDigitsSplitResizeAndPad() throws {
        let train = try ImageDataset.load("digits8x8", split: .train, dataDirectory: dataDirectory())
        let test = try ImageDataset.load("digits8x8", split: .test, dataDirectory: dataDirectory())
        XCTAssertEqual(train.count + test.count, 1797)
        XCTAssertEqual(train.count, 1437)
        XCTAssertEqual(train.images.shape.suffix(3), [1, 8, 8])
        XCTAssertEqual(train.images.maxAbs, 1)
        XCTAssertEqual(try ImageDataset.load("digits8x8", split: .train, dataDirectory: dataDirectory()).labels, train.labels,
                       "the split is deterministic")

        let big = train.resized(to: 28)
        XCTAssertEqual(big.images.shape, [1437, 1, 28, 28])
        XCTAssertLessThanOrEqual(big.images.maxAbs, 1)
        let padded = train.padded(to: 32)
        XCTAssertEqual(padded.images.shape, [1437, 1, 32, 32])
        XCTAssertEqual(padded.images[0, 0, 12, 12], train.images[0, 0, 0, 0])
        XCTAssertEqual(padded.images[0, 0, 0, 0], 0)
    }

    func testResizeIsIdentityAtSameSizeAndInterpolates() {
        let d = ImageDataset(images: Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 2, 3]), labels: [0])
        XCTAssertEqual(d.resized(to: 2).images.scalars, [0, 1, 2, 3])
        // align_corners=False: torch.nn.functional.interpolate(x, size=4, mode="bilinear")[0,0,0] = [0, .25, .75, 1]
        XCTAssertEqual(Array(d.resized(to: 4).images.scalars.prefix(4)), [0, 0.25, 0.75, 1])
    }

    func testSeededBatchesCoverEveryExampleOnce() {
        let n = 10
        let d = ImageDataset(images: Tensor(shape: [n, 1, 1, 1], scalars: (0..<n).map(Float.init)), labels: Array(0..<n))
        var g1 = SeededGenerator(seed: 3), g2 = SeededGenerator(seed: 3)
        let batches = Array(d.shuffledBatches(size: 4, using: &g1))
        XCTAssertEqual(batches.map(\.labels.count), [4, 4, 2])
        XCTAssertEqual(batches.flatMap(\.labels).sorted(), Array(0..<n))
        XCTAssertEqual(batches.flatMap { $0.images.scalars.map(Int.init) }, batches.flatMap(\.labels))
        XCTAssertEqual(Array(d.shuffledBatches(size: 4, using: &g2)).map(\.labels), batches.map(\.labels))
        XCTAssertEqual(d.shuffledBatches(size: 4, using: &g1, dropLast: true).count, 2)
    }

    func testMissingDatasetListsWhereItLooked() {
        assertSaneError("looked in /nonexistent/mnist") { try ImageDataset.load("mnist", split: .train, dataDirectory: "/nonexistent") }
        assertSaneError("unknown dataset") { try ImageDataset.load("imagenet", split: .train) }
    }

    func testCorruptGzipIsAnError() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sane-\(getpid())-bad.gz")
        defer { try? FileManager.default.removeItem(at: url) }
        let good = try Data(contentsOf: sharedDirectory().appendingPathComponent("data/digits8x8/labels-idx1-ubyte.gz"))
        try good.prefix(good.count / 2).write(to: url)
        assertSaneError("bad.gz") { try IDX.read(url) }
    }
}
