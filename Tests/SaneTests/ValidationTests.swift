import Foundation
import XCTest
@testable import Sane

/// Bad configurations, settings and data end in one thrown error naming the field — never in a
/// precondition failure, an out-of-bounds read or a silently diverged run.
final class ValidationTests: XCTestCase {
    /// Asserts that `body` throws a SaneError whose message contains every one of `words`.
    func assertRefused(_ words: [String], _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        do {
            try body()
            XCTFail("accepted, expected an error mentioning \(words)", file: file, line: line)
        } catch let error as SaneError {
            for w in words { XCTAssertTrue(error.description.contains(w), "\"\(error)\" does not mention \(w)", file: file, line: line) }
        } catch {
            XCTFail("\(error) is not a SaneError", file: file, line: line)
        }
    }

    // MARK: SANEConfig

    func testPresetsAreValid() throws {
        for name in SANEConfig.presetNames { XCTAssertNoThrow(try SANEConfig.preset(name)!.validate(), name) }
    }

    func testEveryBadSANEConfigFieldIsRefused() {
        let cases: [(String, (inout SANEConfig) -> Void)] = [
            ("batchSize", { $0.batchSize = 0 }), ("batchSize", { $0.batchSize = -3 }),
            ("heads", { $0.heads = 0 }), ("heads = 3", { $0.modelDimensions = 128; $0.heads = 3 }),
            ("windowSize", { $0.windowSize = 0 }), ("tokenSize", { $0.tokenSize = 0 }), ("tokenSize", { $0.tokenSize = -1 }),
            ("latentDimensions", { $0.latentDimensions = 0 }), ("modelDimensions", { $0.modelDimensions = -128 }),
            ("even", { $0.modelDimensions = 129; $0.heads = 3 }),
            ("maxLayers", { $0.maxLayers = 0 }), ("maxRows", { $0.maxRows = -1 }), ("maxTokens", { $0.maxTokens = 0 }),
            ("encoderBlocks", { $0.encoderBlocks = -1 }), ("projectionDimensions", { $0.projectionDimensions = 0 }),
            ("windowsPerCheckpoint", { $0.windowsPerCheckpoint = -1 }), ("erasingProbability", { $0.erasingProbability = 1.5 }),
            ("learningRate", { $0.learningRate = -1 }), ("learningRate", { $0.learningRate = 0 }),
            ("learningRate", { $0.learningRate = .nan }), ("learningRate", { $0.learningRate = .infinity }),
            ("epochs", { $0.epochs = 0 }), ("epochs", { $0.epochs = -1 }), ("epochs", { $0.epochs = Int.max }),
            ("gamma", { $0.gamma = 1.5 }), ("temperature", { $0.temperature = 0 }), ("noiseStd", { $0.noiseStd = -0.1 }),
            ("weightDecay", { $0.weightDecay = .nan }), ("permutationsPerModel", { $0.permutationsPerModel = -1 }),
            ("version", { $0.version = 2 }),
            ("batchSize × windowSize", { $0.batchSize = 1 << 20; $0.windowSize = 1 << 20 }),
        ]
        for (field, mutate) in cases {
            var c = SANEConfig.preset("cnn-cpu")!
            mutate(&c)
            assertRefused([field]) { try c.validate() }
        }
    }

