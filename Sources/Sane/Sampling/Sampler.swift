import Foundation
import SaneData
import SaneNN
import SaneTensor

// Generating models with a trained SANE (SANE-SPEC §7; Schürholt et al., ICML 2024, §3.3):
//
//   prompts ──tokenize, encode (haloed)──▶ z^e ──KDE draw──▶ z ──decode (haloed)──▶ T̂ ──de-standardize,
//   de-tokenize──▶ state dict ──BatchNorm conditioning──▶ network ──score on validation──▶ keep best m
//
// Shape legend: E prompts (or kept samples when bootstrapping), k draws, N tokens, d_z latent
// width, d_t token size.

/// The settings of one sampling run; every default is the paper's.
public struct SamplingSettings: Codable, Equatable, Sendable {
    /// How a draw picks its prompt (§7.2).
    public enum Mode: String, Codable, CaseIterable, Sendable {
        /// One prompt index e for the whole sequence (what the reference code effectively does).
        case sequence
        /// An independent prompt index per token.
        case token
        /// An independent prompt index per layer (the tokens of one layer share it): a
        /// layer-wise crossover of the aligned prompts, with KDE noise.
        case layer
    }

    /// Which tokens a draw changes.
    public enum Scope: String, Codable, CaseIterable, Sendable {
        /// Every token is drawn and decoded (the paper, §7.2–3).
        case model
        /// One layer per draw: prompt e and layer l uniform; only l's latents get the KDE noise,
        /// the decoder sees the prompt's own latents as context for every other token, and the
        /// sample is prompt e (aligned) with layer l replaced by its decoded weights.
        case layer
    }

    /// k: samples drawn (and scored) per round.
    public var samples = 50
    /// m: samples kept per round (subsampling by validation accuracy).
    public var keep = 10
    /// r: bootstrapping rounds after the first; each uses the previous round's kept latents as prompts.
    public var rounds = 0
    /// The unit of `bandwidth`.
    public enum BandwidthUnit: String, Codable, CaseIterable, Sendable {
        /// h as given (the paper's 0.2 assumes its model's latent scale).
        case absolute
        /// h = bandwidth · √(mean z²) of the prompt latents.
        case rms
        /// Per latent dimension j: h_j = bandwidth · s_j, s_j = √(mean over tokens n of the
        /// variance over prompts of z^e_{n,j}) — the spread of the data the KDE is fitted to,
        /// as in Scott's and Silverman's rules. Needs ≥ 2 prompts.
        case spread
    }

    /// h: KDE bandwidth in `z_n = z^e_n + h·ε_n`, in units of `unit`.
    public var bandwidth: Float = 0.2
    /// Legacy form of `bandwidthUnit == .rms`; read only when `bandwidthUnit` is nil (files
    /// written before it existed).
    public var relativeBandwidth: Bool?
    /// nil: `.rms` if `relativeBandwidth`, else `.absolute`.
    public var bandwidthUnit: BandwidthUnit?
    /// The unit in effect.
    public var unit: BandwidthUnit { bandwidthUnit ?? (relativeBandwidth == true ? .rms : .absolute) }
    public var mode = Mode.sequence
    /// nil: `.model` (files written before it existed).
    public var scope: Scope?
    /// The scope in effect.
    public var drawScope: Scope { scope ?? .model }
    /// KDE anchors: the `anchorCount` prompts with the highest validation accuracy (the paper's
    /// KDE30 fits the KDE to the top 30 models of the zoo); nil: every prompt.
    public var anchorCount: Int?
    /// σ of the Gaussian prior z ~ N(0, σ²I) that replaces the prompts in the first round; nil = prompts.
    public var priorStandardDeviation: Float?
    /// Forward passes in training mode that set BatchNorm running statistics (no-op without BatchNorm).
    public var batchNormIterations = BatchNormConditioning.defaultIterations
    public var batchNormBatchSize = 64
    public var seed: UInt64 = 0
    /// Where the per-layer standardization comes from (`TargetPreprocessing`); nil = `.auto`
    /// (the run's for its training architecture, fitted on the prompts for a new one).
    public var standardization: TargetPreprocessing.Standardization?

    public init() {}
}

/// The target task's data for sampling: a validation split carved from the **training** data
/// scores the samples (§7.5), the rest of the training data conditions BatchNorm (§7.4). The test
/// split never enters sampling.
public struct SamplingData: Sendable {
    public var validation: ImageDataset
    public var conditioning: ImageDataset

