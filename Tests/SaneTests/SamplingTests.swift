import Foundation
import XCTest
@testable import Sane

/// Model generation (SANE-SPEC §7): KDE draws, decoding, subsampling on validation data only,
/// BatchNorm conditioning, and the fine-tuning protocol.
final class SamplingTests: XCTestCase {
    /// A `tiny` SANE trained for one epoch on a synthetic CNN zoo: poor samples, real mechanics.
    /// Built once on first use, then only read (`nonisolated(unsafe)`: the model is not `Sendable`;
    /// XCTest runs these tests one at a time).
    nonisolated(unsafe) static let encoder: Result<SANEEncoder, Error> = Result(catching: {
        let dir = SyntheticZoo.temporaryDirectory("sampling")
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo, models: 6, epochs: 2)
        var config = SANEConfig.preset("tiny")!
        config.epochs = 1; config.batchSize = 4
        let tokenizer = TokenizerConfig(tokenSize: config.tokenSize)
        let data = try WeightSpaceData(selections: [ZooSelection(path: zoo.path)], tokenizer: Tokenizer(tokenizer),
                                       standardize: true, align: true, permutations: 1, seed: 1)
        let run = RunFolder(path: dir.appendingPathComponent("run").path)
        try run.prepare(manifest: .init(config: config, zoos: [ZooSelection(path: zoo.path)], tokenizer: tokenizer),
                        preprocessing: data.preprocessing)
        try SANETrainer(run: run, config: config, data: data).train()
        return try SANEEncoder(run: run)
    })

    /// 28×28 images whose first pixel is the example's id / 10⁴, labels id % 10.
    static func identifiedImages(ids: Range<Int>) -> ImageDataset {
        var g = SeededGenerator(seed: 9)
        let images = Tensor(shape: [ids.count, 1, 28, 28]) { p in
            for (i, id) in ids.enumerated() {
                for j in 0..<784 { p[i * 784 + j] = g.uniformFloat() }
                p[i * 784] = Float(id) / 10_000
            }
        }
        return ImageDataset(images: images, labels: ids.map { $0 % 10 })
    }

    static func ids(_ d: ImageDataset) -> Set<Int> {
        Set((0..<d.count).map { Int((d.images.readPointer[$0 * 784] * 10_000).rounded()) })
    }

    let cnn = ZooNetworkConfiguration(architecture: .cnn)

    func prompts(_ count: Int) -> [StateDict] {
        (0..<count).map { ZooNetwork(ZooNetworkConfiguration(architecture: .cnn, seed: UInt64(100 + $0))).stateDict() }
    }

    // MARK: KDE

    func testKDEShapesAndDeterminismInBothModes() {
        var g = SeededGenerator(seed: 1)
        let anchors = (0..<3).map { _ in Tensor.normal([6, 4], using: &g) }                  // E × [N, d_z]
        let layers = [0, 0, 1, 1, 1, 2]                                                     // [N]
        for mode in SamplingSettings.Mode.allCases {
            var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7), c = SeededGenerator(seed: 8)
            let first = LatentKDE.draw(anchors: anchors, count: 5, bandwidth: 0.2, mode: mode, layers: layers, using: &a)
            let again = LatentKDE.draw(anchors: anchors, count: 5, bandwidth: 0.2, mode: mode, layers: layers, using: &b)
            let other = LatentKDE.draw(anchors: anchors, count: 5, bandwidth: 0.2, mode: mode, layers: layers, using: &c)
            XCTAssertEqual(first.count, 5)
            XCTAssertTrue(first.allSatisfy { $0.shape == [6, 4] })
            XCTAssertEqual(first.map(\.scalars), again.map(\.scalars), "\(mode): same seed, other samples")
            XCTAssertNotEqual(first.map(\.scalars), other.map(\.scalars), "\(mode): other seed, same samples")
            // Bandwidth 0: every token row is that token's row of some prompt; in sequence mode
            // all rows of a draw come from one prompt, in layer mode all rows of one layer.
            var z = SeededGenerator(seed: 3)
            var mixed = false
            for draw in LatentKDE.draw(anchors: anchors, count: 20, bandwidth: 0, mode: mode, layers: layers, using: &z) {
                let sources = (0..<6).map { n in
                    Set(anchors.indices.filter { Array(anchors[$0].scalars[(n * 4)..<(n * 4 + 4)]) == Array(draw.scalars[(n * 4)..<(n * 4 + 4)]) })
                }
                XCTAssertTrue(sources.allSatisfy { !$0.isEmpty }, "\(mode): a token is not a prompt token")
                if mode == .sequence { XCTAssertFalse(sources.reduce(Set(anchors.indices)) { $0.intersection($1) }.isEmpty) }
                if mode == .layer {
                    for l in Set(layers) {
                        let rows = layers.indices.filter { layers[$0] == l }
                        XCTAssertFalse(rows.reduce(Set(anchors.indices)) { $0.intersection(sources[$1]) }.isEmpty, "layer \(l) mixes prompts")
                    }
                    if sources.reduce(Set(anchors.indices), { $0.intersection($1) }).isEmpty { mixed = true }
                }
            }
            if mode == .layer { XCTAssertTrue(mixed, "20 layer-mode draws never combined two prompts") }
        }
        var p = SeededGenerator(seed: 4)
        let prior = LatentKDE.prior(count: 200, tokens: 6, dimensions: 4, standardDeviation: 10, using: &p)
        let values = prior.flatMap(\.scalars).map(Double.init)
        XCTAssertEqual(Table.meanAndStandardDeviation(values).std, 10, accuracy: 0.5)
    }

    func testBandwidthZeroReproducesTheDecodedPrompt() throws {
        let encoder = try Self.encoder.get()
        var settings = SamplingSettings()
        settings.bandwidth = 0
        let sampler = try ModelSampler(encoder: encoder, target: cnn, settings: settings)
        let prompt = prompts(1)[0]
        let latents = try sampler.embed([prompt])
        XCTAssertEqual(latents[0].shape, [48, encoder.model.config.latentDimensions])
        var g = SeededGenerator(seed: 5)
        let draw = LatentKDE.draw(anchors: latents, count: 1, bandwidth: 0, mode: .sequence, using: &g)[0]
        let decodedDraw = try sampler.decode(draw), decodedPrompt = try sampler.decode(latents[0])
        XCTAssertEqual(decodedDraw.keys, ZooNetwork(cnn.seeded(0)).stateDict().keys)
        for key in decodedPrompt.keys { XCTAssertEqual(decodedDraw[key]!.scalars, decodedPrompt[key]!.scalars, key) }
    }

    /// Scope `.layer`: each draw changes the latents of exactly one layer of one prompt;
    /// at bandwidth 0 a draw is that prompt's latents.
    func testLayerDrawsPerturbOneLayerOfOnePrompt() {
        var g = SeededGenerator(seed: 1)
        let anchors = (0..<3).map { _ in Tensor.normal([6, 4], using: &g) }                  // E × [N, d_z]
        let layers = [0, 0, 1, 1, 1, 2]
        var a = SeededGenerator(seed: 5), b = SeededGenerator(seed: 5)
        let draws = LatentKDE.drawLayer(anchors: anchors, count: 30, bandwidth: 0.3, layers: layers, using: &a)
        XCTAssertEqual(draws.map(\.latents.scalars), LatentKDE.drawLayer(anchors: anchors, count: 30, bandwidth: 0.3, layers: layers, using: &b).map(\.latents.scalars))
        XCTAssertEqual(Set(draws.map(\.layer)), [0, 1, 2], "every layer is drawn")
        for d in draws {
            XCTAssertEqual(d.latents.shape, [6, 4])
            for n in 0..<6 {
                let row = Array(d.latents.scalars[(n * 4)..<(n * 4 + 4)]), anchor = Array(anchors[d.anchor].scalars[(n * 4)..<(n * 4 + 4)])
                if layers[n] == d.layer { XCTAssertNotEqual(row, anchor) } else { XCTAssertEqual(row, anchor, "token \(n) outside layer \(d.layer) changed") }
            }
        }
        var z = SeededGenerator(seed: 5)
        for d in LatentKDE.drawLayer(anchors: anchors, count: 5, bandwidth: 0, layers: layers, using: &z) {
            XCTAssertEqual(d.latents.scalars, anchors[d.anchor].scalars)
        }
    }

    /// prompt-context samples are their prompt's tokens with one layer replaced by decoded tokens.
    func testPromptContextSamplesKeepThePromptOutsideOneLayer() throws {
        let encoder = try Self.encoder.get()
        var settings = SamplerVariant.promptContext.apply(to: SamplingSettings())
        settings.samples = 4; settings.keep = 4; settings.seed = 2; settings.bandwidth = 0.5
        let sampler = try ModelSampler(encoder: encoder, target: cnn, settings: settings)
        sampler.scorer = { _, _ in 0 }
        let data = SamplingData(training: Self.identifiedImages(ids: 0..<60), validationCount: 20, seed: 1)
        let prompts = prompts(2)
        let result = try sampler.run(prompts: prompts, data: data)
        let promptTokens = try sampler.tokenize(prompts).map(\.tokens.scalars)
        let layers = sampler.tokenLayers, d = result.kept[0].tokens.shape[1]
        XCTAssertEqual(result.kept.count, 4)
        for sample in result.kept {
            let t = sample.tokens.scalars
            let matches = promptTokens.map { p in Set(layers.indices.filter { n in Array(t[(n * d)..<(n * d + d)]) != Array(p[(n * d)..<(n * d + d)]) }.map { layers[$0] }) }
            XCTAssertTrue(matches.contains { $0.count == 1 }, "a sample differs from every prompt in more or fewer than one layer: \(matches)")
        }
        let again = try ModelSampler(encoder: encoder, target: cnn, settings: settings)
        again.scorer = sampler.scorer
        XCTAssertEqual(try again.run(prompts: prompts, data: data).kept.map(\.tokens.scalars), result.kept.map(\.tokens.scalars))
    }

    /// anchorCount fits the KDE to the prompts with the best validation accuracy only.
    func testAnchorCountKeepsTheBestPromptsOnValidation() throws {
        let encoder = try Self.encoder.get()
        var settings = SamplingSettings()
        settings.samples = 6; settings.keep = 6; settings.anchorCount = 2; settings.bandwidth = 0; settings.bandwidthUnit = .absolute
        let sampler = try ModelSampler(encoder: encoder, target: cnn, settings: settings)
        sampler.scorer = { net, _ in Double(net.stateDict()["module_list.11.bias"]!.scalars[0]) }
        let data = SamplingData(training: Self.identifiedImages(ids: 0..<60), validationCount: 20, seed: 1)
        let result = try sampler.run(prompts: prompts(4), data: data)
        XCTAssertEqual(result.anchors, ModelSampler.best(result.promptAccuracies, keep: 2))
        let anchorLatents = try sampler.embed(result.anchors.map { prompts(4)[$0] }).map(\.scalars)
        XCTAssertEqual(result.anchors.count, 2)
        // Bandwidth 0: every draw is the latents of one of the two anchors.
        for sample in result.kept { XCTAssertTrue(anchorLatents.contains(sample.latents.scalars), "draw \(sample.draw) is not an anchor") }
        settings.anchorCount = 0
        XCTAssertThrowsError(try settings.validate())
    }

    func testSamplerVariantsSetModeScopeAndAnchors() {
        var base = SamplingSettings()
        base.mode = .token
        XCTAssertEqual(SamplerVariant.kde.apply(to: base).mode, .token, "kde keeps --mode")
        XCTAssertEqual(SamplerVariant.kde.apply(to: base).drawScope, .model)
        XCTAssertEqual(SamplerVariant.kde30.apply(to: base).anchorCount, 30)
        XCTAssertEqual(SamplerVariant.kde30.apply(to: base).mode, .sequence)
        XCTAssertEqual(SamplerVariant.kdeLayer.apply(to: base).mode, .layer)
        XCTAssertEqual(SamplerVariant.promptContext.apply(to: base).drawScope, .layer)
        XCTAssertNil(SamplerVariant.promptContext.apply(to: base).anchorCount)
    }

    // MARK: subsampling, scoring data, decoded networks

    func testSubsamplingKeepsTheBestOnValidationDataOnly() throws {
        let encoder = try Self.encoder.get()
        XCTAssertEqual(ModelSampler.best([0.2, 0.9, 0.5, 0.9, 0.1], keep: 3), [1, 3, 2])

        let training = Self.identifiedImages(ids: 0..<300)
        let data = SamplingData(training: training, validationCount: 60, seed: 2)
        let validationIDs = Self.ids(data.validation)
        XCTAssertEqual(validationIDs.count, 60)
        XCTAssertTrue(validationIDs.isDisjoint(with: Self.ids(data.conditioning)))
        XCTAssertEqual(validationIDs.union(Self.ids(data.conditioning)), Set(0..<300))

        var settings = SamplingSettings()
        settings.samples = 6; settings.keep = 2; settings.rounds = 1; settings.seed = 3
        let sampler = try ModelSampler(encoder: encoder, target: cnn, settings: settings)
        var seen: [Set<Int>] = []
        sampler.scorer = { net, d in
            seen.append(Self.ids(d))
            return Double(net.stateDict()["module_list.11.bias"]!.scalars[0])          // any deterministic score
        }
        let result = try sampler.run(prompts: prompts(3), data: data)
        XCTAssertEqual(seen.count, 3 + 3 + 6 + 6, "prompts, decoded prompts, 2 rounds of draws")
        XCTAssertTrue(seen.allSatisfy { $0 == validationIDs }, "the scorer saw examples outside the validation split")
        XCTAssertEqual(result.rounds.count, 2)
        for round in result.rounds {
            XCTAssertEqual(round.kept, ModelSampler.best(round.validationAccuracies, keep: 2))
        }
        XCTAssertEqual(result.kept.map(\.validationAccuracy), result.rounds[1].kept.map { result.rounds[1].validationAccuracies[$0] })
        XCTAssertEqual(result.kept.map(\.round), [1, 1])

        // Same seed, same samples.
        let again = try ModelSampler(encoder: encoder, target: cnn, settings: settings)
        again.scorer = sampler.scorer
        let second = try again.run(prompts: prompts(3), data: data)
        XCTAssertEqual(second.kept.map { $0.stateDict["module_list.0.weight"]!.scalars }, result.kept.map { $0.stateDict["module_list.0.weight"]!.scalars })

        // Kept samples are working CNNs.
        let net = ZooNetwork(cnn.seeded(0))
        try net.load(result.kept[0].stateDict)
        let logits = net(Variable(data.validation.batch(Array(0..<4)).images)).value
        XCTAssertEqual(logits.shape, [4, 10])
        XCTAssertFalse(logits.hasNonFinite)
    }

    /// A relative bandwidth b draws exactly what the absolute bandwidth b · RMS(prompt latents) draws.
    func testRelativeBandwidthScalesWithThePromptLatents() throws {
        let encoder = try Self.encoder.get()
        let data = SamplingData(training: Self.identifiedImages(ids: 0..<100), validationCount: 20, seed: 2)
        func run(_ bandwidth: Float, relative: Bool) throws -> SamplingResult {
            var settings = SamplingSettings()
            settings.samples = 3; settings.keep = 3; settings.seed = 4
            settings.bandwidth = bandwidth; settings.relativeBandwidth = relative
            let sampler = try ModelSampler(encoder: encoder, target: cnn, settings: settings)
            sampler.scorer = { _, _ in 0 }
            return try sampler.run(prompts: prompts(2), data: data)
        }
        let relative = try run(0.5, relative: true)
        let absolute = try run(0.5 * Float(relative.promptLatentRMS), relative: false)
        XCTAssertGreaterThan(relative.promptLatentRMS, 0)
        XCTAssertEqual(relative.kept.map(\.latents.scalars), absolute.kept.map(\.latents.scalars))
        XCTAssertNotEqual(relative.kept.map(\.latents.scalars), try run(0.5, relative: false).kept.map(\.latents.scalars))
    }

    func testPriorSamplingNeedsNoPrompts() throws {
        var settings = SamplingSettings()
        settings.samples = 3; settings.keep = 1; settings.priorStandardDeviation = 10
        let sampler = try ModelSampler(encoder: try Self.encoder.get(), target: cnn, settings: settings)
        let result = try sampler.run(prompts: [], data: SamplingData(training: Self.identifiedImages(ids: 0..<50), validationCount: 20, seed: 0))
        XCTAssertEqual(result.kept.count, 1)
        XCTAssertEqual(result.rounds[0].validationAccuracies.count, 3)
        XCTAssertTrue(result.promptAccuracies.isEmpty)
    }

    func testBatchNormConditioningSetsRunningStatistics() {
        var g = SeededGenerator(seed: 1)
        let bn = BatchNorm2d(1)
        let net = Sequential([Conv2d(1, 1, kernelSize: 3, using: &g), bn])
        XCTAssertEqual(BatchNormConditioning.layers(in: net).count, 1)
        XCTAssertEqual(BatchNormConditioning.layers(in: ZooNetwork(cnn.seeded(0))).count, 0)
        let data = Self.identifiedImages(ids: 0..<64)
        let weightBefore = bn.weight.value.scalars
        XCTAssertEqual(BatchNormConditioning.condition(net, on: data, iterations: 30, batchSize: 16, using: &g), 1)
        XCTAssertFalse(net.isTraining)
        XCTAssertEqual(bn.weight.value.scalars, weightBefore)
        // After 30 updates at momentum 0.1 (0.9³⁰ ≈ 4 % of the start left) the running mean is near the data's mean output.
        let mean = Variable.withoutGradients { net.layers[0](Variable(data.images)).value.scalars }
        let m = mean.reduce(0, +) / Float(mean.count)
        XCTAssertEqual(bn.runningMean.value.scalars[0], m, accuracy: 0.1 * abs(m) + 1e-3)
    }

    /// The default pass count converges from the decoder's defaults (mean 0, variance 1): at most 1 %
    /// of the start is left, and the running mean lands near the data's. Ten passes (the old
    /// default) leave 35 % and miss by about a third of the mean.
    func testDefaultBatchNormConditioningForgetsTheDecoderDefaults() {
        let n = SamplingSettings().batchNormIterations
        XCTAssertLessThanOrEqual(pow(0.9, Double(n)), 0.01, "\(n) passes leave \(pow(0.9, Double(n))) of the start")
        func conditionedMean(iterations: Int) -> (running: Float, data: Float) {
            var g = SeededGenerator(seed: 3)
            let bn = BatchNorm2d(1)
            let net = Sequential([Conv2d(1, 1, kernelSize: 3, using: &g), bn])
            let data = Self.identifiedImages(ids: 0..<64)
            BatchNormConditioning.condition(net, on: data, iterations: iterations, batchSize: 16, using: &g)
            let out = Variable.withoutGradients { net.layers[0](Variable(data.images)).value.scalars }
            return (bn.runningMean.value.scalars[0], out.reduce(0, +) / Float(out.count))
        }
        let converged = conditionedMean(iterations: n)
        XCTAssertGreaterThan(abs(converged.data), 1e-2, "the check needs a mean away from 0")
        XCTAssertEqual(converged.running, converged.data, accuracy: 0.05 * abs(converged.data) + 1e-3)
        let old = conditionedMean(iterations: 10)
        XCTAssertGreaterThan(abs(old.running - old.data), 0.2 * abs(old.data), "control: 10 passes should still be far off")
    }

    // MARK: fine-tuning

    func testOneEpochOfFineTuningBeatsChanceOnDigits() throws {
        let root = ZooModelTests.shared.appendingPathComponent("data/digits8x8")
        guard FileManager.default.fileExists(atPath: root.path) else { throw XCTSkip("digits8x8 not found at \(root.path)") }
        let training = try NamedDataset.digits8x8.source(in: root).load(.train).subset(Array(0..<256)).resized(to: 28)
        let test = try NamedDataset.digits8x8.source(in: root).load(.test).subset(Array(0..<100)).resized(to: 28)
        var settings = FineTuningSettings()
        settings.epochs = 1; settings.batchSize = 8; settings.learningRate = 3e-3
        let initial = (0..<2).map { (name: "m\($0)", stateDict: ZooNetwork(cnn.seeded(UInt64($0))).stateDict()) }
        let group = try FineTuning.run(group: "scratch", initial: initial, target: cnn, training: training, test: test, settings: settings)
        XCTAssertEqual(group.curves.map(\.testAccuracy.count), [2, 2])
        for curve in group.curves { XCTAssertGreaterThan(curve.testAccuracy[1], 0.25, "\(curve.name): \(curve.testAccuracy)") }
        XCTAssertGreaterThan(group.ensembleAccuracy[1], 0.25)
        // One job gives the same curves as two.
        settings.jobs = 1
        let serial = try FineTuning.run(group: "scratch", initial: initial, target: cnn, training: training, test: test, settings: settings)
        XCTAssertEqual(serial, group)
    }

    func testEnsembleAccuracyAveragesSoftmaxOutputs() {
        // Two models, 2 examples, 2 classes: each alone gets one right; the mean gets both.
        let a = Tensor(shape: [2, 2], scalars: [0.9, 0.1, 0.6, 0.4])
        let b = Tensor(shape: [2, 2], scalars: [0.4, 0.6, 0.0, 1.0])
        XCTAssertEqual(FineTuning.accuracy(a, labels: [0, 1]), 0.5)
        XCTAssertEqual(FineTuning.accuracy(b, labels: [0, 1]), 0.5)
        XCTAssertEqual(FineTuning.ensembleAccuracy([a, b], labels: [0, 1]), 1.0)
    }
}