    /// Position tables too small for the zoo's layers or rows are refused when the trainer is
    /// built (they used to end in a precondition failure in the first forward pass).
    func testPositionTablesTooSmallForTheZooAreRefused() throws {
        let dir = SyntheticZoo.temporaryDirectory("validation-positions")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo, models: 4, epochs: 1)
        for (field, mutate) in [("maxLayers", { (c: inout SANEConfig) in c.maxLayers = 1 }), ("maxRows", { $0.maxRows = 2 })] {
            var config = SANEConfig.preset("tiny")!
            config.epochs = 1; config.batchSize = 4
            mutate(&config)
            let tokenizer = TokenizerConfig(tokenSize: config.tokenSize)
            let data = try WeightSpaceData(selections: [ZooSelection(path: zoo.path)], tokenizer: Tokenizer(tokenizer),
                                           standardize: true, align: false, permutations: 1, seed: 1)
            let run = RunFolder(path: dir.appendingPathComponent("run-\(field)").path)
            try run.prepare(manifest: .init(config: config, zoos: [ZooSelection(path: zoo.path)], tokenizer: tokenizer), preprocessing: data.preprocessing)
            assertRefused([field, "too small"]) { _ = try SANETrainer(run: run, config: config, data: data) }
        }
    }

    // MARK: divergence

    func testDivergenceRule() throws {
        var guardian = DivergenceGuard(subject: "test", learningRate: 10, floor: 1)
        try guardian.check(loss: 2, epoch: 1, batch: 1)                 // the reference
        try guardian.check(loss: 1999, epoch: 1, batch: 2)
        assertRefused(["epoch 1, batch 3", "lower the learning rate", "10"]) { try guardian.check(loss: 2001, epoch: 1, batch: 3) }
        assertRefused(["nan"]) { try guardian.check(loss: .nan, epoch: 1, batch: 4) }
        assertRefused(["inf"]) { try guardian.check(loss: .infinity, epoch: 1, batch: 4) }
        // After an epoch the lowest epoch mean is the reference, but never below the floor: a
        // run that fits its data to 1e-4 is not stopped by a batch at 0.5.
        var fitted = DivergenceGuard(subject: "zoo model", learningRate: 1e-3, floor: log(10.0), epochLosses: [0.3, 1e-4])
        XCTAssertEqual(fitted.reference, 1e-4)
        try fitted.check(loss: 0.5, epoch: 3, batch: 1)
        try fitted.check(loss: 2000, epoch: 3, batch: 2)
        assertRefused(["zoo model"]) { try fitted.check(loss: 2400, epoch: 3, batch: 3) }
        fitted.finished(epochLoss: .nan)
        XCTAssertEqual(fitted.reference, 1e-4)
        let bad = StateDict([("w", Tensor(shape: [3], scalars: [1, .nan, .infinity]))])
        assertRefused(["2 of 3", "w", "epoch 4"]) { try guardian.checkFinite([("the optimizer state's", bad)], epoch: 4) }
    }

    func tinyRun(_ dir: URL, learningRate: Float = 1e-3) throws -> (config: SANEConfig, data: WeightSpaceData, run: RunFolder) {
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo, models: 6, epochs: 2)
        var config = SANEConfig.preset("tiny")!
        config.epochs = 3; config.batchSize = 4; config.learningRate = learningRate
        let tokenizer = TokenizerConfig(tokenSize: config.tokenSize)
        let data = try WeightSpaceData(selections: [ZooSelection(path: zoo.path)], tokenizer: Tokenizer(tokenizer),
                                       standardize: true, align: false, permutations: 1, seed: 1)
        let run = RunFolder(path: dir.appendingPathComponent("run").path)
        try run.prepare(manifest: .init(config: config, zoos: [ZooSelection(path: zoo.path)], tokenizer: tokenizer), preprocessing: data.preprocessing)
        return (config, data, run)
    }

    /// A learning rate of 10 used to finish with loss ~1e26 and exit 0; now the first exploding
    /// batch stops the run and nothing is saved.
    func testHugeLearningRateStopsPretraining() throws {
        let dir = SyntheticZoo.temporaryDirectory("validation-lr")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (config, data, run) = try tinyRun(dir, learningRate: 10)
        let trainer = try SANETrainer(run: run, config: config, data: data)
        // The loss is still finite when it explodes: the old NaN-only check let it run on.
        assertRefused(["diverged at epoch 1", "exceeds", "1000×", "learning rate (now 10)"]) { try trainer.train() }
        XCTAssertNil(try run.loadTrainingState(), "a diverged epoch must not be saved")
    }

    /// A loss explosion or non-finite optimizer state after good epochs stops the run and keeps
    /// the last good checkpoint untouched.
    func testDivergenceKeepsTheLastGoodCheckpoint() throws {
        let dir = SyntheticZoo.temporaryDirectory("validation-keep")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (config, data, run) = try tinyRun(dir)
        try SANETrainer(run: run, config: config, data: data).train(until: 1)
        let good = try XCTUnwrap(run.loadTrainingState())
        XCTAssertEqual(good.state.completedEpochs, 1)

        // Weights blown up: the first batch's loss explodes.
        let exploded = try SANETrainer(run: run, config: config, data: data)
        for (_, p) in exploded.model.namedParameters() { p.value = Tensor(shape: p.value.shape, repeating: 1e15) }
        assertRefused(["diverged at epoch 2, batch 1"]) { try exploded.train() }

        // Optimizer second moments at Inf: the loss stays finite, the epoch-end check refuses.
        let overflowed = try SANETrainer(run: run, config: config, data: data)
        var moments = overflowed.optimizer.stateDict()
        let key = try XCTUnwrap(moments.keys.first { $0.hasSuffix(".exp_avg_sq") })
        moments[key] = Tensor(shape: moments[key]!.shape, repeating: .infinity)
        try overflowed.optimizer.load(moments)
        assertRefused(["diverged in epoch 2", "optimizer state"]) { try overflowed.train() }

        let kept = try XCTUnwrap(run.loadTrainingState())
        XCTAssertEqual(kept.state.completedEpochs, 1)
        XCTAssertEqual(kept.state.log.count, 1)
        for (k, t) in kept.model.items { XCTAssertEqual(t.scalars, good.model[k]!.scalars, "checkpoint \(k) changed") }
    }

    // MARK: zoo training

    func zooConfig(_ extra: String) throws -> ZooTrainingConfiguration {
        try ZooTrainingConfiguration(json: JSONValue.parse(#"{"dataset": "mnist", "epochs": 1"# + extra + "}"))
    }

    func testBadZooConfigurationsAreRefused() throws {
        XCTAssertNoThrow(try zooConfig(#", "train_size": 10, "test_size": 10"#))
        for (key, json) in [("train_size", #", "train_size": -5"#), ("test_size", #", "test_size": 0"#), ("outputs", #", "outputs": 0"#),
                            ("validation_size", #", "validation_size": -1"#), ("channels_in", #", "channels_in": 0"#),
                            ("lr", #", "lr": -1"#), ("lr", #", "lr": [1e-3, 0]"#), ("weight_decay", #", "weight_decay": -1"#),
                            ("momentum", #", "momentum": 2"#), ("train_eval_size", #", "train_eval_size": 0"#), ("models", #", "models": 0"#)] {
            assertRefused([key]) { _ = try zooConfig(json) }
        }
        assertRefused(["epochs"]) { _ = try ZooTrainingConfiguration(json: JSONValue.parse(#"{"dataset": "mnist", "epochs": 0}"#)) }
        assertRefused(["shard"]) { try ZooTrainer.train(ZooTrainingConfiguration(dataset: "mnist", epochs: 1), output: URL(fileURLWithPath: "/nonexistent"), shard: (2, 2)) }
    }

    func testZooConfigurationMustMatchTheData() throws {
        let data = SamplingTests.identifiedImages(ids: 0..<40)                       // 1 channel, labels 0…9
        var c = ZooTrainingConfiguration(dataset: "mnist", epochs: 1)
        XCTAssertNoThrow(try c.validate(train: data, test: data))
        c.outputs = 5
        assertRefused(["outputs", "5", "10 classes"]) { try c.validate(train: data, test: data) }
        c.outputs = 12
        assertRefused(["outputs", "12", "10 classes"]) { try c.validate(train: data, test: data) }
        c.outputs = 10; c.channelsIn = 3
        assertRefused(["channels_in", "3"]) { try c.validate(train: data, test: data) }
        c.channelsIn = nil
        assertRefused(["no images"]) { try c.validate(train: data.subset([]), test: data) }
    }

    /// A zoo model whose loss explodes stops the run with the model, epoch and learning rate named
    /// instead of writing NaN checkpoints; the model is not marked done.
    func testDivergingZooModelStopsTheRun() throws {
        let root = ZooModelTests.shared.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent("mnist").path) else { throw XCTSkip("MNIST not found under \(root.path)") }
        let out = SyntheticZoo.temporaryDirectory("validation-zoo-lr")
        defer { try? FileManager.default.removeItem(at: out) }
        let config = try ZooTrainingConfiguration(json: JSONValue.parse("""
            {"dataset": "mnist", "data_dir": "\(root.path)", "epochs": 2, "lr": 1e4, "batch_size": 32,
             "train_size": 256, "test_size": 50, "train_eval_size": 50, "prefix": "diverge"}
            """))
        assertRefused(["model diverge_00000_seed=1 diverged", "10000"]) { try ZooTrainer.train(config, output: out, jobs: 1) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("diverge_00000_seed=1/done").path))
    }

    // MARK: sampling and fine-tuning

    func testBadSamplingAndFineTuningSettingsAreRefused() {
        for (name, mutate) in [("--bandwidth", { (s: inout SamplingSettings) in s.bandwidth = .infinity }), ("--bandwidth", { $0.bandwidth = .nan }),
                               ("--bandwidth", { $0.bandwidth = -1 }), ("--prior-std", { $0.priorStandardDeviation = .infinity }),
                               ("--samples", { $0.samples = 0 }), ("--keep", { $0.keep = 60 }), ("--rounds", { $0.rounds = -1 }),
                               ("--rounds", { $0.rounds = Int.max })] {
            var s = SamplingSettings()
            mutate(&s)
            assertRefused([name]) { try s.validate() }
        }
        for (name, mutate) in [("--epochs", { (s: inout FineTuningSettings) in s.epochs = -1 }), ("--epochs", { $0.epochs = Int.max }),
                               ("--lr", { $0.learningRate = .nan }), ("--batch-size", { $0.batchSize = 0 }), ("--jobs", { $0.jobs = 0 })] {
            var s = FineTuningSettings()
            mutate(&s)
            assertRefused([name]) { try s.validate() }
        }
    }

    /// A prompt with NaN weights, and a SANE whose decoder yields NaN, are refused instead of
    /// producing NaN samples (written with exit 0 before).
    func testNonFiniteSamplesAreRefused() throws {
        let encoder = try SamplingTests.encoder.get()
        var settings = SamplingSettings()
        settings.samples = 2; settings.keep = 1
        let cnn = ZooNetworkConfiguration(architecture: .cnn)
        let data = SamplingData(training: SamplingTests.identifiedImages(ids: 0..<50), validationCount: 20, seed: 0)
        var prompt = ZooNetwork(cnn.seeded(1)).stateDict()
        let good = prompt
        let key = prompt.keys[0]
        prompt[key] = Tensor(shape: prompt[key]!.shape, repeating: .nan)
        assertRefused(["prompt 1", "NaN"]) { _ = try ModelSampler(encoder: encoder, target: cnn, settings: settings).run(prompts: [prompt], data: data) }

        // The same trained run as `encoder` (SamplingTests.encoder trains it into this folder).
        let runPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("sane-tests-sampling-\(ProcessInfo.processInfo.processIdentifier)/run").path
        let broken = try SANEEncoder(run: RunFolder(path: runPath))
        for (name, p) in broken.model.namedParameters() where name.hasPrefix("decoder") {
            p.value = Tensor(shape: p.value.shape, repeating: .nan)
        }
        assertRefused(["decoded weights", "NaN", "--bandwidth"]) {
            _ = try ModelSampler(encoder: broken, target: cnn, settings: settings).run(prompts: [good], data: data)
        }
    }

    /// Labels beyond the network's classes (read out of bounds before) and NaN models are refused.
    func testFineTuningRefusesBadLabelsAndNonFiniteModels() throws {
        let cnn = ZooNetworkConfiguration(architecture: .cnn)
        let model = (name: "m", stateDict: ZooNetwork(cnn.seeded(0)).stateDict())
        var settings = FineTuningSettings()
        settings.epochs = 1; settings.jobs = 1
        let data = SamplingTests.identifiedImages(ids: 0..<20)
        var bad = data
        bad.labels[3] = 12
        assertRefused(["label 12", "10 classes"]) {
            _ = try FineTuning.run(group: "g", initial: [model], target: cnn, training: bad, test: data, settings: settings)
        }
        assertRefused(["test data", "no images"]) {
            _ = try FineTuning.run(group: "g", initial: [model], target: cnn, training: data, test: data.subset([]), settings: settings)
        }
        var nan = model
        nan.stateDict[nan.stateDict.keys[0]] = Tensor(shape: model.stateDict[model.stateDict.keys[0]]!.shape, repeating: .nan)
        assertRefused(["model m", "NaN"]) {
            _ = try FineTuning.run(group: "g", initial: [nan], target: cnn, training: data, test: data, settings: settings)
        }
    }
}
