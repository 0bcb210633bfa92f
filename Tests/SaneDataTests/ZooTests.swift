import Foundation
import SaneData
import SaneTensor
import XCTest

final class ZooTests: XCTestCase {
    /// Reference values from CPython 3.11:
    ///   r = random.Random(42); [r.getrandbits(32) for _ in range(3)], r.random()
    ///   random.Random(2**40 + 7).getrandbits(32)
    ///   x = list(range(20)); random.Random(42).shuffle(x)
    func testPythonRandomMatchesCPython() {
        var r = PythonRandom(seed: 42)
        XCTAssertEqual((0..<3).map { _ in r.getrandbits(32) }, [2_746_317_213, 478_163_327, 107_420_369])
        XCTAssertEqual(r.random(), 0.7415504997598329)
        var big = PythonRandom(seed: 1 << 40 + 7)
        XCTAssertEqual(big.getrandbits(32), 2_635_837_658)
        var x = Array(0..<20)
        var s = PythonRandom(seed: 42)
        s.shuffle(&x)
        XCTAssertEqual(x, [19, 5, 14, 4, 9, 13, 15, 18, 6, 12, 17, 10, 1, 11, 2, 16, 7, 8, 0, 3])
    }

    /// Expected names from
    ///   n = sorted(os.listdir(zoo)); random.Random(42).shuffle(n); n[:3], n[int(.7*len(n)):][:2], n[-2:]
    func testSharedZoosAndReferenceSplits() throws {
        let shared = try sharedDirectory()
        let cases: [(String, Int, [Int], [String], [String], [String])] = [
            ("mnist-cnn-seed", 48, [33, 7, 8],
             ["mnist_seed_00030_seed=30", "mnist_seed_00024_seed=24", "mnist_seed_00025_seed=25"],
             ["mnist_seed_00039_seed=39", "mnist_seed_00046_seed=46"],
             ["mnist_seed_00008_seed=8", "mnist_seed_00041_seed=41"]),
            ("mnist-cnn-hyper", 58, [40, 8, 10],
             ["mnist_hyper_00147_seed=147", "mnist_hyper_00124_seed=124", "mnist_hyper_00155_seed=155"],
             ["mnist_hyper_00148_seed=148", "mnist_hyper_00158_seed=158"],
             ["mnist_hyper_00108_seed=108", "mnist_hyper_00143_seed=143"]),
        ]
        for (name, count, sizes, trainHead, valHead, testTail) in cases {
            let zoo = try Zoo(directory: shared.appendingPathComponent("zoos/\(name)"))
            XCTAssertEqual(zoo.models.count, count, name)
            XCTAssertEqual(zoo.models.map(\.name), zoo.models.map(\.name).sorted())
            for m in zoo.models {
                XCTAssertEqual(m.epochs, Array(0...10), m.name)
                XCTAssertEqual(Set(m.results.keys), Set(0...10), m.name)
                XCTAssertEqual(m.params.modelType, "CNN")
                XCTAssertEqual(m.params.channelsIn, 1)
            }
            let split = zoo.splitNames()
            XCTAssertEqual([split[.train]!.count, split[.validation]!.count, split[.test]!.count], sizes, name)
            XCTAssertEqual(Array(split[.train]!.prefix(3)), trainHead)
            XCTAssertEqual(Array(split[.validation]!.prefix(2)), valHead)
            XCTAssertEqual(Array(split[.test]!.suffix(2)), testTail)
            XCTAssertEqual(Set(split.values.joined()).count, count, "splits are disjoint and complete")
        }
    }

