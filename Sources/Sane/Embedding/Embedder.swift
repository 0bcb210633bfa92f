import Foundation
import SaneData
import SaneNN
import SaneTensor

/// Haloed windows for sequences longer than the model's training window (SANE-SPEC §6):
/// content windows of `content` tokens, each encoded together with up to `halo` context tokens
/// on both sides (clamped at the sequence ends); only the content tokens' outputs are kept.
public struct HaloWindows: Codable, Equatable, Sendable {
    public var content: Int
    public var halo: Int

    public init(content: Int, halo: Int) {
        precondition(content > 0 && halo >= 0, "halo windows need content > 0 and halo ≥ 0")
        self.content = content; self.halo = halo
    }

    /// Defaults for a training window ws: content ws/2, halo ws/4 (the paper's 128/64 at ws 256).
    public static func defaults(windowSize ws: Int) -> HaloWindows { HaloWindows(content: max(1, ws / 2), halo: ws / 4) }

    /// (window range, content range) pairs covering 0..<n. A sequence no longer than
    /// `content + 2·halo` is one window.
    public func plan(tokens n: Int) -> [(window: Range<Int>, content: Range<Int>)] {
        if n <= content + 2 * halo { return [(0..<n, 0..<n)] }
        return stride(from: 0, to: n, by: content).map { c in
            let end = min(n, c + content)
            return (max(0, c - halo)..<min(n, end + halo), c..<end)
        }
    }

    /// Applies `f` (a window [1, w, ·] → [1, w, out]) window by window and stitches the content rows.
    func map(_ x: Tensor, positions: [Int32], outputs: Int, _ f: (Tensor, [Int32]) -> Tensor) -> Tensor {
        let n = x.shape[0], d = x.shape[1]
        let parts = plan(tokens: n).map { window, content -> Tensor in
            let w = window.count
            let xw = x.rows(window).reshaped([1, w, d])
            let y = f(xw, Array(positions[(3 * window.lowerBound)..<(3 * window.upperBound)]))   // [1, w, outputs]
            let skip = content.lowerBound - window.lowerBound
            return y.reshaped([w, outputs]).rows(skip..<(skip + content.count))                  // [content, outputs]
        }
        return Tensor.concatenated(parts)                                                    // [n, outputs]
    }
}

/// A trained SANE run, ready to embed and decode models: the autoencoder plus the exact
/// preprocessing it was trained with (alignment reference, standardization, tokenizer).
public final class SANEEncoder {
    public let model: SANEModel
    public let preprocessing: [ZooPreprocessing]
    public let manifest: RunFolder.Manifest
    public var halo: HaloWindows

    /// The run's latest checkpoint, or that of epoch `epoch` (kept with `keepEvery`).
    public init(run: RunFolder, epoch: Int? = nil) throws {
        let manifest = try run.loadManifest()
        self.manifest = manifest
        model = try run.loadModel(epoch: epoch)
        preprocessing = try manifest.zoos.indices.map {
            try run.loadPreprocessing(zoo: $0, tokenizer: manifest.tokenizer, align: manifest.config.align)
        }
        halo = HaloWindows.defaults(windowSize: manifest.config.windowSize)
    }

    init(model: SANEModel, preprocessing: [ZooPreprocessing], manifest: RunFolder.Manifest, halo: HaloWindows) {
        self.model = model; self.preprocessing = preprocessing; self.manifest = manifest; self.halo = halo
    }

    /// An encoder with the untrained autoencoder of `config` (the weights training starts from,
    /// `SeededGenerator(seed: config.seed)`, as `untrainedControl`) and the preprocessing of one
    /// zoo of `reference`'s architecture: aligned to `reference` under `spec` (when `config.align`),
    /// not standardized, tokens of `config.tokenSize`; the default halo. For timing embedding
    /// without a trained run (`sane bench embed`): what it embeds carries no learned meaning.
    public convenience init(untrained config: SANEConfig, reference: StateDict, spec: PermutationSpec) {
        let tokenizer = TokenizerConfig(tokenSize: config.tokenSize)
        var g = SeededGenerator(seed: config.seed)
        let model = SANEModel(config: config, using: &g)
        model.train(false)
        let prep = ZooPreprocessing(tokenizer: Tokenizer(tokenizer), spec: spec, reference: reference, standardization: nil, align: config.align)
        self.init(model: model, preprocessing: [prep], manifest: RunFolder.Manifest(config: config, zoos: [], tokenizer: tokenizer),
                  halo: .defaults(windowSize: config.windowSize))
    }