    public init(validation: ImageDataset, conditioning: ImageDataset) {
        self.validation = validation; self.conditioning = conditioning
    }

    /// The first `validationCount` examples of a seeded permutation of `training` are validation,
    /// the others conditioning data.
    public init(training: ImageDataset, validationCount: Int, seed: UInt64) {
        precondition(validationCount > 0 && validationCount < training.count,
                     "validation split of \(validationCount) examples needs a training set larger than that (has \(training.count))")
        var g = SeededGenerator(seed: seed)
        let order = g.permutation(training.count)
        self.init(validation: training.subset(Array(order[..<validationCount])),
                  conditioning: training.subset(Array(order[validationCount...])))
    }
}

/// Kernel density estimate over prompt latents, one Gaussian per prompt and token (§7.2), and
/// the Gaussian prior.
public enum LatentKDE {
    /// k latent sequences `z_n = z^{e}_n + h·ε_n`, ε_n ~ N(0, I), e uniform over the prompts —
    /// drawn once per sequence (`.sequence`), once per token (`.token`) or once per layer (`.layer`).
    /// - Parameters:
    ///   - anchors: E prompt latents, each [N, d_z].
    ///   - scale: per latent dimension, a factor on h ([d_z]; nil = 1).
    ///   - layers: the layer of each token ([N]; `.layer` mode needs it, others ignore it).
    /// - Returns: k latents, each [N, d_z].
    public static func draw(anchors: [Tensor], count k: Int, bandwidth h: Float, scale: [Float]? = nil, mode: SamplingSettings.Mode,
                            layers: [Int]? = nil, using g: inout SeededGenerator) -> [Tensor] {
        let (shape, hs, values) = checked(anchors, bandwidth: h, scale: scale)
        let (n, d) = (shape[0], shape[1])
        precondition(mode != .layer || layers?.count == n, "one layer index per token for mode layer")
        return (0..<k).map { _ in
            var e = g.int(below: anchors.count)
            var layerAnchor: [Int: Int] = [:]
            return Tensor(hostShape: shape) { z in                                     // [N, d_z]
                for token in 0..<n {
                    switch mode {
                    case .sequence: break
                    case .token: e = g.int(below: anchors.count)
                    case .layer:
                        let l = layers![token]
                        if let known = layerAnchor[l] { e = known } else { e = g.int(below: anchors.count); layerAnchor[l] = e }
                    }
                    for j in 0..<d { z[token * d + j] = values[e][token * d + j] + hs[j] * g.normal() }
                }
            }
        }
    }

    /// One draw of scope `.layer`: which prompt, which layer, and the latents (the prompt's, with
    /// noise on that layer's tokens only).
    public struct LayerDraw {
        public var anchor: Int
        public var layer: Int
        public var latents: Tensor                                              // [N, d_z]
    }

    /// k draws of scope `.layer`: e uniform over the prompts, l uniform over the layers present
    /// in `layers` ([N]); `z_n = z^e_n + h·ε_n` for the tokens n of layer l, `z_n = z^e_n` elsewhere.
    public static func drawLayer(anchors: [Tensor], count k: Int, bandwidth h: Float, scale: [Float]? = nil, layers: [Int],
                                 using g: inout SeededGenerator) -> [LayerDraw] {
        let (shape, hs, values) = checked(anchors, bandwidth: h, scale: scale)
        let (n, d) = (shape[0], shape[1])
        precondition(layers.count == n, "one layer index per token")
        let distinct = Array(Set(layers)).sorted()
        return (0..<k).map { _ in
            let e = g.int(below: anchors.count), l = distinct[g.int(below: distinct.count)]
            let z = Tensor(hostShape: shape) { z in                                     // [N, d_z]
                for token in 0..<n {
                    for j in 0..<d { z[token * d + j] = values[e][token * d + j] + (layers[token] == l ? hs[j] * g.normal() : 0) }
                }
            }
            return LayerDraw(anchor: e, layer: l, latents: z)
        }
    }

    /// The anchors' common shape [N, d_z], the per-dimension bandwidths and the anchors' values.
    private static func checked(_ anchors: [Tensor], bandwidth h: Float, scale: [Float]?) -> ([Int], [Float], [[Float]]) {
        precondition(!anchors.isEmpty, "the KDE needs at least one prompt")
        let shape = anchors[0].shape
        precondition(shape.count == 2 && anchors.allSatisfy { $0.shape == shape },
                     "prompt latents must share one shape [N, d_z], got \(anchors.map(\.shape))")
        let hs = (scale ?? [Float](repeating: 1, count: shape[1])).map { $0 * h }
        precondition(hs.count == shape[1], "one bandwidth scale per latent dimension")
        return (shape, hs, anchors.map(\.scalars))
    }