    func testLoadsWholeZooWithResultsByTrainingIteration() throws {
        let zoo = try Zoo(directory: try sharedDirectory().appendingPathComponent("zoos/mnist-cnn-seed"))
        let model = try XCTUnwrap(zoo.models.first { $0.name == "mnist_seed_00001_seed=1" })
        XCTAssertEqual(model.params.nonlinearity, "tanh")
        XCTAssertEqual(model.params.learningRate, 0.001)
        XCTAssertEqual(model.params.batchSize, 64)
        XCTAssertEqual(model.params.datasetName, "mnist")
        XCTAssertEqual(model.params.seed, 1)
        let last = try XCTUnwrap(model.results[10])
        XCTAssertEqual(last.testAccuracy, 0.9777)
        XCTAssertEqual(try XCTUnwrap(last.ggap), 0.9815 - 0.9777, accuracy: 1e-12)

        let start = Date()
        let loaded = try zoo.loadCheckpoints(of: zoo.models)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(loaded.checkpoints.count, 48 * 11)
        XCTAssertEqual(loaded.skipped, [])
        XCTAssertTrue(loaded.checkpoints.allSatisfy { $0.stateDict.parameterCount == 2464 && $0.result?.epoch == $0.epoch })
        print("loaded 528 checkpoints in \(String(format: "%.2f", seconds)) s")

        // A strict threshold skips everything and says why.
        let strict = try zoo.loadCheckpoints(of: Array(zoo.models.prefix(1)), epochs: [10], filter: CheckpointFilter(threshold: 1e-3))
        XCTAssertEqual(strict.checkpoints.count, 0)
        XCTAssertEqual(strict.skipped.count, 1)
        XCTAssertTrue(strict.skipped[0].contains("mnist_seed_00001_seed=1 epoch 10"))
    }

    func testEpochsComeFromTrainingIterationAndSafetensorsCheckpoints() throws {
        // A zoo without checkpoint_000000 whose result lines start at training_iteration 1.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sane-zoo-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        let trial = root.appendingPathComponent("trial_b")
        for e in [1, 2] { try FileManager.default.createDirectory(at: trial.appendingPathComponent(String(format: "checkpoint_%06d", e)), withIntermediateDirectories: true) }
        try Data(#"{"model::type": "CNN", "optim::lr": 3e-4}"#.utf8).write(to: trial.appendingPathComponent("params.json"))
        try Data("""
            {"train_acc": 0.5, "test_acc": 0.4, "training_iteration": 1}
            {"train_acc": 0.9, "test_acc": NaN, "training_iteration": 2}

            """.utf8).write(to: trial.appendingPathComponent("result.json"))
        let sd = StateDict([("w", Tensor(shape: [2], scalars: [1, 2]))])
        try sd.writeSafetensors(to: trial.appendingPathComponent("checkpoint_000001/checkpoints.safetensors"))
        try StateDict([("w", Tensor(shape: [2], scalars: [.nan, 2]))])
            .writeSafetensors(to: trial.appendingPathComponent("checkpoint_000002/checkpoints.safetensors"))

        let zoo = try Zoo(directory: root)
        let m = zoo.models[0]
        XCTAssertEqual(m.epochs, [1, 2])
        XCTAssertEqual(m.results[1]?.trainAccuracy, 0.5)
        XCTAssertEqual(m.results[1]!.ggap!, 0.1, accuracy: 1e-12)
        XCTAssertTrue(m.results[2]!.testAccuracy!.isNaN)
        XCTAssertEqual(m.params.learningRate, 3e-4)
        let loaded = try zoo.loadCheckpoints(of: zoo.models)
        XCTAssertEqual(loaded.checkpoints.map(\.epoch), [1])
        XCTAssertEqual(loaded.skipped.count, 1)
        assertSaneError("no checkpoint for epoch 0") { try m.loadCheckpoint(epoch: 0) }
    }

    func testMissingZooIsAnErrorWithHint() {
        assertSaneError("does not exist") { try Zoo(path: "/nonexistent/zoo") }
        assertSaneError("no models with checkpoints") { try Zoo(directory: FileManager.default.temporaryDirectory.appendingPathComponent("sane-empty-\(getpid())").creatingDirectory()) }
    }
}

private extension URL {
    func creatingDirectory() throws -> URL {
        try FileManager.default.createDirectory(at: self, withIntermediateDirectories: true)
        return self
    }
}
