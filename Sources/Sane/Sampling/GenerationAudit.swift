import Foundation
import SaneAnalysis
import SaneData
import SaneTensor

// The generation audit of `sane sample`: are SANE's samples more than their prompts with noise
// on them, or averages of them?
//
// Distances are measured where the weights are comparable: every model aligned to the run's
// reference and standardized per layer with the run's train statistics, tokenized (T, M) — the
// space SANE reconstructs in. d(a, b) = √(Σ M·(T_a − T_b)² / Σ M), the RMS over real entries
// (1.0 = one standard deviation of a layer's weights in the zoo).
//
// Two baselines get the same budget and selection as SANE (k draws scored on the validation
// split, best m kept) and are placed at the samples' distance from the prompts, D = the kept
// samples' mean distance to the nearest prompt:
//   noise     T_e + σ·ε ⊙ M, e a uniform prompt (E‖σε‖²/real entries = σ²);
//   average   (1 − t)·T_a + t·T_b of two distinct prompts, t = min(½, c·D / d(a, b)) (c = 1: the
//             point at D from a in token space, the midpoint where the prompts are closer than 2D).
// Generated models (SANE's samples and both baselines) are decoded from tokens in the reference's
// frame, so they are measured as decoded, not re-aligned: weight matching started from a decoded
// model can move it to another local optimum (a prompt's token round trip, re-aligned, landed ≈ 1.24
// from the prompt on the ResNet-18 w8 zoo — a floor under every distance). Prompts and training
// checkpoints are aligned once, as SANE saw them. σ and c are still calibrated on the measured mean
// distance f of the k draws themselves (same prompts, ε and pairs at every trial: f is a function of σ or c):
// `calibrate` solves f = D by bracketing and regula falsi to |f/D − 1| ≤ 3 % (at most 8 trials;
// the closest trial is used). The k draws at that parameter are the baseline's candidates. Each
// group records its kept models' mean distance / D (`distanceRatio`); a kept group more than 10 %
// off is flagged (`distanceWarnings`) — averages cannot get farther than about half the gap
// between two prompts, and keep-best can select nearer or farther draws.
// The verdict is decided on validation accuracy; test accuracy is computed once, after.
//
// Shape legend: N tokens, d_t token size, E prompts, k draws, m kept.

/// One group of audited models (SANE samples, a baseline, or the prompts).
public struct AuditGroup: Codable, Sendable {
    public var name: String
    /// Validation accuracy of the m kept models (best first), on the split carved from training images.
    public var validationAccuracy: [Double]
    /// Test accuracy of the same models (nil when no test data was given).
    public var testAccuracy: [Double]?
    /// Test accuracy after fine-tuning (nil when not asked for).
    public var fineTunedTestAccuracy: [Double]?
    public var fineTuningEpochs: Int?
    /// Per model: distance to the nearest prompt and to the nearest training checkpoint of the run's zoo.
    public var distanceToPrompt: [Double]
    public var distanceToTraining: [Double]
    /// Mean `distanceToPrompt` of the kept models / D (1 for the SANE samples; nil for the prompts).
    public var distanceRatio: Double?
    /// How a baseline was placed at D (nil for the SANE samples and the prompts).
    public var calibration: DistanceCalibration?
}

/// The placement of a baseline at the samples' distance D (`GenerationAudit.calibrate`).
public struct DistanceCalibration: Codable, Sendable, Equatable {
    /// The parameter the baseline's k draws were made with: σ of the noise, c of the averages.
    public var parameter: Double
    /// Mean distance to the nearest prompt of all k draws at `parameter`, / D.
    public var distanceRatio: Double
    /// Trials made (each: k draws decoded, re-tokenized and measured).
    public var trials: Int
    /// Every trial in order: its parameter and its mean distance / D (f/D).
    public var trialParameters: [Double] = []
    public var trialRatios: [Double] = []
}

/// Whether SANE's kept samples beat one baseline.
public struct AuditVerdict: Codable, Sendable {
    public var baseline: String
    public var saneValidationAccuracy: Double
    public var baselineValidationAccuracy: Double
    public var saneTestAccuracy: Double?
    public var baselineTestAccuracy: Double?
    /// Mean test accuracy after the audit's fine-tuning (nil without it).
    public var saneFineTunedTestAccuracy: Double?
    public var baselineFineTunedTestAccuracy: Double?
    /// Decided on mean validation accuracy: SANE ≥ baseline + `GenerationAudit.margin`.
    public var saneBeatsBaseline: Bool
}

