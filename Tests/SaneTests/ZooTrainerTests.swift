import Foundation
import XCTest
@testable import Sane

/// Zoo training: layout, determinism (byte-identical zoos), and resumption after an interruption.
final class ZooTrainerTests: ScratchFolderTestCase {
    /// 4 tiny models (adam/adamw × dropout 0/0.25) × 2 epochs on 512 MNIST images.
    func tinyConfiguration() throws -> ZooTrainingConfiguration {
        let data = ZooModelTests.shared.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: data.appendingPathComponent("mnist").path) else {
            throw XCTSkip("MNIST not found under \(data.path); this test needs /work/shared/data/mnist")
        }
        return try ZooTrainingConfiguration(json: JSONValue.parse("""
        {"dataset": "mnist", "data_dir": "\(data.path)", "architecture": "CNN", "epochs": 2, "seeds": [3],
         "optimizer": ["adam", "adamw"], "dropout": [0, 0.25], "lr": 3e-3, "batch_size": 32,
         "train_size": 512, "test_size": 300, "train_eval_size": 200, "validation_size": 100, "prefix": "tiny"}
        """))
    }

    /// Every file under `dir` (relative path → bytes).
    func files(_ dir: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey])!
        for case let url as URL in e where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            out[String(url.path.dropFirst(dir.path.count))] = try Data(contentsOf: url)
        }
        return out
    }

    func testTinyZooLayoutDeterminismAndResume() throws {
        let config = try tinyConfiguration()
        XCTAssertEqual(ZooTrainer.trials(config).count, 4)
        let a = scratch.appendingPathComponent("a"), b = scratch.appendingPathComponent("b")
        XCTAssertEqual(try ZooTrainer.train(config, output: a, jobs: 2), 4)

        // Layout: readable by Zoo, params keys as the shared zoos, result lines per epoch incl. 0.
        let zoo = try Zoo(directory: a)
        XCTAssertEqual(zoo.models.count, 4)
        let m = zoo.models[3]
        XCTAssertEqual(m.name, "tiny_00003_seed=3")
        XCTAssertEqual(m.epochs, [0, 1, 2])
        XCTAssertEqual(m.params.optimizer, "adamw")
        XCTAssertEqual(m.params.dropout, 0.25)
        XCTAssertEqual(m.params.batchSize, 32)
        XCTAssertNotNil(m.results[2]?.validationAccuracy)
        XCTAssertTrue(FileManager.default.fileExists(atPath: m.directory.appendingPathComponent("done").path))
        let net = try ZooModelFactory.make(params: m.params, stateDict: m.loadCheckpoint(epoch: 2))
        XCTAssertEqual(net.stateDict().keys.count, 10)
        XCTAssertGreaterThan(m.results[2]!.testAccuracy!, m.results[0]!.testAccuracy!, "training should help")
        // The recorded accuracy is reproducible from the written checkpoint.
        let test = ZooTrainer.testSubset(try ImageDataset.load("mnist", split: .test, dataDirectory: config.dataDirectory), count: 300)
        XCTAssertEqual(ZooEvaluation.evaluate(net, on: test).accuracy, m.results[2]!.testAccuracy!, accuracy: 1e-12)

        // Interrupted after 3 epochs with one job (model 1 done, model 2 partial), then resumed
        // with two jobs and sharding: byte-identical to the uninterrupted run.
        XCTAssertEqual(try ZooTrainer.train(config, output: b, jobs: 1, epochLimit: 3), 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: b.appendingPathComponent("tiny_00001_seed=3/done").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: b.appendingPathComponent("tiny_00001_seed=3/resume.safetensors").path))
        // The partial model continues at its epoch 2 (its epoch 1 is not trained again).
        let epochs = Epochs()
        try ZooTrainer.train(config, output: b, shard: (0, 2), jobs: 2)
        try ZooTrainer.train(config, output: b, shard: (1, 2), jobs: 2) { p in epochs.add(p.model, p.epoch) }
        XCTAssertEqual(epochs.of("tiny_00001_seed=3"), [2])
        let fa = try files(a), fb = try files(b)
        XCTAssertEqual(fa.keys.sorted(), fb.keys.sorted())
        for (k, v) in fa { XCTAssertEqual(v, fb[k], "\(k) differs between the uninterrupted and the resumed run") }
        // A finished zoo is skipped.
        XCTAssertEqual(try ZooTrainer.train(config, output: b), 0)
    }

    /// `sane zoo eval`'s re-evaluation (`ZooReevaluation`) reproduces the recorded test accuracy
    /// and loss of a Sane-trained zoo bit for bit: params.json records `test_size`, and the
    /// checkpoint is evaluated on that subset. Control (the old behaviour, which gave −0.39 to
    /// +0.54 points on the CIFAR-10 ResNet-18 zoo): the whole test split does not reproduce them.
    func testReevaluationReproducesTheRecordedTestNumbers() throws {
        var config = try tinyConfiguration()
        (config.optimizers, config.dropouts, config.epochs) = (["adam"], [0], 1)
        XCTAssertEqual(try ZooTrainer.train(config, output: scratch, jobs: 1), 1)
        let model = try XCTUnwrap(Zoo(directory: scratch).models.first)
        XCTAssertEqual(model.params.testSize, 300)
        let whole = try ImageDataset.load("mnist", split: .test, dataDirectory: config.dataDirectory)
        let recordedSet = ZooReevaluation.testSet(for: model.params, wholeSplit: whole)
        XCTAssertEqual(recordedSet.origin, .params)
        XCTAssertEqual(recordedSet.data.count, 300)
        XCTAssertEqual(recordedSet.describe(dataset: "mnist"),
                       "300 of the 10000 mnist test images (the first 300 of the seed-1 permutation, as zoo training's test_size; dataset::test_size in params.json)")
        var wholeDiffers = false
        for epoch in model.epochs {
            let row = try ZooReevaluation.evaluate(model, epoch: epoch, on: recordedSet)
            XCTAssertEqual(row.testImages, 300)
            XCTAssertEqual(row.computed.accuracy, try XCTUnwrap(row.recordedAccuracy), "epoch \(epoch)")
            XCTAssertEqual(row.computed.loss, try XCTUnwrap(row.recordedLoss), "epoch \(epoch)")
            XCTAssertEqual(row.accuracyDifference, 0)
            let old = try ZooReevaluation.evaluate(model, epoch: epoch, on: ZooReevaluation.TestSet(data: whole, splitCount: whole.count, origin: .whole))
            XCTAssertEqual(old.testImages, 10_000)
            if old.computed.accuracy != row.recordedAccuracy || old.computed.loss != row.recordedLoss { wholeDiffers = true }
        }
        XCTAssertTrue(wholeDiffers, "control: the whole test split should not reproduce numbers measured on 300 images")

        // A zoo written before params.json recorded test_size: the whole split by default, the
        // subset again with the override (`zoo eval --test-size 300`); an override ≥ the split = all.
        let paramsURL = model.directory.appendingPathComponent("params.json")
        let text = try String(contentsOf: paramsURL, encoding: .utf8)
        try text.replacingOccurrences(of: ",\n  \"dataset::test_size\": 300", with: "").write(to: paramsURL, atomically: true, encoding: .utf8)
        let legacy = try XCTUnwrap(Zoo(directory: scratch).models.first)
        XCTAssertNil(legacy.params.testSize)
        XCTAssertEqual(ZooReevaluation.testSet(for: legacy.params, wholeSplit: whole).data.count, 10_000)
        let overridden = ZooReevaluation.testSet(for: legacy.params, wholeSplit: whole, testSize: 300)
        XCTAssertEqual(overridden.origin, .option)
        let row = try ZooReevaluation.evaluate(legacy, epoch: 1, on: overridden)
        XCTAssertEqual(row.computed.accuracy, row.recordedAccuracy)
        XCTAssertEqual(ZooReevaluation.testSet(for: legacy.params, wholeSplit: whole, testSize: 20_000).data.count, 10_000)
    }

    func testConfigurationSampling() throws {
        var c = ZooTrainingConfiguration(dataset: "mnist", epochs: 1)
        c.activations = [.tanh, .relu]; c.seeds = [1, 2, 3]
        XCTAssertEqual(ZooTrainer.trials(c).map(\.seed), [1, 2, 3, 1, 2, 3])
        c.sampling = .random; c.models = 5; c.learningRates = [1e-3, 3e-3]
        let r = ZooTrainer.trials(c)
        XCTAssertEqual(r.map(\.seed), [1, 2, 3, 4, 5])
        XCTAssertEqual(r, ZooTrainer.trials(c))
        XCTAssertThrowsError(try ZooTrainingConfiguration(json: JSONValue.parse(#"{"dataset": "mnist", "epochs": 1, "lr_typo": 1}"#)))
    }
}

/// Epochs reported by a zoo-training progress callback, by model (thread-safe).
private final class Epochs: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String: [Int]] = [:]
    func add(_ model: String, _ epoch: Int) { lock.lock(); seen[model, default: []].append(epoch); lock.unlock() }
    func of(_ model: String) -> [Int] { lock.lock(); defer { lock.unlock() }; return seen[model] ?? [] }
}
