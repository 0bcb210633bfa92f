// Embedding analysis (SANE-SPEC §8; Schürholt et al., ICML 2024, §5 "layer-level analysis"):
// how spread out a layer's token embeddings are, next to WeightWatcher-style spectral metrics of
// the same layer (Martin & Mahoney, Nature Communications 12, 2021), and how model-level
// aggregates of both correlate with test accuracy.
//
// Shape legend: N tokens, N_l tokens of layer l, d_z latent width, L layers.

import Foundation
import SaneAnalysis
import SaneData
import SaneTensor

/// One layer of one checkpoint.
public struct LayerAnalysis: Codable, Sendable {
    /// Layer index l (token position [·, l, ·]).
    public var layer: Int
    public var weightKey: String
    /// N_l.
    public var tokens: Int
    /// ẑ_l = (1/d_z) Σ_j std_{n ∈ l}(z_nj): the population standard deviation over the layer's
    /// token latents, per latent dimension, averaged over the d_z dimensions (0 for one token).
    public var spread: Double
    /// log10 λ_max of WᵀW, W the raw weight (no bias) as [c_out, r].
    public var logSpectralNorm: Double
    /// Power-law exponent of the eigenvalue tail of WᵀW; NaN when no fit is possible.
    public var alpha: Double
}

/// One checkpoint: its layers and model-level aggregates (means over layers; α over the layers
/// that have a fit).
public struct CheckpointAnalysis: Codable, Sendable {
    public var label: CheckpointLabel
    public var layers: [LayerAnalysis]
    public var spread: Double
    public var logSpectralNorm: Double
    public var alpha: Double
}

/// Pearson's r and Spearman's ρ of two quantities over checkpoints.
public struct CorrelationEntry: Codable, Sendable {
    public var x: String
    public var y: String
    /// Checkpoints where both values are finite.
    public var samples: Int
    public var pearson: Double
    public var spearman: Double

    init(x: String, y: String, _ xs: [Double], _ ys: [Double]) {
        let pairs = zip(xs, ys).filter { $0.0.isFinite && $0.1.isFinite }
        self.x = x; self.y = y
        samples = pairs.count
        pearson = pairs.count >= 2 ? Correlation.pearson(pairs.map(\.0), pairs.map(\.1)) : .nan
        spearman = pairs.count >= 2 ? Correlation.spearman(pairs.map(\.0), pairs.map(\.1)) : .nan
    }
}

/// Per-layer spread of token embeddings vs spectral metrics, over the checkpoints of a zoo (or of
/// a folder of checkpoint files, or one file: `CheckpointSource`).
public struct EmbeddingAnalysis: Codable, Sendable {
    public var checkpoints: [CheckpointAnalysis]
    /// Per layer l: ẑ_l vs log spectral norm and vs α, over checkpoints.
    public var layerCorrelations: [CorrelationEntry]
    /// Model-level spread, log spectral norm and α vs test accuracy.
    public var accuracyCorrelations: [CorrelationEntry]