    /// k latent sequences from the prior z ~ N(0, σ²I), each [N, d_z].
    public static func prior(count k: Int, tokens n: Int, dimensions d: Int, standardDeviation sigma: Float,
                             using g: inout SeededGenerator) -> [Tensor] {
        (0..<k).map { _ in Tensor.normal([n, d], std: sigma, using: &g) }
    }

    /// s_j = √(mean_n var_e z^e_{n,j}): per latent dimension, the spread of the prompts at the
    /// same token position (population variance over the E prompts, averaged over tokens), [d_z].
    public static func promptSpread(_ anchors: [Tensor]) -> [Float] {
        guard let first = anchors.first else { return [] }
        let (n, d) = (first.shape[0], first.shape[1]), e = Double(anchors.count)
        let values = anchors.map(\.scalars)
        var variance = [Double](repeating: 0, count: d)
        for t in 0..<n {
            for j in 0..<d {
                var sum = 0.0, squares = 0.0
                for a in values { let v = Double(a[t * d + j]); sum += v; squares += v * v }
                variance[j] += max(0, squares / e - (sum / e) * (sum / e))
            }
        }
        return variance.map { Float(($0 / Double(n)).squareRoot()) }
    }
}

/// BatchNorm conditioning of decoded models (§7.4).
public enum BatchNormConditioning {
    /// Default passes: enough that the running statistics forget where they started. After N
    /// updates at momentum 0.1 a fraction (1 − 0.1)^N of the start remains — for a decoded sample
    /// the decoder's defaults (mean 0, variance 1), which have nothing to do with the network. The
    /// rule: (0.9)^N ≤ 1 % → N ≥ 44, rounded up to 50 (0.5 % left). The earlier default of 10 left
    /// 35 %: running means at 65 % of their value, and a decoded ResNet-18 (width 8) prompt scored
    /// 13.4 % instead of 36.0 % on validation (RESULTS.md, stop 25).
    public static let defaultIterations = 50

    /// The BatchNorm2d layers of `module` and its descendants, in state-dict order.
    public static func layers(in module: Module) -> [BatchNorm2d] {
        (module as? BatchNorm2d).map { [$0] } ?? module.children.flatMap { layers(in: $0.module) }
    }

    /// Sets the running statistics of `network`'s BatchNorm layers by `iterations` forward passes
    /// in training mode over random batches of `data` (each layer's momentum, 0.1 by default:
    /// r ← (1 − 0.1)·r + 0.1·batch statistic). Learned weights are unchanged; the network is
    /// left in evaluation mode. Returns the number of BatchNorm layers (0: nothing to do).
    @discardableResult
    public static func condition(_ network: some Layer, on data: ImageDataset, iterations: Int, batchSize: Int,
                                 using g: inout SeededGenerator) -> Int {
        let count = layers(in: network).count
        guard count > 0, iterations > 0 else { return count }
        network.train(true)
        Variable.withoutGradients {
            var done = 0
            while done < iterations {
                for batch in data.shuffledBatches(size: batchSize, using: &g) where done < iterations {
                    _ = network(Variable(batch.images))
                    done += 1
                }
            }
        }
        network.train(false)
        return count
    }
}

/// One kept sample.
public struct SampledModel: Sendable {
    /// The decoded weights, keys and shapes of the target network.
    public var stateDict: StateDict
    /// The latents it was decoded from.
    public var latents: Tensor                                                  // [N, d_z]
    /// The tokens its weights were de-tokenized from (aligned, standardized).
    public var tokens: Tensor                                                   // [N, d_t]
    public var validationAccuracy: Double
    /// What BatchNorm conditioning (§7.4) changed: the entries of the scored network's state dict
    /// that differ from `stateDict` (the running statistics; empty without BatchNorm). Only these
    /// are kept, not a second copy of the weights.
    public var conditionedEntries: StateDict
    /// Round (0 = from the prompts or the prior) and index among that round's k draws.
    public var round: Int
    public var draw: Int