public struct GenerationAudit: Codable, Sendable {
    /// Accuracy (fraction) by which SANE's mean validation accuracy must exceed a baseline's.
    public static let margin = 0.005
    public static let distanceUnit = "RMS over real token entries of aligned, per-layer standardized weights"
    public var margin = GenerationAudit.margin
    public var distanceUnit = GenerationAudit.distanceUnit
    /// D: the SANE samples' mean distance to the nearest prompt, where both baselines are placed.
    public var targetDistance: Double
    /// σ of the noise baseline, calibrated so that its k draws' mean distance is D.
    public var noiseStandardDeviation: Double
    /// "SANE samples", "prompts + noise", "prompt averages", "prompts".
    public var groups: [AuditGroup]
    public var verdicts: [AuditVerdict]

    /// A calibration stops within this relative distance of D …
    public static let calibrationTolerance = 0.03
    /// … or after this many trials.
    public static let calibrationTrials = 8
    /// A kept group farther than this (relative) from D is flagged in `distanceWarnings`.
    public static let distanceWarningTolerance = 0.10

    /// Fine-tuning of every audited group (same recipe as `sane finetune`).
    public struct FineTuningRequest {
        public var training: ImageDataset
        public var settings: FineTuningSettings
        public init(training: ImageDataset, settings: FineTuningSettings) { self.training = training; self.settings = settings }
    }