    /// Encodes every checkpoint of the models of `splits` at `epochs` (nil = all) with `encoder`
    /// (preprocessed as in training) and analyzes the spectra of the raw weights.
    /// - Parameter progress: called with (models done, models total).
    public init(encoder: SANEEncoder, source: CheckpointSource, splits: [ZooSplit] = ZooSplit.allCases, epochs: [Int]? = nil,
                progress: ((Int, Int) -> Void)? = nil) throws {
        checkpoints = []
        let work = try source.models(splits: splits, epochs: epochs, seed: encoder.splitSeed(for: source))
        for (done, model) in work.enumerated() {
            defer { progress?(done + 1, work.count) }
            let loaded = try model.load().checkpoints
            guard let first = loaded.first else { continue }
            let index = try encoder.preprocessingIndex(for: source, sample: first)   // every model: a misfit names its file
            let layout = try encoder.preprocessing[index].tokenizer.layout(for: first.stateDict)
            let sequences = try encoder.tokenize(trajectory: loaded.map(\.stateDict), zoo: index)
            for (checkpoint, sequence) in zip(loaded, sequences) {
                let latents = encoder.encode(sequence)                                  // (N, d_z)
                let layers = try layout.layers.map { layer in
                    let weight = checkpoint.stateDict[layer.weightKey]!                 // (c_out, r)
                    let spectrum = try Spectral.analyze(weights: weight.scalars, outputs: layer.rows, inputs: layer.rowLength)
                    return LayerAnalysis(layer: layer.index, weightKey: layer.weightKey, tokens: layer.tokenCount,
                                         spread: EmbeddingAnalysis.spread(latents, tokens: layer.firstToken..<(layer.firstToken + layer.tokenCount)),
                                         logSpectralNorm: spectrum.logSpectralNorm, alpha: spectrum.powerLaw?.alpha ?? .nan)
                }
                let alphas = layers.map(\.alpha).filter(\.isFinite)
                checkpoints.append(CheckpointAnalysis(
                    label: CheckpointLabel(checkpoint, split: model.split), layers: layers,
                    spread: layers.map(\.spread).reduce(0, +) / Double(layers.count),
                    logSpectralNorm: layers.map(\.logSpectralNorm).reduce(0, +) / Double(layers.count),
                    alpha: alphas.isEmpty ? .nan : alphas.reduce(0, +) / Double(alphas.count)))
            }
        }
        guard let layerCount = checkpoints.first?.layers.count else {
            throw SaneError("no checkpoints in \(source)\(source.zoo == nil ? "" : " at the selected epochs")",
                            hint: "check --epochs against the epochs the zoo has (sane zoo info ZOO)")
        }
        let all = checkpoints
        layerCorrelations = (0..<layerCount).flatMap { l -> [CorrelationEntry] in
            let spread = all.map { $0.layers[l].spread }
            return [CorrelationEntry(x: "ẑ_\(l)", y: "log spectral norm", spread, all.map { $0.layers[l].logSpectralNorm }),
                    CorrelationEntry(x: "ẑ_\(l)", y: "α", spread, all.map { $0.layers[l].alpha })]
        }
        let accuracy = all.map(\.label.testAccuracy)
        accuracyCorrelations = [
            CorrelationEntry(x: "mean ẑ", y: "test_acc", all.map(\.spread), accuracy),
            CorrelationEntry(x: "mean log spectral norm", y: "test_acc", all.map(\.logSpectralNorm), accuracy),
            CorrelationEntry(x: "mean α", y: "test_acc", all.map(\.alpha), accuracy),
        ]
    }

    /// ẑ over the rows `tokens` of latents (N, d_z): mean over dimensions of the population std.
    static func spread(_ latents: Tensor, tokens: Range<Int>) -> Double {
        let d = latents.shape[1], n = Double(tokens.count)
        var total = 0.0
        latents.withHostBuffer { z in
            for j in 0..<d {
                var sum = 0.0, squares = 0.0
                for t in tokens { let v = Double(z[t * d + j]); sum += v; squares += v * v }
                let mean = sum / n
                total += max(0, squares / n - mean * mean).squareRoot()
            }
        }
        return total / Double(d)
    }

    /// Per layer: mean over checkpoints of ẑ_l, log spectral norm and α, and the correlations of
    /// ẑ_l with both.
    public var layerTable: Table {
        let count = Double(checkpoints.count)
        return Table(header: ["layer", "weight", "tokens", "mean ẑ_l", "mean log λ_max", "mean α",
                              "r(ẑ, log λ_max)", "ρ(ẑ, log λ_max)", "r(ẑ, α)", "ρ(ẑ, α)"],
                     rows: checkpoints[0].layers.indices.map { l in
                         let layer = checkpoints[0].layers[l]
                         let alphas = checkpoints.map { $0.layers[l].alpha }.filter(\.isFinite)
                         let (norm, alpha) = (layerCorrelations[2 * l], layerCorrelations[2 * l + 1])
                         return [String(layer.layer), layer.weightKey, String(layer.tokens),
                                 format(checkpoints.reduce(0) { $0 + $1.layers[l].spread } / count),
                                 format(checkpoints.reduce(0) { $0 + $1.layers[l].logSpectralNorm } / count),
                                 format(alphas.isEmpty ? .nan : alphas.reduce(0, +) / Double(alphas.count)),
                                 format(norm.pearson), format(norm.spearman), format(alpha.pearson), format(alpha.spearman)]
                     })
    }