    /// The network `validationAccuracy` was measured on: `stateDict` with `conditionedEntries` in
    /// place. What `sane sample` writes, so a sample file loaded in evaluation mode is the model
    /// that was scored; equal to `stateDict` without BatchNorm.
    public var evaluatedStateDict: StateDict {
        var state = stateDict
        for (key, value) in conditionedEntries.items { state[key] = value }
        return state
    }

    /// The entries of `evaluated` that differ from `base`: a key `base` lacks, another shape, or
    /// any other value.
    public static func changes(from base: StateDict, to evaluated: StateDict) -> StateDict {
        StateDict(evaluated.items.filter { key, value in
            guard let old = base[key], old.shape == value.shape else { return true }
            return old.withHostBuffer { a in value.withHostBuffer { b in !a.elementsEqual(b) } }
        })
    }
}

/// The scores of one round: all k draws, and the indices of the m kept, best first.
public struct SamplingRound: Codable, Equatable, Sendable {
    public var round: Int
    public var validationAccuracies: [Double]
    public var kept: [Int]
}

/// What a sampling run produced.
public struct SamplingResult: Sendable {
    /// The last round's kept samples, best first.
    public var kept: [SampledModel]
    public var rounds: [SamplingRound]
    /// Validation accuracy of each prompt as given, and of its own latents decoded (h = 0): how
    /// much the autoencoder loses in reconstruction.
    public var promptAccuracies: [Double]
    public var decodedPromptAccuracies: [Double]
    /// √(mean z²) over the prompts' latents: the scale the bandwidth h is compared with (the KDE
    /// noise is absolute, so a latent space of small scale needs a smaller h). NaN without prompts.
    public var promptLatentRMS: Double
    /// Mean over latent dimensions of the prompts' spread s_j (`LatentKDE.promptSpread`); NaN
    /// with fewer than 2 prompts.
    public var promptLatentSpread: Double
    /// The mean noise standard deviation h_j the KDE used (absolute units).
    public var effectiveBandwidth: Double
    /// The prompts the KDE was fitted to (indices into the prompts, best validation accuracy
    /// first when `anchorCount` chose them; all, in order, otherwise).
    public var anchors: [Int]
}

/// Samples new models of a target network from a trained SANE (§7): of SANE's training
/// architecture, or of a new one with the preprocessing fitted on the prompts (`TargetPreprocessing`).
public final class ModelSampler {
    public let encoder: SANEEncoder
    /// Which of the run's zoos' preprocessing (alignment reference, standardization) applies.
    public let zoo: Int
    public let target: ZooNetworkConfiguration
    public let settings: SamplingSettings
    /// Scores a conditioned network on the validation data; accuracy unless replaced (tests
    /// replace it to check what it is given).
    public var scorer: (ZooNetwork, ImageDataset) -> Double = { ZooEvaluation.evaluate($0, on: $1).accuracy }
    /// Called after each scored draw with (round, scored in this round, k).
    public var onProgress: ((Int, Int, Int) -> Void)?

    /// The target's fresh state dict: key names, shapes and order of the samples.
    public let reference: StateDict
    /// P of the target's token sequence, flattened [N·3].
    public let positions: [Int32]
    /// The preprocessing of the target's models: the run's zoo's, or fitted on the prompts.
    public let targetPreprocessing: TargetPreprocessing

    /// - Parameter prompts: the prompts, needed when the target is not SANE's training
    ///   architecture (or `settings.standardization` is `.prompts`): its preprocessing is fitted
    ///   on them. `run(prompts:data:)` should be given the same ones.
    public init(encoder: SANEEncoder, zoo: Int = 0, target: ZooNetworkConfiguration, settings: SamplingSettings,
                prompts: [StateDict] = []) throws {
        guard zoo >= 0 && zoo < encoder.preprocessing.count else {
            throw SaneError("the run has no zoo \(zoo) (it has \(encoder.preprocessing.count), numbered from 0)")
        }
        try settings.validate()
        self.encoder = encoder; self.zoo = zoo; self.target = target; self.settings = settings
        reference = ZooNetwork(target.seeded(settings.seed)).stateDict()
        targetPreprocessing = try TargetPreprocessing(encoder: encoder, zoo: zoo, targetName: target.architecture.rawValue, reference: reference,
                                                      prompts: prompts, standardization: settings.standardization ?? .auto)
        positions = try targetPreprocessing.preprocessing.tokenizer.tokenize(reference).positions
    }

