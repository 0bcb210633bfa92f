import Foundation
import XCTest
@testable import Sane

/// Sampling a new architecture (SANE-SPEC §7; paper Table 15): a `tiny` SANE trained briefly on
/// ResNet-18s of width 2 samples ResNet-34s from ResNet-34 prompts, with the per-layer
/// standardization fitted on the prompts; errors for what cannot work are one line with a hint.
final class NewArchitectureSamplingTests: XCTestCase {
    static let width = 2
    static let r18 = ZooNetworkConfiguration(architecture: .resnet18, channelsIn: 3, outputs: 10, width: width)
    static let r34 = ZooNetworkConfiguration(architecture: .resnet34, channelsIn: 3, outputs: 10, width: width)

    /// A ResNet-18 zoo (4 models, epochs 0–1, weights drifting from their init towards a shared
    /// target) and a `tiny` SANE trained one epoch on it, its position tables sized in the config
    /// for ResNet-34 at the same width (542 tokens, 73 layers), as the sampling rule asks.
    static let runDirectory = SyntheticZoo.temporaryDirectory("newarch").appendingPathComponent("run")
    /// Built once on first use, then only read (`nonisolated(unsafe)`: the model is not `Sendable`;
    /// XCTest runs these tests one at a time).
    nonisolated(unsafe) static let encoder: Result<SANEEncoder, Error> = Result(catching: {
        let dir = runDirectory.deletingLastPathComponent()
        let zoo = dir.appendingPathComponent("zoo")
        var g = SeededGenerator(seed: 5)
        let target = ZooNetwork(r18.seeded(99)).stateDict()
        for m in 0..<4 {
            let trial = zoo.appendingPathComponent(String(format: "resnet18_%03d", m))
            try FileManager.default.createDirectory(at: trial, withIntermediateDirectories: true)
            let params = #"{"model::type": "Resnet18", "model::width": \#(width), "model::channels_in": 3, "model::o_dim": 10, "seed": \#(m), "dataset::name": "cifar10"}"#
            try params.write(to: trial.appendingPathComponent("params.json"), atomically: true, encoding: .utf8)
            let initial = ZooNetwork(r18.seeded(UInt64(m))).stateDict()
            var lines: [String] = []
            for e in 0...1 {
                var sd = StateDict()
                for (k, t) in initial.items {
                    let tt = target[k]!
                    let f = Float(e) * 0.5 + 0.1 * g.uniformFloat()
                    sd[k] = k.hasSuffix("num_batches_tracked") ? t : Tensor(hostShape: t.shape) { p in
                        t.withHostBuffer { a in tt.withHostBuffer { b in for i in p.indices { p[i] = (1 - f) * a[i] + f * b[i] } } }
                    }
                }
                let cdir = trial.appendingPathComponent(String(format: "checkpoint_%06d", e))
                try FileManager.default.createDirectory(at: cdir, withIntermediateDirectories: true)
                try Safetensors.write(sd, to: cdir.appendingPathComponent("checkpoints.safetensors"))
                lines.append(#"{"train_loss": 1.0, "train_acc": 0.2, "test_loss": 1.0, "test_acc": \#(0.1 + 0.1 * Double(e)), "training_iteration": \#(e)}"#)
            }
            try (lines.joined(separator: "\n") + "\n").write(to: trial.appendingPathComponent("result.json"), atomically: true, encoding: .utf8)
        }
        var config = SANEConfig.preset("tiny")!
        config.epochs = 1; config.batchSize = 4
        config.maxTokens = 600; config.maxLayers = 80
        let tokenizer = TokenizerConfig(tokenSize: config.tokenSize)
        let selection = ZooSelection(path: zoo.path)
        let data = try WeightSpaceData(selections: [selection], tokenizer: Tokenizer(tokenizer), standardize: true, align: true,
                                       permutations: 1, seed: 1)
        _ = config.growPositionTables(toFit: data.layouts)
        let run = RunFolder(path: dir.appendingPathComponent("run").path)
        try run.prepare(manifest: .init(config: config, zoos: [selection], tokenizer: tokenizer), preprocessing: data.preprocessing)
        try SANETrainer(run: run, config: config, data: data).train()
        return try SANEEncoder(run: run)
    })

    /// ResNet-34 prompts: freshly initialized networks of different seeds.
    func prompts(_ count: Int, _ configuration: ZooNetworkConfiguration = r34) -> [StateDict] {
        (0..<count).map { ZooNetwork(configuration.seeded(UInt64(200 + $0))).stateDict() }
    }

    func settings(seed: UInt64 = 3) -> SamplingSettings {
        var s = SamplingSettings()
        s.samples = 3; s.keep = 2; s.bandwidth = 0.2; s.seed = seed
        s.batchNormIterations = 2; s.batchNormBatchSize = 8
        return s
    }

    /// Random 32×32 RGB images, labels cycling through 10 classes.
    static let data: SamplingData = {
        var g = SeededGenerator(seed: 11)
        func images(_ n: Int) -> ImageDataset {
            ImageDataset(images: Tensor.normal([n, 3, 32, 32], using: &g), labels: (0..<n).map { $0 % 10 })
        }
        return SamplingData(validation: images(12), conditioning: images(16))
    }()

    func testResNet34SamplesFromResNet18SANEAreLoadableResNet34s() throws {
        let encoder = try Self.encoder.get()
        let prompts = prompts(3)
        let sampler = try ModelSampler(encoder: encoder, target: Self.r34, settings: settings(), prompts: prompts)
        let prep = sampler.targetPreprocessing
        XCTAssertFalse(prep.isTrainingArchitecture)
        XCTAssertEqual(prep.standardization, .prompts)
        XCTAssertEqual(prep.target.layers, 73)
        XCTAssertEqual(prep.training.layers, 41)
        XCTAssertEqual(prep.target.tokens, 266 * Self.width + 10)
        XCTAssertEqual(prep.training.tokens, 150 * Self.width + 10)
        XCTAssertEqual(prep.untrainedPositions, ["tokens 310–541", "layers 41–72"])
        // The standardization is the one fitted on the prompts, per ResNet-34 layer; alignment to the first prompt.
        let fitted = try LayerStandardization(fittingTo: prompts, tokenizer: prep.preprocessing.tokenizer)
        XCTAssertEqual(prep.preprocessing.standardization, fitted)
        XCTAssertTrue(fitted.layers.contains { $0.weightKey == "layer3.5.conv2.weight" })
        XCTAssertEqual(prep.preprocessing.reference["layer3.5.conv2.weight"]?.scalars, prompts[0]["layer3.5.conv2.weight"]?.scalars)
        XCTAssertTrue(prep.summary(targetName: "Resnet34", prompts: 3).contains("fitted on the 3 prompt(s)"))
        // Prompt latents at the full ResNet-34 length (haloed: longer than the 16-token window).
        let latents = try sampler.embed(prompts)
        XCTAssertEqual(latents.map(\.shape), Array(repeating: [542, encoder.model.config.latentDimensions], count: 3))

        let result = try sampler.run(prompts: prompts, data: Self.data)
        XCTAssertEqual(result.kept.count, 2)
        let reference = ZooNetwork(Self.r34).stateDict()
        let folder = SyntheticZoo.temporaryDirectory("newarch-samples")
        for (i, sample) in result.kept.enumerated() {
            XCTAssertEqual(sample.stateDict.keys, reference.keys)
            XCTAssertEqual(sample.stateDict.items.map(\.1.shape), reference.items.map(\.1.shape))
            XCTAssertTrue((0...1).contains(sample.validationAccuracy))
            // Written and read back, it is recognized as a ResNet-34 of width 2 and runs.
            let file = folder.appendingPathComponent("sample-\(i).safetensors")
            try Safetensors.write(sample.stateDict, to: file)
            let read = try StateDict(contentsOf: file)
            let identified = try XCTUnwrap(ZooArchitecture.identify(read))
            XCTAssertEqual(identified.architecture, .resnet34)
            XCTAssertEqual(identified.width, Self.width)
            let net = ZooNetwork(Self.r34)
            try net.load(read)
            net.train(false)
            XCTAssertEqual(net(Variable(Tensor(zeros: [2, 3, 32, 32]))).shape, [2, 10])
            // Decoded, not copied: the sample is none of the prompts.
            XCTAssertFalse(prompts.contains { $0["layer4.2.conv2.weight"]!.scalars == read["layer4.2.conv2.weight"]!.scalars })
        }
    }

    /// The weights a sample is written with are the network its validation accuracy was measured
    /// on: BatchNorm running statistics set by conditioning, not the decoder's defaults (0 and 1,
    /// with which a written ResNet sample scored at chance when loaded in evaluation mode).
    func testWrittenSampleIsTheModelThatWasScored() throws {
        let encoder = try Self.encoder.get()
        let prompts = prompts(3, Self.r18)
        let result = try ModelSampler(encoder: encoder, target: Self.r18, settings: settings(), prompts: prompts)
            .run(prompts: prompts, data: Self.data)
        let file = SyntheticZoo.temporaryDirectory("scored-sample").appendingPathComponent("sample.safetensors")
        for sample in result.kept {
            XCTAssertEqual(sample.evaluatedStateDict.keys, sample.stateDict.keys)
            XCTAssertFalse(sample.conditionedEntries.keys.isEmpty)
            XCTAssertTrue(sample.conditionedEntries.keys.allSatisfy { $0.hasSuffix(".running_mean") || $0.hasSuffix(".running_var") || $0.hasSuffix(".num_batches_tracked") },
                          "only what conditioning changed is kept: \(sample.conditionedEntries.keys.prefix(5))")
            XCTAssertNotEqual(sample.evaluatedStateDict["layer1.0.bn1.running_var"]?.scalars, sample.stateDict["layer1.0.bn1.running_var"]?.scalars,
                              "conditioning changes the running statistics")
            XCTAssertEqual(sample.evaluatedStateDict["layer1.0.conv1.weight"]?.scalars, sample.stateDict["layer1.0.conv1.weight"]?.scalars,
                           "learned weights are unchanged")
            try Safetensors.write(sample.evaluatedStateDict, to: file)
            let net = ZooNetwork(Self.r18)
            try net.load(try StateDict(contentsOf: file))
            net.train(false)
            XCTAssertEqual(ZooEvaluation.evaluate(net, on: Self.data.validation).accuracy, sample.validationAccuracy)
            // Control: the decoded weights with default statistics are a different network.
            let unconditioned = ZooNetwork(Self.r18)
            try unconditioned.load(sample.stateDict)
            unconditioned.train(false)
            let probe = Variable(Self.data.validation.images)
            XCTAssertNotEqual(unconditioned(probe).value.scalars, net(probe).value.scalars)
        }
    }

    /// The audit of ResNet samples (BatchNorm conditioning, re-alignment of noisy ResNets): the
    /// noise baseline's draws are calibrated to the samples' distance, every baseline records its
    /// kept models' distance ratio, and the same seed gives the same audit.
    func testResNetAuditCalibratesTheBaselinesToTheSamplesDistance() throws {
        let encoder = try Self.encoder.get()
        let prompts = prompts(3, Self.r18)
        let sampler = try ModelSampler(encoder: encoder, target: Self.r18, settings: settings(), prompts: prompts)
        let result = try sampler.run(prompts: prompts, data: Self.data)
        func audit() throws -> GenerationAudit {
            try GenerationAudit.run(sampler: sampler, prompts: prompts, kept: result.kept, training: [], data: Self.data, test: nil, seed: 1)
        }
        let a = try audit()
        XCTAssertGreaterThan(a.targetDistance, 0)
        let noise = try XCTUnwrap(a.groups[1].calibration)
        XCTAssertEqual(noise.distanceRatio, 1, accuracy: GenerationAudit.calibrationTolerance, "all noise draws at the samples' distance")
        for g in a.groups[1...2] {
            let mean = g.distanceToPrompt.reduce(0, +) / Double(g.distanceToPrompt.count)
            XCTAssertEqual(try XCTUnwrap(g.distanceRatio), mean / a.targetDistance, accuracy: 1e-12)
        }
        XCTAssertEqual(try SaneJSON.encode(try audit()), try SaneJSON.encode(a), "same seed, same audit")
        // Decoded models are measured as decoded (in the reference's frame), not re-aligned: the
        // samples' distances are the RMS between their decoded tokens and the aligned prompts'.
        let prep = sampler.targetPreprocessing.preprocessing
        let promptTokens = try prompts.map { try XCTUnwrap(try encoder.tokenize(trajectory: [$0], preprocessing: prep, seed: 1).first) }
        for (i, sample) in result.kept.enumerated() {
            let t = TokenSequence(tokens: sample.tokens, mask: promptTokens[0].mask, positions: promptTokens[0].positions)
            let nearest = promptTokens.map { GenerationAudit.distance(t, $0) }.min()!
            XCTAssertEqual(a.groups[0].distanceToPrompt[i], nearest, accuracy: 1e-9, "sample \(i)")
        }
    }

    func testNewArchitectureSamplingIsDeterministic() throws {
        let encoder = try Self.encoder.get()
        let prompts = prompts(2)
        func kept(seed: UInt64) throws -> [[Float]] {
            let sampler = try ModelSampler(encoder: encoder, target: Self.r34, settings: settings(seed: seed), prompts: prompts)
            return try sampler.run(prompts: prompts, data: Self.data).kept.map { s in s.stateDict.items.flatMap(\.1.scalars) }
        }
        let first = try kept(seed: 3)
        XCTAssertEqual(first, try kept(seed: 3), "same seed, other bytes")
        XCTAssertNotEqual(first, try kept(seed: 4), "other seed, same samples")
    }

    /// The training architecture keeps the run's preprocessing unless prompts are asked for.
    func testTrainingArchitectureKeepsTheRunsPreprocessing() throws {
        let encoder = try Self.encoder.get()
        let r18Prompts = prompts(2, Self.r18)
        let same = try ModelSampler(encoder: encoder, target: Self.r18, settings: settings(), prompts: r18Prompts).targetPreprocessing
        XCTAssertTrue(same.isTrainingArchitecture)
        XCTAssertEqual(same.standardization, .run)
        XCTAssertEqual(same.preprocessing.standardization, encoder.preprocessing[0].standardization)
        XCTAssertEqual(same.untrainedPositions, [])
        var s = settings()
        s.standardization = .prompts
        let refit = try ModelSampler(encoder: encoder, target: Self.r18, settings: s, prompts: r18Prompts).targetPreprocessing
        XCTAssertEqual(refit.standardization, .prompts)
        XCTAssertEqual(refit.preprocessing.standardization, try LayerStandardization(fittingTo: r18Prompts, tokenizer: refit.preprocessing.tokenizer))
        XCTAssertNotEqual(refit.preprocessing.standardization, encoder.preprocessing[0].standardization)
        // Aligned to the training reference, as in training.
        XCTAssertEqual(refit.preprocessing.reference.keys, encoder.preprocessing[0].reference.keys)
        XCTAssertEqual(refit.preprocessing.reference["fc.weight"]?.scalars, encoder.preprocessing[0].reference["fc.weight"]?.scalars)
    }

    func testErrorsNameWhatDoesNotFit() throws {
        let encoder = try Self.encoder.get()
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        func assertOneLine(_ text: String, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
            for part in parts { XCTAssertTrue(text.contains(part), "'\(part)' missing in: \(text)", file: file, line: line) }
        }
        // No prompts to fit the new architecture's standardization on (e.g. prior-only sampling).
        assertOneLine(message { _ = try ModelSampler(encoder: encoder, target: Self.r34, settings: self.settings()) },
                      contains: ["Resnet34", "not the architecture", "fitted on prompts", "--prompts"])
        // The run's standardization asked for a new architecture.
        var s = settings()
        s.standardization = .run
        assertOneLine(message { _ = try ModelSampler(encoder: encoder, target: Self.r34, settings: s, prompts: self.prompts(2)) },
                      contains: ["per layer", "--standardization prompts"])
        // A prompt of another architecture than the target.
        assertOneLine(message { _ = try ModelSampler(encoder: encoder, target: Self.r34, settings: self.settings(),
                                                     prompts: self.prompts(1) + self.prompts(1, Self.r18)) },
                      contains: ["prompt 2", "310 tokens", "not a model of the target Resnet34"])
        // Position tables sized for ResNet-18 only: the error names every table and the size it needs.
        var small = encoder.model.config
        small.maxTokens = 310; small.maxLayers = 41
        var g = SeededGenerator(seed: 1)
        let narrow = SANEEncoder(model: SANEModel(config: small, using: &g), preprocessing: encoder.preprocessing, manifest: encoder.manifest, halo: encoder.halo)
        XCTAssertNoThrow(try ModelSampler(encoder: narrow, target: Self.r18, settings: settings()))
        assertOneLine(message { _ = try ModelSampler(encoder: narrow, target: Self.r34, settings: self.settings(), prompts: self.prompts(2)) },
                      contains: ["token index 541 (maxTokens = 310)", "layer index 72 (maxLayers = 41)", "maxTokens ≥ 542", "maxLayers ≥ 73"])
        // Token size: SANE's input layer and the run's tokenizer disagree.
        var other = encoder.model.config
        other.tokenSize = 8
        let mismatched = SANEEncoder(model: SANEModel(config: other, using: &g), preprocessing: encoder.preprocessing, manifest: encoder.manifest, halo: encoder.halo)
        assertOneLine(message { _ = try ModelSampler(encoder: mismatched, target: Self.r34, settings: self.settings(), prompts: self.prompts(2)) },
                      contains: ["d_t = \(encoder.model.config.tokenSize)", "d_t = 8"])
    }
}

extension CLITests {
    /// `sane sample --prompts DIR` with ResNet-34 checkpoint files (params.json beside them, one
    /// input channel) on a SANE trained on 3-channel ResNet-18s: the output says what was fitted,
    /// samples.json records it, the samples are ResNet-34s; asking for the run's standardization
    /// fails before any data is read.
    func testSampleNewArchitectureFromCheckpointFiles() throws {
        _ = try NewArchitectureSamplingTests.encoder.get()
        let data = try EmbeddedData.materialize(in: scratch.appendingPathComponent("data"))
        let prompts = scratch.appendingPathComponent("prompts")
        try FileManager.default.createDirectory(at: prompts, withIntermediateDirectories: true)
        let r34 = ZooNetworkConfiguration(architecture: .resnet34, channelsIn: 1, outputs: 10, width: 2)
        for i in 0..<2 {
            try Safetensors.write(ZooNetwork(r34.seeded(UInt64(300 + i))).stateDict(), to: prompts.appendingPathComponent("p\(i).safetensors"))
        }
        try #"{"model::type": "Resnet34", "model::width": 2, "model::channels_in": 1, "model::o_dim": 10, "model::nlin": "relu"}"#
            .write(to: prompts.appendingPathComponent("params.json"), atomically: true, encoding: .utf8)
        let out = scratch.appendingPathComponent("samples")
        let r = try run(["sample", "--model", NewArchitectureSamplingTests.runDirectory.path, "--prompts", prompts.path, "--data", data.path,
                         "--dataset", "digits8x8", "--validation-size", "100", "--samples", "3", "--keep", "2", "--bandwidth", "0.2",
                         "--no-audit", "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("new architecture: target Resnet34 (542 tokens, 73 layers) vs SANE's training zoo (310 tokens, 41 layers)"), r.stderr)
        let manifest = try SampleManifest.read(folder: out)
        XCTAssertEqual(manifest.network.architecture, .resnet34)
        XCTAssertTrue(manifest.preprocessing?.contains("fitted on the 2 prompt(s)") == true, manifest.preprocessing ?? "nil")
        XCTAssertEqual(manifest.samples.count, 2)
        let sample = try StateDict(contentsOf: out.appendingPathComponent(manifest.samples[0].file))
        XCTAssertEqual(ZooArchitecture.identify(sample)?.architecture, .resnet34)
        XCTAssertEqual(sample["conv1.weight"]?.shape, [2, 1, 3, 3])
        // The run's standardization cannot serve another architecture: one line with the way out.
        let refused = try run(["sample", "--model", NewArchitectureSamplingTests.runDirectory.path, "--prompts", prompts.path, "--data", data.path,
                               "--dataset", "digits8x8", "--standardization", "run", "--validation-size", "100000",
                               "--out", scratch.appendingPathComponent("refused").path])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("--standardization prompts"), refused.stderr)
    }
}
