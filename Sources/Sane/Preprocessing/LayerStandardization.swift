import Foundation

/// Per-layer weight standardization (SANE-SPEC §3; Schürholt et al., ICML 2024, §3.1):
///
///     x̃ = (x − μ_l) / σ_l        for every value x of layer l's [W | b]
///
/// with statistics over the **train split** checkpoints c = 1…C:
///
///     μ_l = (1/C) Σ_c mean([W|b]_c),    σ_l = sqrt((1/C) Σ_c var([W|b]_c))
///
/// where var is the population variance (divide by the value count) and all sums are in
/// Float64. Weight and bias share μ_l and σ_l. A layer with σ_l = 0 (constant in every
/// checkpoint) keeps σ_l = 1, so it is only centered.
///
/// It works on **state_dicts**: apply it once before tokenizing, invert it once after
/// de-tokenizing. The layers are those of the tokenizer's layout (so BatchNorm statistics are
/// standardized exactly when they are tokenized); every other entry passes through unchanged.
/// `Codable` (JSON), so it can be stored in a checkpoint's metadata.
public struct LayerStandardization: Sendable, Equatable, Codable {
    /// The statistics of one layer l.
    public struct Layer: Sendable, Equatable, Codable {
        public var weightKey: String
        public var biasKey: String?
        /// μ_l.
        public var mean: Double
        /// σ_l.
        public var standardDeviation: Double

        public init(weightKey: String, biasKey: String?, mean: Double, standardDeviation: Double) {
            self.weightKey = weightKey
            self.biasKey = biasKey
            self.mean = mean
            self.standardDeviation = standardDeviation
        }
    }

    /// One entry per tokenized layer, in layer order.
    public var layers: [Layer]

    public init(layers: [Layer]) { self.layers = layers }

    /// Fits μ_l, σ_l on `checkpoints` (the train split), whose layers are found by `tokenizer`.
    /// Throws when there are no checkpoints or they do not all share one layout.
    public init<Checkpoints: Sequence>(fittingTo checkpoints: Checkpoints, tokenizer: Tokenizer) throws
    where Checkpoints.Element == StateDict {
        var fit = Fit(tokenizer: tokenizer)
        for checkpoint in checkpoints { try fit.add(checkpoint) }
        self = try fit.result()
    }

    /// The fit one checkpoint at a time, so that a zoo is standardized without holding all its
    /// checkpoints in memory (the token store streams them): `add` each train checkpoint, then `result`.
    public struct Fit {
        let tokenizer: Tokenizer
        var layout: TokenLayout?
        var meanSums: [Double] = []
        var varianceSums: [Double] = []
        var checkpointCount = 0

        public init(tokenizer: Tokenizer) { self.tokenizer = tokenizer }

        public mutating func add(_ checkpoint: StateDict) throws {
            let checkpointLayout = try tokenizer.layout(for: checkpoint)
            if layout == nil {
                layout = checkpointLayout
                meanSums = [Double](repeating: 0, count: checkpointLayout.layers.count)
                varianceSums = meanSums
            }
            guard checkpointLayout == layout else {
                throw SaneError("checkpoint \(checkpointCount) has another architecture than the first one",
                                hint: "fit the standardization on the checkpoints of one zoo (one architecture)")
            }
            for (l, layer) in checkpointLayout.layers.enumerated() {
                let values = [checkpoint[layer.weightKey]!] + (layer.biasKey.map { [checkpoint[$0]!] } ?? [])
                let (mean, variance) = LayerStandardization.meanAndVariance(values)
                meanSums[l] += mean
                varianceSums[l] += variance
            }
            checkpointCount += 1
        }

        public func result() throws -> LayerStandardization {
            guard let layout else {
                throw SaneError("cannot fit a layer standardization on zero checkpoints",
                                hint: "the train split is empty")
            }
            let c = Double(checkpointCount)
            return LayerStandardization(layers: layout.layers.enumerated().map { l, layer in
                let sigma = (varianceSums[l] / c).squareRoot()
                return Layer(weightKey: layer.weightKey, biasKey: layer.biasKey,
                             mean: meanSums[l] / c, standardDeviation: sigma > 0 ? sigma : 1)
            })
        }
    }

    /// x̃ = (x − μ_l) / σ_l on every standardized layer of `stateDict`.
    public func apply(to stateDict: StateDict) throws -> StateDict {
        try map(stateDict) { x, layer in (x - layer.mean) / layer.standardDeviation }
    }

    /// x = x̃ · σ_l + μ_l: the inverse of `apply(to:)`.
    public func invert(_ stateDict: StateDict) throws -> StateDict {
        try map(stateDict) { x, layer in x * layer.standardDeviation + layer.mean }
    }

    /// `stateDict` with `transform` (in Float64) applied to each value of each layer's weight and bias.
    private func map(_ stateDict: StateDict, _ transform: (Double, Layer) -> Double) throws -> StateDict {
        var result = stateDict
        for layer in layers {
            for key in [layer.weightKey] + (layer.biasKey.map { [$0] } ?? []) {
                guard var tensor = result[key] else {
                    throw SaneError("state_dict has no '\(key)', which the layer standardization expects",
                                    hint: "use the standardization fitted on this architecture's zoo")
                }
                tensor.withMutableHostBuffer { p in
                    for i in p.indices { p[i] = Float(transform(Double(p[i]), layer)) }
                }
                result[key] = tensor
            }
        }
        return result
    }

    /// Mean and population variance of all values of `tensors` together, two-pass in Float64.
    private static func meanAndVariance(_ tensors: [Tensor]) -> (mean: Double, variance: Double) {
        var sum = 0.0
        var count = 0
        for tensor in tensors {
            tensor.withHostBuffer { for x in $0 { sum += Double(x) } }
            count += tensor.count
        }
        let mean = sum / Double(count)
        var squares = 0.0
        for tensor in tensors {
            tensor.withHostBuffer { for x in $0 { let d = Double(x) - mean; squares += d * d } }
        }
        return (mean, squares / Double(count))
    }
}