    /// Audits the kept samples of `sampler`'s run.
    /// - Parameters:
    ///   - training: the zoo checkpoints SANE was trained on, per model (a trajectory each); empty
    ///     for a target of another architecture (distances to training are then NaN).
    ///   - test: test images; accuracy on them is computed once, after every choice.
    ///   - progress: called with (models scored, total) while the baselines are scored.
    public static func run(sampler: ModelSampler, prompts: [StateDict], kept: [SampledModel], training: [[StateDict]],
                           data: SamplingData, test: ImageDataset?, fineTuning: FineTuningRequest? = nil, seed: UInt64 = 0,
                           progress: ((Int, Int) -> Void)? = nil) throws -> GenerationAudit {
        let encoder = sampler.encoder, prep = sampler.targetPreprocessing.preprocessing
        func tokens(_ state: StateDict) throws -> TokenSequence {
            guard let sequence = try encoder.tokenize(trajectory: [state], preprocessing: prep, seed: seed).first else {
                throw SaneError("a model could not be tokenized for the audit")
            }
            return sequence
        }
        let promptTokens = try prompts.map(tokens)                                      // E × (N, d_t)
        let trainingTokens = try training.flatMap { try encoder.tokenize(trajectory: $0, preprocessing: prep, seed: seed) }
        func promptDistance(_ t: TokenSequence) -> Double { promptTokens.map { distance(t, $0) }.min() ?? .nan }
        func distances(_ t: TokenSequence) -> (prompt: Double, training: Double) {
            (promptDistance(t), trainingTokens.map { distance(t, $0) }.min() ?? .nan)
        }
        // The mask and positions of the target's sequence (they do not depend on the weights).
        guard let frame = try promptTokens.first ?? kept.first.map({ try tokens($0.stateDict) }) else {
            throw SaneError("the generation audit needs at least one kept sample", hint: "sample with --keep 1 or more")
        }
        /// Decoded tokens (aligned, standardized; (N, d_t)) as a sequence in the reference's frame.
        func decoded(_ x: Tensor) -> TokenSequence { TokenSequence(tokens: x, mask: frame.mask, positions: frame.positions) }
        /// Mean distance to the nearest prompt of decoded token sets (what calibration measures).
        func meanPromptDistance(_ xs: [Tensor]) -> Double {
            xs.map { promptDistance(decoded($0)) }.reduce(0, +) / Double(max(xs.count, 1))
        }
        /// Weights of decoded tokens, in the target architecture.
        func weights(_ x: Tensor) throws -> StateDict { try encoder.weights(fromTokens: x, like: sampler.reference, preprocessing: prep) }

        let saneStates = kept.map(\.stateDict)
        let saneDistances = kept.map { distances(decoded($0.tokens)) }
        let target = saneDistances.map(\.prompt).reduce(0, +) / Double(max(saneDistances.count, 1))    // D
        /// Mean of `d` / D.
        func ratio(_ d: [Double]) -> Double? { target > 0 ? d.reduce(0, +) / Double(max(d.count, 1)) / target : nil }

        var g = SeededGenerator(seed: seed ^ 0xA0D1_7000)
        var conditioning = g.fork()
        let k = sampler.settings.samples, m = sampler.settings.keep
        var scored = 0
        let total = 2 * k
        /// Scores k decoded token sets on validation, keeps the best m, returns the group.
        func group(_ name: String, _ candidates: [Tensor], calibration: DistanceCalibration) throws -> (AuditGroup, [StateDict]) {
            let candidateStates = try candidates.map(weights)
            let accuracies = try candidateStates.map { state -> Double in
                defer { scored += 1; progress?(scored, total) }
                return sampler.scorer(try sampler.network(state, data: data, using: &conditioning), data.validation)
            }
            let best = ModelSampler.best(accuracies, keep: m)
            let states = best.map { candidateStates[$0] }
            let d = best.map { distances(decoded(candidates[$0])) }
            return (AuditGroup(name: name, validationAccuracy: best.map { accuracies[$0] }, distanceToPrompt: d.map(\.prompt),
                               distanceToTraining: d.map(\.training), distanceRatio: ratio(d.map(\.prompt)), calibration: calibration), states)
        }

        var groups = [AuditGroup(name: "SANE samples", validationAccuracy: kept.map(\.validationAccuracy),
                                 distanceToPrompt: saneDistances.map(\.prompt), distanceToTraining: saneDistances.map(\.training),
                                 distanceRatio: ratio(saneDistances.map(\.prompt)))]
        var states = [saneStates]

        /// k noisy prompts at noise level σ, as tokens; the same prompts and ε for every σ.
        let noiseStream = g.fork()
        func noisy(_ sigma: Double) -> [Tensor] {
            var s = noiseStream
            return (0..<k).map { _ in
                let p = promptTokens[s.int(below: promptTokens.count)]
                let x = Tensor(hostShape: p.tokens.shape) { x in
                    p.tokens.withHostBuffer { t in p.mask.withHostBuffer { mask in
                        for i in 0..<p.tokens.count { x[i] = t[i] + Float(sigma) * mask[i] * s.normal() }
                    } }
                }
                return x
            }
        }
        let noiseCalibration = calibrate(target: target, start: target) { meanPromptDistance(noisy($0)) }
        let (noiseGroup, noiseStates) = try group("prompts + noise", noisy(noiseCalibration.parameter), calibration: noiseCalibration)
        groups.append(noiseGroup); states.append(noiseStates)

        if promptTokens.count >= 2 {
            let pairs = (0..<k).map { _ -> (a: TokenSequence, b: TokenSequence, gap: Double) in
                let a = g.int(below: promptTokens.count)
                var b = g.int(below: promptTokens.count - 1)
                if b >= a { b += 1 }
                return (promptTokens[a], promptTokens[b], distance(promptTokens[a], promptTokens[b]))
            }
            /// The k averages with t = min(½, c·D / gap) (½ for coincident prompts), as tokens.
            func averages(_ c: Double) -> [Tensor] {
                pairs.map { pair in
                    let t = Float(pair.gap > 0 ? min(0.5, c * target / pair.gap) : 0.5)
                    return Tensor(hostShape: pair.a.tokens.shape) { x in
                        pair.a.tokens.withHostBuffer { ta in pair.b.tokens.withHostBuffer { tb in
                            for i in 0..<pair.a.tokens.count { x[i] = (1 - t) * ta[i] + t * tb[i] }
                        } }
                    }
                }
            }
            // Beyond c = max gap / 2D every t is ½: the averages cannot get farther.
            let upper = target > 0 ? max(pairs.map(\.gap).max()! / (2 * target), 0) : 0
            let averageCalibration = calibrate(target: target, start: min(1, upper), upper: upper) { meanPromptDistance(averages($0)) }
            let (averageGroup, averageStates) = try group("prompt averages", averages(averageCalibration.parameter), calibration: averageCalibration)
            groups.append(averageGroup); states.append(averageStates)
        }
        let promptScores = try prompts.map { sampler.scorer(try sampler.network($0, data: data, using: &conditioning), data.validation) }
        groups.append(AuditGroup(name: "prompts", validationAccuracy: promptScores, distanceToPrompt: prompts.map { _ in 0 },
                                 distanceToTraining: promptTokens.map { distances($0).training }))
        states.append(prompts)

        // Test numbers: once, after every choice above.
        if let test {
            for i in groups.indices {
                groups[i].testAccuracy = try states[i].map { ZooEvaluation.evaluate(try sampler.network($0, data: data, using: &conditioning), on: test).accuracy }
            }
            if let fineTuning {
                for i in groups.indices {
                    let tuned = try FineTuning.run(group: groups[i].name, initial: states[i].enumerated().map { ("\(groups[i].name)-\($0.offset)", $0.element) },
                                                   target: sampler.target, training: fineTuning.training, test: test, settings: fineTuning.settings)
                    groups[i].fineTunedTestAccuracy = tuned.curves.map { $0.testAccuracy[fineTuning.settings.epochs] }
                    groups[i].fineTuningEpochs = fineTuning.settings.epochs
                }
            }
        }

        func mean(_ v: [Double]?) -> Double? { v.flatMap { $0.isEmpty ? nil : $0.reduce(0, +) / Double($0.count) } }
        let sane = groups[0]
        let verdicts = groups.dropFirst().filter { $0.name != "prompts" }.map { b in
            AuditVerdict(baseline: b.name, saneValidationAccuracy: mean(sane.validationAccuracy)!, baselineValidationAccuracy: mean(b.validationAccuracy)!,
                         saneTestAccuracy: mean(sane.testAccuracy), baselineTestAccuracy: mean(b.testAccuracy),
                         saneFineTunedTestAccuracy: mean(sane.fineTunedTestAccuracy), baselineFineTunedTestAccuracy: mean(b.fineTunedTestAccuracy),
                         saneBeatsBaseline: mean(sane.validationAccuracy)! >= mean(b.validationAccuracy)! + margin)
        }
        return GenerationAudit(targetDistance: target, noiseStandardDeviation: noiseCalibration.parameter, groups: groups, verdicts: verdicts)
    }

