import XCTest
import Foundation
@testable import Sane

/// A synthetic zoo in the Model Zoos layout (safetensors checkpoints): `models` CNNs whose
/// weights drift from a random init towards a shared target over `epochs` epochs, with result
/// lines whose test_acc grows with the epoch. Enough structure for the trainer, embedding and
/// probe mechanics, written in milliseconds.
enum SyntheticZoo {
    static func write(to dir: URL, models: Int = 8, epochs: Int = 3, seed: UInt64 = 1) throws {
        var g = SeededGenerator(seed: seed)
        let target = ZooFixtures.random(ZooFixtures.cnn, std: 0.2, using: &g)
        for m in 0..<models {
            let trial = dir.appendingPathComponent(String(format: "synthetic_%03d", m))
            try FileManager.default.createDirectory(at: trial, withIntermediateDirectories: true)
            let params = #"{"model::type": "CNN", "model::nlin": "tanh", "model::channels_in": 1, "model::o_dim": 10, "seed": \#(m), "dataset::name": "mnist"}"#
            try params.write(to: trial.appendingPathComponent("params.json"), atomically: true, encoding: .utf8)
            let initial = ZooFixtures.random(ZooFixtures.cnn, std: 0.3, using: &g)
            var lines: [String] = []
            for e in 0...epochs {
                let f = Float(e) / Float(epochs)
                var sd = StateDict()
                for (k, t) in initial.items {
                    let tt = target[k]!
                    sd[k] = Tensor(shape: t.shape) { p in for i in 0..<t.count { p[i] = (1 - f) * t.readPointer[i] + f * tt.readPointer[i] } }
                }
                let cdir = trial.appendingPathComponent(String(format: "checkpoint_%06d", e))
                try FileManager.default.createDirectory(at: cdir, withIntermediateDirectories: true)
                try Safetensors.write(sd, to: cdir.appendingPathComponent("checkpoints.safetensors"))
                let acc = 0.1 + 0.8 * Double(f) + 0.01 * Double(m % 3)
                lines.append(#"{"train_loss": 1.0, "train_acc": \#(acc + 0.01), "test_loss": 1.0, "test_acc": \#(acc), "training_iteration": \#(e)}"#)
            }
            try (lines.joined(separator: "\n") + "\n").write(to: trial.appendingPathComponent("result.json"), atomically: true, encoding: .utf8)
        }
    }

    /// The first `count` models of the shared mnist-cnn-seed zoo, linked into a new zoo folder `zoo`
    /// (skips the test when the shared zoos are missing).
    @discardableResult
    static func linkSeedModels(_ count: Int, into zoo: URL) throws -> Zoo {
        let source = try Zoo(directory: try ProbeTests.sharedZoos().appendingPathComponent("mnist-cnn-seed"))
        try FileManager.default.createDirectory(at: zoo, withIntermediateDirectories: true)
        for model in source.models.prefix(count) {
            try FileManager.default.createSymbolicLink(at: zoo.appendingPathComponent(model.name), withDestinationURL: model.directory)
        }
        return source
    }

    /// A `tiny` SANE trained for one epoch on `selection` (aligned, standardized, `permutations`
    /// permuted copies, seed 1) into the run folder at `path`.
    @discardableResult
    static func trainTinyRun(on selection: ZooSelection, permutations: Int, at path: String) throws -> RunFolder {
        var config = SANEConfig.preset("tiny")!
        config.epochs = 1
        let tokenizer = TokenizerConfig(tokenSize: config.tokenSize)
        let data = try WeightSpaceData(selections: [selection], tokenizer: Tokenizer(tokenizer), standardize: true, align: true,
                                       permutations: permutations, seed: 1)
        let run = RunFolder(path: path)
        try run.prepare(manifest: .init(config: config, zoos: [selection], tokenizer: tokenizer), preprocessing: data.preprocessing)
        try SANETrainer(run: run, config: config, data: data).train()
        return run
    }

    static func temporaryDirectory(_ name: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sane-tests-\(name)-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: url)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

final class TrainerTests: XCTestCase {
    func tinyConfig(epochs: Int) -> SANEConfig {
        var c = SANEConfig.preset("tiny")!
        c.epochs = epochs; c.batchSize = 4; c.windowSize = 16
        return c
    }

    func data(zoo: URL, config: SANEConfig) throws -> WeightSpaceData {
        try WeightSpaceData(selections: [ZooSelection(path: zoo.path)], tokenizer: Tokenizer(TokenizerConfig(tokenSize: config.tokenSize)),
                            standardize: true, align: true, permutations: 2, seed: config.seed)
    }

    func trainer(zoo: URL, run: URL, config: SANEConfig) throws -> SANETrainer {
        let d = try data(zoo: zoo, config: config)
        let folder = RunFolder(path: run.path)
        try folder.prepare(manifest: .init(config: config, zoos: [ZooSelection(path: zoo.path)], tokenizer: TokenizerConfig(tokenSize: config.tokenSize)),
                           preprocessing: d.preprocessing)
        return try SANETrainer(run: folder, config: config, data: d)
    }

    /// A few epochs of `tiny` training lower the training loss.
    func testTrainingLowersLoss() throws {
        let dir = SyntheticZoo.temporaryDirectory("lowers")
        defer { try? FileManager.default.removeItem(at: dir) }
        try SyntheticZoo.write(to: dir.appendingPathComponent("zoo"))
        var config = tinyConfig(epochs: 8)
        config.learningRate = 3e-3
        config.windowsPerCheckpoint = 4
        let t = try trainer(zoo: dir.appendingPathComponent("zoo"), run: dir.appendingPathComponent("run"), config: config)
        try t.train()
        let losses = t.log.map(\.trainLoss)
        XCTAssertEqual(losses.count, 8)
        XCTAssertLessThan(losses.last!, losses.first! * 0.9, "loss did not fall: \(losses)")
        XCTAssertTrue(t.log.allSatisfy { $0.validationLoss.isFinite && $0.testSequenceR2 == nil }, "epoch logs hold no test numbers")
        XCTAssertTrue(t.testReconstruction().r2.isFinite)
    }

    /// Stopping after 2 of 4 epochs and resuming gives exactly the losses and weights of an
    /// uninterrupted 4-epoch run.
    func testResumeEqualsUninterrupted() throws {
        let dir = SyntheticZoo.temporaryDirectory("resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo)
        let config = tinyConfig(epochs: 4)

        let full = try trainer(zoo: zoo, run: dir.appendingPathComponent("full"), config: config)
        try full.train()

        let first = try trainer(zoo: zoo, run: dir.appendingPathComponent("split"), config: config)
        // Train two epochs only, as if killed right after epoch 2's checkpoint.
        try first.train(until: 2)
        XCTAssertEqual(try RunFolder(path: dir.appendingPathComponent("split").path).loadLog().count, 2)

        let resumed = try trainer(zoo: zoo, run: dir.appendingPathComponent("split"), config: config)
        XCTAssertEqual(resumed.log.count, 2)
        try resumed.train()
        XCTAssertEqual(resumed.log.map(\.trainLoss), full.log.map(\.trainLoss))
        XCTAssertEqual(resumed.log.map(\.validationLoss), full.log.map(\.validationLoss))
        let a = full.model.stateDict(), b = resumed.model.stateDict()
        for k in a.keys { XCTAssertEqual(a[k]!.scalars, b[k]!.scalars, "parameter \(k) differs after resume") }
    }

    /// The same seed gives the same training curve.
    func testDeterministic() throws {
        let dir = SyntheticZoo.temporaryDirectory("determinism")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo)
        let a = try trainer(zoo: zoo, run: dir.appendingPathComponent("a"), config: tinyConfig(epochs: 2))
        let b = try trainer(zoo: zoo, run: dir.appendingPathComponent("b"), config: tinyConfig(epochs: 2))
        try a.train(); try b.train()
        XCTAssertEqual(a.log.map(\.trainLoss), b.log.map(\.trainLoss))
    }

    /// A config file names a preset and overrides some fields; encoding round-trips.
    func testConfigFileOverridesPreset() throws {
        let c = try JSONDecoder().decode(SANEConfig.self, from: Data(#"{"preset": "tiny", "epochs": 7, "normalization": "lossNormalization"}"#.utf8))
        var expected = SANEConfig.preset("tiny")!
        expected.epochs = 7; expected.normalization = .lossNormalization
        XCTAssertEqual(c, expected)
        XCTAssertEqual(try JSONDecoder().decode(SANEConfig.self, from: JSONEncoder().encode(c)), c)
        XCTAssertThrowsError(try JSONDecoder().decode(SANEConfig.self, from: Data(#"{"preset": "huge"}"#.utf8)))
        // A misspelt key is an error, not silently the preset's value.
        XCTAssertThrowsError(try JSONDecoder().decode(SANEConfig.self, from: Data(#"{"preset": "tiny", "learning_rate": 1}"#.utf8))) { e in
            XCTAssertTrue("\(e)".contains("unknown key \"learning_rate\""), "\(e)")
        }
        // Every stored property is in `SANEConfig.fields` (so it reaches checkpoints), and a
        // configuration with every field changed round-trips.
        let properties = Mirror(reflecting: SANEConfig()).children.compactMap(\.label)
        XCTAssertEqual(properties.sorted(), SANEConfig.fields.map(\.key).sorted())
        var changed = SANEConfig.preset("tiny")!
        changed.version = 9; changed.tokenSize = 7; changed.modelDimensions = 12; changed.heads = 3; changed.encoderBlocks = 5
        changed.decoderBlocks = 6; changed.latentDimensions = 11; changed.windowSize = 13; changed.maxTokens = 99; changed.maxLayers = 17
        changed.maxRows = 19; changed.projectionDimensions = 23; changed.gamma = 0.5; changed.temperature = 0.7; changed.noiseStd = 0.3
        changed.learningRate = 0.25; changed.weightDecay = 0.125; changed.batchSize = 29; changed.epochs = 31
        changed.windowsPerCheckpoint = 37; changed.permutationsPerModel = 41; changed.normalization = .lossNormalization
        changed.onePerModelPerBatch = true; changed.erasingProbability = 0.375
        changed.align = false; changed.seed = 43
        let encoded = try JSONEncoder().encode(changed)
        XCTAssertEqual(try JSONDecoder().decode(SANEConfig.self, from: encoded), changed)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: encoded) as? [String: Any])?.count, SANEConfig.fields.count)
    }

    /// A finished run can be extended: only `epochs` may change; the manifest records the new
    /// length, the log continues from the old one, and the zoo path may be spelled differently.
    func testExtendingARun() throws {
        let dir = SyntheticZoo.temporaryDirectory("extend")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo, models: 4, epochs: 1)
        let run = dir.appendingPathComponent("run")
        try trainer(zoo: zoo, run: run, config: tinyConfig(epochs: 1)).train()
        let longer = try trainer(zoo: dir.appendingPathComponent("./zoo/../zoo"), run: run, config: tinyConfig(epochs: 3))
        XCTAssertEqual(longer.log.count, 1, "resumes after the finished epoch")
        try longer.train()
        XCTAssertEqual(longer.log.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(try RunFolder(path: run.path).loadManifest().config.epochs, 3)
    }

    /// A run folder made with other settings is refused with a clear error.
    func testIncompatibleRunFolder() throws {
        let dir = SyntheticZoo.temporaryDirectory("incompatible")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo, models: 4, epochs: 1)
        _ = try trainer(zoo: zoo, run: dir.appendingPathComponent("run"), config: tinyConfig(epochs: 1))
        var other = tinyConfig(epochs: 1); other.modelDimensions = 64
        XCTAssertThrowsError(try trainer(zoo: zoo, run: dir.appendingPathComponent("run"), config: other)) { e in
            XCTAssertTrue("\(e)".contains("other settings"), "\(e)")
        }
    }
}

