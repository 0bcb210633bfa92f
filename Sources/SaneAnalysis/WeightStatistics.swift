/// The s(W) baseline: per-layer weight statistics as probe features (SANE-SPEC §6; Unterthiner et
/// al., "Predicting Neural Network Accuracy from Weights", 2020, used as the "s(W)" baseline in
/// Schürholt et al., ICML 2024, Table 2).
public enum WeightStatistics {
    /// Percentiles (in %) reported for every layer, after the mean and the variance.
    public static let percentiles: [Double] = [1, 25, 50, 75, 99]

    /// Names of the statistics, in feature order within one layer.
    public static let statisticNames: [String] = ["mean", "variance", "p1", "p25", "p50", "p75", "p99"]

    /// Features of one checkpoint: for each layer (its `[W|b]` values, weights then bias) the mean,
    /// the population variance (1/n Σ (x − x̄)², numpy's `var`), and the 1, 25, 50, 75, 99
    /// percentiles; 7 features per layer, layer after layer.
    public static func features(layers: [[Float]]) -> [Double] {
        layers.flatMap { layer in layerFeatures(layer.map(Double.init)) }
    }

    /// Feature names matching `features(layers:)`, e.g. "layer0.p25".
    public static func featureNames(layerCount: Int) -> [String] {
        (0..<layerCount).flatMap { layer in statisticNames.map { "layer\(layer).\($0)" } }
    }

    static func layerFeatures(_ values: [Double]) -> [Double] {
        precondition(!values.isEmpty, "WeightStatistics: empty layer")
        let count = Double(values.count)
        let mean = values.reduce(0, +) / count
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / count
        let sorted = values.sorted()
        return [mean, variance] + percentiles.map { percentile(sortedValues: sorted, percent: $0) }
    }

    /// The q-th percentile with linear interpolation between order statistics (numpy's default
    /// `method="linear"`): with sorted x_0 ≤ … ≤ x_{n−1} and h = (n − 1)·q/100,
    /// P = x_⌊h⌋ + (h − ⌊h⌋)·(x_⌊h⌋+1 − x_⌊h⌋). Rounding follows numpy's `_lerp` (interpolating
    /// from the upper neighbour when h − ⌊h⌋ ≥ 0.5), so results agree to the last bit.
    public static func percentile(of values: [Double], percent: Double) -> Double {
        percentile(sortedValues: values.sorted(), percent: percent)
    }

    static func percentile(sortedValues sorted: [Double], percent: Double) -> Double {
        precondition(!sorted.isEmpty, "WeightStatistics.percentile: no values")
        precondition((0...100).contains(percent), "WeightStatistics.percentile: \(percent) is not in [0, 100]")
        let position = percent / 100 * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        let difference = sorted[upper] - sorted[lower]
        return fraction >= 0.5 ? sorted[upper] - difference * (1 - fraction) : sorted[lower] + difference * fraction
    }
}