    /// z^e: the prompts' token latents, each [N, d_z], preprocessed as in training (§7.1).
    public func embed(_ prompts: [StateDict]) throws -> [Tensor] {
        try tokenize(prompts).map(encoder.encode)
    }

    /// The prompts aligned, standardized and tokenized as in training, each (T [N, d_t], M, P).
    public func tokenize(_ prompts: [StateDict]) throws -> [TokenSequence] {
        try prompts.map { prompt in
            guard let sequence = try encoder.tokenize(trajectory: [prompt], preprocessing: targetPreprocessing.preprocessing, seed: settings.seed).first else {
                throw SaneError("prompt could not be tokenized")
            }
            return sequence
        }
    }

    /// The layer of each token of the target's sequence, [N].
    public var tokenLayers: [Int] { stride(from: 1, to: positions.count, by: 3).map { Int(positions[$0]) } }

    /// Tokens `base` [N, d_t] with the rows of the tokens of `layer` taken from `replacement` [N, d_t].
    public func replacingLayer(_ layer: Int, of base: Tensor, with replacement: Tensor) -> Tensor {
        let d = base.shape[1], layers = tokenLayers
        return Tensor(hostShape: base.shape) { x in
            base.withHostBuffer { b in replacement.withHostBuffer { r in
                for n in layers.indices { for j in 0..<d { x[n * d + j] = layers[n] == layer ? r[n * d + j] : b[n * d + j] } }
            } }
        }
    }

    /// Weights decoded from latents [N, d_z]: decode (haloed), de-standardize, de-tokenize (§7.3).
    public func decode(_ latents: Tensor) throws -> StateDict {
        try encoder.weights(fromTokens: encoder.decode(latents, positions: positions), like: reference, preprocessing: targetPreprocessing.preprocessing)
    }

    /// The target network holding `stateDict`, BatchNorm-conditioned on the conditioning data, in
    /// evaluation mode.
    public func network(_ stateDict: StateDict, data: SamplingData, using g: inout SeededGenerator) throws -> ZooNetwork {
        let net = ZooNetwork(target.seeded(settings.seed))
        try net.load(stateDict)
        BatchNormConditioning.condition(net, on: data.conditioning, iterations: settings.batchNormIterations,
                                        batchSize: settings.batchNormBatchSize, using: &g)
        net.train(false)
        return net
    }