    /// Solves f(p) = D for a parameter p ≥ 0 of a baseline, f(p) the mean measured distance of its
    /// draws made with p (increasing in p, f(0) = 0: the prompts themselves). Bracket: p = `start`,
    /// doubled (up to `upper`) while f(p) < D; then regula falsi between the bracket's ends with the
    /// Illinois modification (an end kept twice in a row has its residual halved), from (0, 0),
    /// until |f(p)/D − 1| ≤ `tolerance` or `trials` measurements. Returns the trial closest to D
    /// (a trial of p = 0 when D is 0 or not finite).
    public static func calibrate(target: Double, start: Double, upper: Double = .infinity, tolerance: Double = calibrationTolerance,
                                 trials: Int = calibrationTrials, measure: (Double) throws -> Double) rethrows -> DistanceCalibration {
        guard target > 0, target.isFinite, start > 0, upper > 0 else { return DistanceCalibration(parameter: 0, distanceRatio: .nan, trials: 0) }
        var best = DistanceCalibration(parameter: 0, distanceRatio: .infinity, trials: 0)
        var done: Bool { abs(best.distanceRatio - 1) <= tolerance || best.trials >= trials }
        /// f(p) − D, recording the trial.
        func residual(_ p: Double) throws -> Double {
            let f = try measure(p)
            best.trials += 1
            best.trialParameters.append(p); best.trialRatios.append(f / target)
            if abs(f / target - 1) < abs(best.distanceRatio - 1) { (best.parameter, best.distanceRatio) = (p, f / target) }
            return f - target
        }
        var lo = (p: 0.0, r: -target)
        var hi = (p: min(start, upper), r: 0.0)
        hi.r = try residual(hi.p)
        while hi.r < 0, hi.p < upper, !done {
            lo = hi
            hi.p = min(2 * hi.p, upper)
            hi.r = try residual(hi.p)
        }
        var kept = 0                                                    // +1: hi was replaced last, −1: lo
        while hi.r >= 0, !done {
            var p = lo.p - lo.r * (hi.p - lo.p) / (hi.r - lo.r)
            if !(p > lo.p && p < hi.p) { p = (lo.p + hi.p) / 2 }
            let r = try residual(p)
            if r >= 0 {
                hi = (p, r)
                if kept == 1 { lo.r /= 2 }
                kept = 1
            } else {
                lo = (p, r)
                if kept == -1 { hi.r /= 2 }
                kept = -1
            }
        }
        return best
    }