    /// Model-level aggregates vs test accuracy.
    public var accuracyTable: Table {
        Table(header: ["aggregate", "vs", "checkpoints", "Pearson r", "Spearman ρ"],
              rows: accuracyCorrelations.map { [$0.x, $0.y, String($0.samples), format($0.pearson), format($0.spearman)] })
    }

    /// Key-sorted, pretty JSON; non-finite numbers as "nan", "inf", "-inf".
    public func jsonData() throws -> Data { try SaneJSON.encode(self) }
}

/// The analysis of a trained SANE next to its controls: the same analysis with the untrained
/// SANE (`SANEEncoder.untrainedControl`) and with the y quantity shuffled over checkpoints (a
/// seeded permutation). A correlation is a claim about SANE only where |r| of the trained SANE
/// exceeds both controls' |r| by at least `margin`.
public struct AnalysisControls: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public var x: String
        public var y: String
        public var trainedPearson: Double
        public var untrainedPearson: Double
        public var shuffledPearson: Double
        public var beatsControls: Bool
    }

    public static let margin = 0.1
    public var margin = AnalysisControls.margin
    public var shuffleSeed: UInt64
    public var rows: [Row]

    /// Compares every correlation of `trained` with the same one of `untrained` (same
    /// checkpoints) and with `trained`'s correlation after shuffling y.
    public init(trained: EmbeddingAnalysis, untrained: EmbeddingAnalysis, shuffleSeed: UInt64 = 0) {
        self.shuffleSeed = shuffleSeed
        var g = SeededGenerator(seed: shuffleSeed)
        let permutation = g.permutation(trained.checkpoints.count)
        let layerCount = trained.checkpoints.first?.layers.count ?? 0
        /// (x name, y name, x of a checkpoint analysis, y of a checkpoint analysis) for every correlation.
        var pairs: [(String, String, (CheckpointAnalysis) -> Double, (CheckpointAnalysis) -> Double)] = []
        for l in 0..<layerCount {
            pairs.append(("ẑ_\(l)", "log spectral norm", { $0.layers[l].spread }, { $0.layers[l].logSpectralNorm }))
            pairs.append(("ẑ_\(l)", "α", { $0.layers[l].spread }, { $0.layers[l].alpha }))
        }
        pairs.append(("mean ẑ", "test_acc", { $0.spread }, { $0.label.testAccuracy }))
        let margin = AnalysisControls.margin
        rows = pairs.map { name, yName, x, y in
            let r = CorrelationEntry(x: name, y: yName, trained.checkpoints.map(x), trained.checkpoints.map(y)).pearson
            let u = CorrelationEntry(x: name, y: yName, untrained.checkpoints.map(x), untrained.checkpoints.map(y)).pearson
            let ys = trained.checkpoints.map(y)
            let sh = CorrelationEntry(x: name, y: yName, trained.checkpoints.map(x), permutation.map { ys[$0] }).pearson
            let beats = r.isFinite && abs(r) >= abs(u.isFinite ? u : 0) + margin && abs(r) >= abs(sh.isFinite ? sh : 0) + margin
            return Row(x: name, y: yName, trainedPearson: r, untrainedPearson: u, shuffledPearson: sh, beatsControls: beats)
        }
    }

    public var table: Table {
        Table(header: ["x", "vs", "trained r", "untrained r", "shuffled r", "beats controls (|r| margin)"],
              rows: rows.map { [$0.x, $0.y, format($0.trainedPearson), format($0.untrainedPearson), format($0.shuffledPearson),
                                ($0.beatsControls ? "yes" : "NO") + String(format: " (%.2f)", margin)] })
    }
}

private func format(_ value: Double) -> String { value.isFinite ? String(format: "%.3f", value) : "—" }
