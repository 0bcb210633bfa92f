import Foundation
import SaneData
import SaneTensor

// Choosing how to generate on validation data (`sane sample --sampler auto`), issue #16 item 5.
//
// Every variant below is run with its bandwidth chosen by the bandwidth rule
// (`BandwidthSelection`) and audited against its own matched-distance baselines (prompts + noise,
// prompt averages; `GenerationAudit`) on the validation split only. The variant whose kept
// samples lead the better baseline by the most validation accuracy is chosen:
//
//   advantage(v) = mean val acc(SANE kept, v) − max over baselines b of mean val acc(b kept, v)
//   chosen       = argmax_v advantage(v)          (ties: the earlier variant of `SamplerVariant.allCases`)
//
// Raw validation accuracy alone would reward variants that stay closest to the prompts; the
// advantage over baselines at the same distance does not. Test images never enter the choice.

/// A way of generating models from a trained SANE.
public enum SamplerVariant: String, Codable, CaseIterable, Sendable {
    /// The paper's sampler (§7.2): KDE around the E prompts' latents, one prompt per sequence.
    case kde
    /// The paper's KDE30: the KDE fitted to the latents of the 30 models with the highest
    /// validation accuracy among the run's zoo's train-split models (all of them are the prompts;
    /// the sampler keeps the top `kde30Count` as anchors). Baselines use the same 30.
    case kde30
    /// KDE with an independent prompt per layer (`SamplingSettings.Mode.layer`).
    case kdeLayer = "kde-layer"
    /// One layer per draw redrawn and decoded with the prompt's own latents as context; the other
    /// layers are the prompt's (`SamplingSettings.Scope.layer`).
    case promptContext = "prompt-context"

    /// Anchors of `kde30`.
    public static let kde30Count = 30

    /// `settings` with this variant's mode, scope and anchor count.
    public func apply(to settings: SamplingSettings) -> SamplingSettings {
        var s = settings
        s.scope = self == .promptContext ? .layer : .model
        s.anchorCount = self == .kde30 ? SamplerVariant.kde30Count : nil
        if self == .kdeLayer { s.mode = .layer } else if self != .kde { s.mode = .sequence }
        return s
    }

    /// Whether the prompts are the zoo's train-split models rather than the chosen few.
    public var usesZooModels: Bool { self == .kde30 }
}

/// One variant's run: its bandwidth choice, samples and validation-only audit.
public struct SamplerRun {
    public var variant: SamplerVariant
    /// The prompts the variant was given (for kde30: every train-split zoo model at the epoch).
    public var prompts: [StateDict]
    public var bandwidth: BandwidthSelection
    public var result: SamplingResult
    public var sampler: ModelSampler
    public init(variant: SamplerVariant, prompts: [StateDict], bandwidth: BandwidthSelection, result: SamplingResult, sampler: ModelSampler) {
        self.variant = variant; self.prompts = prompts; self.bandwidth = bandwidth; self.result = result; self.sampler = sampler
    }

    /// The KDE's anchors among `prompts`: what the baselines are built from.
    public var anchorPrompts: [StateDict] { result.anchors.map { prompts[$0] } }
}

/// The sampler chosen on validation, with every candidate's scores.
public struct SamplerSelection: Codable, Sendable {
    public static let rule = "largest validation advantage of the kept SANE samples over the better of the two matched-distance baselines (prompts + noise, prompt averages), each variant at the bandwidth the bandwidth rule chose for it; ties: the earlier variant"

    public struct Candidate: Codable, Sendable {
        public var variant: SamplerVariant
        public var bandwidth: Float
        /// Models the KDE was fitted to.
        public var anchors: Int
        public var keptValidationAccuracy: Double
        /// Kept mean validation accuracy of each baseline, by name.
        public var baselineValidationAccuracy: [String: Double]
        /// keptValidationAccuracy − the best baseline's (fraction).
        public var advantage: Double
        /// Mean distance of the kept samples to the nearest prompt (the audit's unit).
        public var distanceToPrompt: Double
    }

    public var candidates: [Candidate]
    public var chosen: SamplerVariant
    public var rule = SamplerSelection.rule

    /// The index of the candidate the rule picks (the first of the largest advantages).
    public static func choose(_ candidates: [Candidate]) -> Int {
        precondition(!candidates.isEmpty, "no sampler candidates")
        var best = 0
        for i in candidates.indices where candidates[i].advantage > candidates[best].advantage { best = i }
        return best
    }

    /// Runs `variants` (bandwidth rule, then a validation-only audit each) and chooses one.
    /// - Parameters:
    ///   - prompts: the prompts of a variant (`usesZooModels` variants get the zoo's train-split models).
    ///   - training: the zoo checkpoints SANE was trained on, per model (the audit's distances).
    ///   - configure: called on every sampler before it runs, with its variant and bandwidth index.
    ///   - auditProgress: called with the variant while its audit scores its baselines.
    public static func run(variants: [SamplerVariant], encoder: SANEEncoder, zoo: Int, target: ZooNetworkConfiguration,
                           settings: SamplingSettings, grid: [Float], prompts: (SamplerVariant) throws -> [StateDict],
                           training: [[StateDict]], data: SamplingData,
                           configure: (ModelSampler, SamplerVariant, Int) -> Void = { _, _, _ in },
                           auditProgress: @escaping (SamplerVariant, Int, Int) -> Void = { _, _, _ in })
        throws -> (selection: SamplerSelection, chosen: SamplerRun, runs: [SamplerRun]) {
        precondition(!variants.isEmpty, "no sampler variants")
        var runs: [SamplerRun] = []
        var candidates: [Candidate] = []
        for variant in variants {
            let given = try prompts(variant)
            let (bandwidth, result, sampler) = try BandwidthSelection.run(
                encoder: encoder, zoo: zoo, target: target, settings: variant.apply(to: settings), grid: grid,
                prompts: given, data: data) { configure($0, variant, $1) }
            let run = SamplerRun(variant: variant, prompts: given, bandwidth: bandwidth, result: result, sampler: sampler)
            let audit = try GenerationAudit.run(sampler: sampler, prompts: run.anchorPrompts, kept: result.kept, training: training,
                                                data: data, test: nil, seed: settings.seed) { auditProgress(variant, $0, $1) }
            let kept = result.kept.map(\.validationAccuracy)
            let baselines = Dictionary(uniqueKeysWithValues: audit.verdicts.map { ($0.baseline, $0.baselineValidationAccuracy) })
            candidates.append(Candidate(variant: variant, bandwidth: bandwidth.chosen, anchors: result.anchors.count,
                                        keptValidationAccuracy: kept.reduce(0, +) / Double(max(kept.count, 1)),
                                        baselineValidationAccuracy: baselines, advantage: audit.validationAdvantage,
                                        distanceToPrompt: audit.targetDistance))
            runs.append(run)
        }
        let index = choose(candidates)
        return (SamplerSelection(candidates: candidates, chosen: variants[index]), runs[index], runs)
    }
}