    /// The m best of `scores` (highest first; ties keep the lower index).
    public static func best(_ scores: [Double], keep m: Int) -> [Int] {
        Array(scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }.prefix(m))
    }

    /// The full protocol (§7.2–5): round 0 draws k latents around the prompts (or from the prior),
    /// decodes, conditions and scores them and keeps the best m; each bootstrapping round draws k
    /// around the previous round's kept latents. Deterministic given `settings.seed`.
    public func run(prompts: [StateDict], data: SamplingData) throws -> SamplingResult {
        try settings.validate()
        for (i, prompt) in prompts.enumerated() {
            try prompt.checkFinite("prompt \(i + 1)", hint: "prompt with trained models; a diverged model cannot be embedded")
        }
        /// Decoded weights, refused when not finite (they would be written and fine-tuned as NaN).
        func decoded(_ z: Tensor, _ what: String) throws -> StateDict {
            let state = try decode(z)
            try state.checkFinite("\(what) (decoded weights)", hint: "lower --bandwidth or --prior-std; check that the run trained without diverging")
            return state
        }
        var g = SeededGenerator(seed: settings.seed)
        var conditioning = g.fork()
        /// Validation accuracy of `state`, BatchNorm-conditioned, and what conditioning changed.
        func scored(_ state: StateDict) throws -> (accuracy: Double, conditioned: StateDict) {
            let net = try network(state, data: data, using: &conditioning)
            return (scorer(net, data.validation), SampledModel.changes(from: state, to: net.stateDict()))
        }
        func score(_ state: StateDict) throws -> Double { try scored(state).accuracy }

        let promptSequences = try tokenize(prompts)                           // E × (N, d_t)
        let promptLatents = promptSequences.map(encoder.encode)               // E × [N, d_z]
        if let i = promptLatents.firstIndex(where: { $0.shape != promptLatents[0].shape }) {
            throw SaneError("prompt \(i + 1) has \(promptLatents[i].shape[0]) tokens, prompt 1 has \(promptLatents[0].shape[0])",
                            hint: "prompts must all be models of the target architecture")
        }
        try data.validation.checkFits(classes: target.outputs, channels: target.channelsIn, what: "the validation data")
        let promptAccuracies = try prompts.map(score)
        let anchorIndices = settings.anchorCount.map { ModelSampler.best(promptAccuracies, keep: $0) } ?? Array(prompts.indices)
        let anchorLatents = anchorIndices.map { promptLatents[$0] }
        let values = anchorLatents.flatMap(\.scalars)
        let rms = (values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(Swift.max(values.count, 1))).squareRoot()
        let spread = LatentKDE.promptSpread(anchorLatents)
        let meanSpread = anchorLatents.count >= 2 ? Double(spread.reduce(0, +)) / Double(spread.count) : .nan
        let bandwidth: Float, scale: [Float]?
        switch settings.unit {
        case .absolute: (bandwidth, scale) = (settings.bandwidth, nil)
        case .rms: (bandwidth, scale) = (settings.bandwidth * Float(rms), nil)
        case .spread:
            guard anchorLatents.count >= 2 || settings.priorStandardDeviation != nil else {
                throw SaneError("a bandwidth in units of the prompts' spread needs at least 2 prompts, got \(anchorLatents.count)",
                                hint: "pass more prompts (--prompt-count), or --bandwidth-unit rms")
            }
            (bandwidth, scale) = (settings.bandwidth, spread)
        }
        let effective = Double(bandwidth) * (scale.map { Double($0.reduce(0, +)) / Double(max($0.count, 1)) } ?? 1)
        let decodedPromptAccuracies = try promptLatents.enumerated().map { try score(try decoded($1, "prompt \($0 + 1)")) }

        var anchors = anchorLatents
        var anchorTokens = anchorIndices.map { promptSequences[$0].tokens }
        let layers = tokenLayers
        var rounds: [SamplingRound] = []
        var kept: [SampledModel] = []
        for round in 0...settings.rounds {
            var draws: [(latents: Tensor, tokens: Tensor)] = []                 // k × ([N, d_z], [N, d_t])
            if round == 0, let sigma = settings.priorStandardDeviation {
                draws = LatentKDE.prior(count: settings.samples, tokens: positions.count / 3,
                                        dimensions: encoder.model.config.latentDimensions, standardDeviation: sigma, using: &g)
                    .map { ($0, encoder.decode($0, positions: positions)) }
            } else {
                guard !anchors.isEmpty else { throw SaneError("no prompts to sample around", hint: "pass prompts or a prior σ") }
                switch settings.drawScope {
                case .model:
                    draws = LatentKDE.draw(anchors: anchors, count: settings.samples, bandwidth: bandwidth, scale: scale,
                                           mode: settings.mode, layers: layers, using: &g)
                        .map { ($0, encoder.decode($0, positions: positions)) }
                case .layer:
                    draws = LatentKDE.drawLayer(anchors: anchors, count: settings.samples, bandwidth: bandwidth, scale: scale,
                                                layers: layers, using: &g)
                        .map { d in (d.latents, replacingLayer(d.layer, of: anchorTokens[d.anchor], with: encoder.decode(d.latents, positions: positions))) }
                }
            }
            var candidates: [SampledModel] = []
            for (i, draw) in draws.enumerated() {
                let state = try encoder.weights(fromTokens: draw.tokens, like: reference, zoo: zoo)
                try state.checkFinite("draw \(i) of round \(round) (decoded weights)",
                                      hint: "lower --bandwidth or --prior-std; check that the run trained without diverging")
                let (accuracy, conditioned) = try scored(state)
                candidates.append(SampledModel(stateDict: state, latents: draw.latents, tokens: draw.tokens, validationAccuracy: accuracy,
                                               conditionedEntries: conditioned, round: round, draw: i))
                onProgress?(round, i + 1, draws.count)
            }
            let best = ModelSampler.best(candidates.map(\.validationAccuracy), keep: settings.keep)
            rounds.append(SamplingRound(round: round, validationAccuracies: candidates.map(\.validationAccuracy), kept: best))
            kept = best.map { candidates[$0] }
            anchors = kept.map(\.latents)
            anchorTokens = kept.map(\.tokens)
        }
        return SamplingResult(kept: kept, rounds: rounds, promptAccuracies: promptAccuracies,
                              decodedPromptAccuracies: decodedPromptAccuracies, promptLatentRMS: rms,
                              promptLatentSpread: meanSpread, effectiveBandwidth: effective, anchors: anchorIndices)
    }
}