    /// The control of every claim about this run: the same run with its autoencoder as it was
    /// before training — the weights `Trainer` starts from (`SeededGenerator(seed: config.seed)`),
    /// same shape, same preprocessing (alignment reference, standardization) and halo. A property
    /// that this encoder exposes as well is a property of the preprocessing and architecture, not
    /// of what SANE learned.
    public func untrainedControl() -> SANEEncoder {
        var g = SeededGenerator(seed: manifest.config.seed)
        let fresh = SANEModel(config: manifest.config, using: &g)
        fresh.train(false)
        return SANEEncoder(model: fresh, preprocessing: preprocessing, manifest: manifest, halo: halo)
    }

    /// Preprocesses a model's checkpoints exactly as training did (alignment computed on the last
    /// one given, standardization with the train statistics of zoo `zoo`) and tokenizes them.
    public func tokenize(trajectory: [StateDict], zoo: Int = 0, seed: UInt64 = 0) throws -> [TokenSequence] {
        try tokenize(trajectory: trajectory, preprocessing: preprocessing[zoo], seed: seed)
    }

    /// Preprocesses a model's checkpoints with `prep` (the run's preprocessing of one zoo, or one
    /// fitted for a new architecture, `TargetPreprocessing`) and tokenizes them.
    public func tokenize(trajectory: [StateDict], preprocessing prep: ZooPreprocessing, seed: UInt64 = 0) throws -> [TokenSequence] {
        var g = SeededGenerator(seed: seed)
        let sequences = try prep.prepare(trajectory: trajectory, using: &g).map { try prep.tokenizer.tokenize($0) }
        try model.config.validatePositions(of: sequences)   // a zoo with more layers or rows than the run's
        return sequences
    }

    /// Token latents z [N, d_z] of a token sequence (haloed).
    public func encode(_ sequence: TokenSequence) -> Tensor {
        Variable.withoutGradients {
            halo.map(sequence.tokens, positions: sequence.positions, outputs: model.config.latentDimensions) { x, p in
                model.encode(Variable(x), positions: p).value
            }
        }
    }

    /// Tokens T̂ [N, d_t] decoded from latents z [N, d_z] at `positions` (haloed).
    public func decode(_ latents: Tensor, positions: [Int32]) -> Tensor {
        Variable.withoutGradients {
            halo.map(latents, positions: positions, outputs: model.config.tokenSize) { z, p in
                model.decode(Variable(z), positions: p).value
            }
        }
    }

    /// The model embedding of token latents z [N, d_z] at `positions` (N, 3) under `pooling`.
    public static func pool(_ latents: Tensor, positions: [Int32], _ pooling: EmbeddingPooling) -> [Float] {
        let n = latents.shape[0], d = latents.shape[1]
        precondition(positions.count == 3 * n, "one [n, l, k] position per token")
        /// Mean of the latents of `tokens`.
        func mean(_ tokens: some Collection<Int>) -> [Float] {
            var e = [Float](repeating: 0, count: d)
            latents.withHostBuffer { p in for i in tokens { for j in 0..<d { e[j] += p[i * d + j] } } }
            return e.map { $0 / Float(tokens.count) }
        }
        switch pooling {
        case .mean: return mean(0..<n)
        case .tokens: return latents.scalars
        case .layers:
            // Tokens of one layer are contiguous and layers ascend (TokenLayout.positions).
            var groups: [(layer: Int32, tokens: Range<Int>)] = []
            for i in 0..<n {
                if let last = groups.last, last.layer == positions[3 * i + 1] {
                    groups[groups.count - 1].tokens = last.tokens.lowerBound..<(i + 1)
                } else {
                    groups.append((positions[3 * i + 1], i..<(i + 1)))
                }
            }
            return groups.flatMap { mean($0.tokens) }
        }
    }

    /// De-tokenizes decoded tokens into a state dict shaped like `reference` and undoes the
    /// standardization of zoo `zoo`.
    public func weights(fromTokens tokens: Tensor, like reference: StateDict, zoo: Int = 0) throws -> StateDict {
        try weights(fromTokens: tokens, like: reference, preprocessing: preprocessing[zoo])
    }

    /// De-tokenizes decoded tokens into a state dict shaped like `reference` and undoes the
    /// standardization of `prep`.
    public func weights(fromTokens tokens: Tensor, like reference: StateDict, preprocessing prep: ZooPreprocessing) throws -> StateDict {
        try prep.restore(try prep.tokenizer.detokenize(tokens, like: reference))
    }
}