    /// One line per kept baseline group whose mean distance to the prompts is more than
    /// `distanceWarningTolerance` off D (the comparison is then not at matched distance).
    public var distanceWarnings: [String] {
        groups.compactMap { g in
            guard g.calibration != nil, let r = g.distanceRatio, !(abs(r - 1) <= GenerationAudit.distanceWarningTolerance) else { return nil }
            var line = String(format: "warning: the kept %@ are at %.2f × the SANE samples' distance to the prompts (more than %.0f %% off; not a matched-distance comparison",
                              g.name, r, 100 * GenerationAudit.distanceWarningTolerance)
            if let c = g.calibration { line += String(format: "; all its draws at %.2f ×", c.distanceRatio) }
            return line + ")"
        }
    }

    /// √(Σ M·(a − b)² / Σ M) over the entries real in both sequences.
    public static func distance(_ a: TokenSequence, _ b: TokenSequence) -> Double {
        precondition(a.tokens.shape == b.tokens.shape, "sequences of different shapes \(a.tokens.shape), \(b.tokens.shape)")
        var sum = 0.0, count = 0.0
        a.tokens.withHostBuffer { x in b.tokens.withHostBuffer { y in a.mask.withHostBuffer { ma in b.mask.withHostBuffer { mb in
            for i in 0..<x.count where ma[i] > 0 && mb[i] > 0 {
                let d = Double(x[i] - y[i]); sum += d * d; count += 1
            }
        } } } }
        return count > 0 ? (sum / count).squareRoot() : .nan
    }

    /// One line per group (mean ± std): validation, test, fine-tuned accuracy %, distances.
    public var table: Table {
        func cell(_ v: [Double]?, _ scale: Double, _ decimals: Int) -> String {
            guard let v, !v.isEmpty else { return "—" }
            return Table.meanPlusMinusStd(v.map { $0 * scale }, decimals: decimals)
        }
        let tuned = groups.first?.fineTuningEpochs.map { "test % after \($0) ep. fine-tuning" } ?? "fine-tuned"
        return Table(header: ["group", "models", "val acc %", "test acc %", tuned, "dist. to nearest prompt", "dist. to nearest training ckpt"],
                     rows: groups.map { g in
                         [g.name, String(g.validationAccuracy.count), cell(g.validationAccuracy, 100, 1), cell(g.testAccuracy, 100, 1),
                          cell(g.fineTunedTestAccuracy, 100, 1), cell(g.distanceToPrompt, 1, 3), cell(g.distanceToTraining, 1, 3)]
                     })
    }

    /// Mean validation accuracy of the SANE samples minus that of the best baseline (fractions):
    /// > `margin` where SANE beats every baseline. −∞ without baselines.
    public var validationAdvantage: Double {
        verdicts.map { $0.saneValidationAccuracy - $0.baselineValidationAccuracy }.min() ?? -.infinity
    }

    /// "SANE samples beat prompts + noise: yes/NO (validation 91.2 % vs 90.1 %, rule …; test …; after 1 epoch …)" per baseline.
    public var verdictLines: [String] {
        verdicts.map { v in
            var line = String(format: "SANE samples beat %@: %@ (validation %.1f %% vs %.1f %%, rule: ≥ +%.1f points",
                              v.baseline, v.saneBeatsBaseline ? "yes" : "NO", 100 * v.saneValidationAccuracy, 100 * v.baselineValidationAccuracy, 100 * margin)
            if let a = v.saneTestAccuracy, let b = v.baselineTestAccuracy { line += String(format: "; test %.1f %% vs %.1f %%", 100 * a, 100 * b) }
            if let a = v.saneFineTunedTestAccuracy, let b = v.baselineFineTunedTestAccuracy, let e = groups.first?.fineTuningEpochs {
                line += String(format: "; test after %d epoch(s) of fine-tuning %.1f %% vs %.1f %%", e, 100 * a, 100 * b)
            }
            return line + ")"
        }
    }
}
