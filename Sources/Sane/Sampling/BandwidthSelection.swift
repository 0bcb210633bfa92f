import Foundation
import SaneData
import SaneTensor

// Choosing the KDE bandwidth on validation data (`sane sample --bandwidth auto`).
//
// Validation accuracy of the samples rises as the bandwidth goes to 0 (the samples approach the
// decoded prompts), so "best validation accuracy" would always pick the smallest bandwidth and
// sample nothing new. The rule trades the two off explicitly: the LARGEST bandwidth of the grid
// whose kept samples lose at most `tolerance` of mean validation accuracy against the best grid
// value. Only the validation split carved from the training images enters; test images never do.

/// The bandwidth chosen on validation, with every candidate's scores.
public struct BandwidthSelection: Codable, Sendable {
    /// Bandwidths tried, in units of the prompts' latent spread (`SamplingSettings.BandwidthUnit.spread`).
    public static let grid: [Float] = [0.05, 0.1, 0.2, 0.5, 1]
    /// Accuracy (fraction) the chosen bandwidth may lose against the best candidate.
    public static let tolerance = 0.02
    public static let rule = "largest bandwidth whose kept samples' mean validation accuracy is within 0.02 of the best bandwidth's"

    public struct Candidate: Codable, Sendable {
        public var bandwidth: Float
        /// Mean validation accuracy of the m kept samples (last round).
        public var meanKeptValidationAccuracy: Double
        /// Mean validation accuracy of all k draws of round 0.
        public var meanValidationAccuracy: Double
    }

    public var unit: SamplingSettings.BandwidthUnit
    public var candidates: [Candidate]
    public var chosen: Float
    public var rule = BandwidthSelection.rule

    /// The index of the candidate the rule picks.
    public static func choose(_ candidates: [Candidate], tolerance: Double = BandwidthSelection.tolerance) -> Int {
        let best = candidates.map(\.meanKeptValidationAccuracy).max() ?? 0
        let eligible = candidates.indices.filter { candidates[$0].meanKeptValidationAccuracy >= best - tolerance }
        return eligible.max { candidates[$0].bandwidth < candidates[$1].bandwidth } ?? 0
    }

    /// Runs the sampling protocol once per bandwidth of `grid` (each a fresh sampler with
    /// `settings`, bandwidth replaced) and returns the selection with the chosen run and its sampler.
    /// - Parameter configure: called on every sampler before it runs (progress, scorer).
    public static func run(encoder: SANEEncoder, zoo: Int, target: ZooNetworkConfiguration, settings: SamplingSettings,
                           grid: [Float] = BandwidthSelection.grid, prompts: [StateDict], data: SamplingData,
                           configure: (ModelSampler, Int) -> Void = { _, _ in }) throws -> (selection: BandwidthSelection, result: SamplingResult, sampler: ModelSampler) {
        precondition(!grid.isEmpty, "an empty bandwidth grid")
        var runs: [(SamplingResult, ModelSampler)] = []
        var candidates: [Candidate] = []
        for (i, h) in grid.enumerated() {
            var s = settings
            s.bandwidth = h
            let sampler = try ModelSampler(encoder: encoder, zoo: zoo, target: target, settings: s, prompts: prompts)
            configure(sampler, i)
            let result = try sampler.run(prompts: prompts, data: data)
            let kept = result.kept.map(\.validationAccuracy)
            let all = result.rounds[0].validationAccuracies
            candidates.append(Candidate(bandwidth: h, meanKeptValidationAccuracy: kept.reduce(0, +) / Double(max(kept.count, 1)),
                                        meanValidationAccuracy: all.reduce(0, +) / Double(max(all.count, 1))))
            runs.append((result, sampler))
        }
        let index = choose(candidates)
        return (BandwidthSelection(unit: settings.unit, candidates: candidates, chosen: grid[index]), runs[index].0, runs[index].1)
    }
}
