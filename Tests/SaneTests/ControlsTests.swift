import Foundation
import XCTest
@testable import Sane

/// Controls and validation-only selection: the untrained SANE control, the shuffled-label
/// probe, pooling / bandwidth choice rules, and the generation audit's baselines.
final class ControlsTests: XCTestCase {
    let cnn = ZooNetworkConfiguration(architecture: .cnn)

    func prompts(_ count: Int) -> [StateDict] {
        (0..<count).map { ZooNetwork(ZooNetworkConfiguration(architecture: .cnn, seed: UInt64(100 + $0))).stateDict() }
    }

    /// What the sampler-selection and audit tests share: the tiny SANE, `images` identified
    /// training images with `validation` of them held out (seed 2), settings drawing `samples`
    /// and keeping 2 (seed 3), and a cheap deterministic scorer (the output bias) that fails the
    /// test if it sees anything but the validation images.
    func samplerFixture(images: Int, validation: Int, samples: Int) throws
        -> (encoder: SANEEncoder, data: SamplingData, settings: SamplingSettings, scorer: (ZooNetwork, ImageDataset) -> Double) {
        let encoder = try SamplingTests.encoder.get()
        let data = SamplingData(training: SamplingTests.identifiedImages(ids: 0..<images), validationCount: validation, seed: 2)
        let validationIDs = SamplingTests.ids(data.validation)
        var settings = SamplingSettings()
        settings.samples = samples; settings.keep = 2; settings.seed = 3
        return (encoder, data, settings, { net, d in
            XCTAssertEqual(SamplingTests.ids(d), validationIDs, "only validation images are scored")
            return Double(net.stateDict()["module_list.11.bias"]!.scalars[0])
        })
    }

    /// The untrained control has the run's shape and preprocessing, the trainer's initial
    /// weights (seeded by config.seed), and encodes differently from the trained model.
    func testUntrainedControlIsTheRunBeforeTraining() throws {
        let encoder = try SamplingTests.encoder.get()
        let control = encoder.untrainedControl()
        var g = SeededGenerator(seed: encoder.manifest.config.seed)
        let initial = SANEModel(config: encoder.manifest.config, using: &g).stateDict()
        let weights = control.model.stateDict()
        XCTAssertEqual(weights.keys, encoder.model.stateDict().keys)
        for key in weights.keys { XCTAssertEqual(weights[key]!.scalars, initial[key]!.scalars, key) }
        XCTAssertEqual(control.halo, encoder.halo)
        let sequence = try encoder.tokenize(trajectory: [prompts(1)[0]])[0]
        XCTAssertEqual(try control.tokenize(trajectory: [prompts(1)[0]])[0].tokens.scalars, sequence.tokens.scalars, "same preprocessing")
        XCTAssertNotEqual(control.encode(sequence).scalars, encoder.encode(sequence).scalars, "one epoch of training changed the encoder")
    }

    /// On features that determine the target, the probe scores near 1 and its shuffled-label
    /// control near or below 0; the shuffled fit is seeded (same seed, same numbers).
    func testShuffledLabelProbeFindsNothing() throws {
        var g = SeededGenerator(seed: 1)
        let splits = ["train", "validation", "test"], sizes = [120, 40, 40]
        var labels: [CheckpointLabel] = [], features: [[Double]] = []
        for (split, n) in zip(splits, sizes) {
            for i in 0..<n {
                let x = (0..<4).map { _ in Double(g.normal()) }
                var label = try JSONDecoder().decode(CheckpointLabel.self, from: Data(#"{"model":"m\#(i)","epoch":0,"split":"\#(split)","testAccuracy":0,"trainAccuracy":0,"ggap":0}"#.utf8))
                label.testAccuracy = 0.5 + 0.1 * x[0] - 0.05 * x[1]
                label.epoch = i % 7
                label.ggap = 0.01 * x[2]
                labels.append(label); features.append(x)
            }
        }
        let data = ProbeDataset(labels: labels, features: [.sane(.mean): features, .untrained(.mean): features.map { $0.map { _ in Double(g.normal()) } }])
        let report = try PropertyProbe.run(data, zoo: "synthetic", epochs: nil, shuffleSeed: 3)
        let acc = try XCTUnwrap(report.score(.testAccuracy, .sane(.mean)))
        XCTAssertGreaterThan(acc.testR2, 0.99)
        XCTAssertLessThan(acc.shuffledTestR2, 0.2, "shuffled labels must not be predictable")
        XCTAssertEqual(report.poolingChoices.map(\.trained), [.mean, .mean, .mean])
        let verdict = try XCTUnwrap(report.verdicts.first { $0.target == .testAccuracy && $0.pooling == "mean" })
        XCTAssertTrue(verdict.beatsControls, "\(verdict)")
        XCTAssertLessThan(try XCTUnwrap(verdict.untrainedValidationR2), 0.3, "noise features are the untrained stand-in here")
        let epochVerdict = try XCTUnwrap(report.verdicts.first { $0.target == .epoch && $0.pooling == "mean" })
        XCTAssertFalse(epochVerdict.beatsControls, "epoch is not in the features: \(epochVerdict)")
        let again = try PropertyProbe.run(data, zoo: "synthetic", epochs: nil, shuffleSeed: 3)
        XCTAssertEqual(again.scores.map(\.shuffledTestR2), report.scores.map(\.shuffledTestR2))
    }

    /// Auto pooling picks by validation R², never by test R²; a verdict needs the margin over both controls.
    func testPoolingChoiceAndVerdictUseValidationOnly() {
        func score(_ method: ProbeMethod, val: Double, test: Double, shuffledVal: Double = 0) -> PropertyProbeReport.Score {
            .init(target: .epoch, method: method, features: 1, lambda: 1, trainR2: 1, validationR2: val, testR2: test,
                  shuffledValidationR2: shuffledVal, shuffledTestR2: 0)
        }
        let scores = [score(.sane(.mean), val: 0.80, test: 0.95), score(.sane(.layers), val: 0.90, test: 0.70),
                      score(.untrained(.mean), val: 0.70, test: 0.9), score(.untrained(.layers), val: 0.87, test: 0.9)]
        let (choices, verdicts) = PropertyProbe.controls(scores)
        XCTAssertEqual(choices.first?.trained, .layers, "validation 0.90 beats 0.80 although test says otherwise")
        XCTAssertEqual(choices.first?.untrained, .layers)
        XCTAssertEqual(verdicts.map(\.pooling), ["mean", "layers", "auto (layers)"])
        XCTAssertEqual(verdicts.map(\.beatsControls), [true, false, false], "layers beats its control by 0.03 < 0.05")
    }

    /// The largest bandwidth within the tolerance of the best wins.
    func testBandwidthRulePrefersTheLargestWithinTolerance() {
        func c(_ h: Float, _ acc: Double) -> BandwidthSelection.Candidate { .init(bandwidth: h, meanKeptValidationAccuracy: acc, meanValidationAccuracy: acc) }
        XCTAssertEqual(BandwidthSelection.choose([c(0.05, 0.93), c(0.1, 0.925), c(0.2, 0.915), c(0.5, 0.80), c(1, 0.1)]), 2)
        XCTAssertEqual(BandwidthSelection.choose([c(0.05, 0.5), c(0.1, 0.9), c(0.2, 0.7)]), 1)
    }

    /// The sampler rule takes the largest advantage over the better baseline (first on ties), not the best raw accuracy.
    func testSamplerRulePrefersTheAdvantageOverBaselines() {
        func c(_ v: SamplerVariant, kept: Double, advantage: Double) -> SamplerSelection.Candidate {
            .init(variant: v, bandwidth: 0.5, anchors: 5, keptValidationAccuracy: kept, baselineValidationAccuracy: [:], advantage: advantage, distanceToPrompt: 1)
        }
        XCTAssertEqual(SamplerSelection.choose([c(.kde, kept: 0.9, advantage: -0.05), c(.kde30, kept: 0.6, advantage: 0.01),
                                                c(.promptContext, kept: 0.97, advantage: -0.01)]), 1)
        XCTAssertEqual(SamplerSelection.choose([c(.kde, kept: 0.5, advantage: 0.02), c(.kdeLayer, kept: 0.6, advantage: 0.02)]), 0)
    }

    /// `SamplerSelection.run` audits every variant on validation only and returns the run the rule picks.
    func testSamplerSelectionAuditsEveryVariantOnValidationOnly() throws {
        let (encoder, data, settings, scorer) = try samplerFixture(images: 120, validation: 30, samples: 4)
        let prompts = prompts(3)
        func select() throws -> (SamplerSelection, SamplerRun) {
            let (selection, chosen, runs) = try SamplerSelection.run(
                variants: [.kde, .kdeLayer, .promptContext], encoder: encoder, zoo: 0, target: cnn, settings: settings, grid: [0.5],
                prompts: { _ in prompts }, training: prompts.map { [$0] }, data: data,
                configure: { sampler, _, _ in sampler.scorer = scorer })
            XCTAssertEqual(runs.map(\.variant), [.kde, .kdeLayer, .promptContext])
            return (selection, chosen)
        }
        let (selection, chosen) = try select()
        XCTAssertEqual(selection.candidates.map(\.variant), [.kde, .kdeLayer, .promptContext])
        XCTAssertEqual(selection.chosen, selection.candidates[SamplerSelection.choose(selection.candidates)].variant)
        XCTAssertEqual(chosen.variant, selection.chosen)
        for c in selection.candidates {
            XCTAssertEqual(Set(c.baselineValidationAccuracy.keys), ["prompts + noise", "prompt averages"])
            XCTAssertEqual(c.advantage, c.keptValidationAccuracy - c.baselineValidationAccuracy.values.max()!, accuracy: 1e-12)
        }
        let (again, chosenAgain) = try select()
        XCTAssertEqual(again.candidates.map(\.advantage), selection.candidates.map(\.advantage), "same seed, same choice")
        XCTAssertEqual(chosenAgain.result.kept.map(\.tokens.scalars), chosen.result.kept.map(\.tokens.scalars))
    }

    /// promptSpread is the per-dimension std over prompts at equal tokens; with unit `.spread`
    /// the KDE noise of dimension j is bandwidth · s_j (a dimension where the prompts agree gets none).
    func testSpreadBandwidthScalesPerDimension() {
        let a = Tensor(shape: [2, 2], scalars: [0, 1, 0, 1]), b = Tensor(shape: [2, 2], scalars: [2, 1, 2, 1])
        XCTAssertEqual(LatentKDE.promptSpread([a, b]), [1, 0])
        var g = SeededGenerator(seed: 2)
        let draws = LatentKDE.draw(anchors: [a, b], count: 200, bandwidth: 0.5, scale: [1, 0], mode: .sequence, using: &g)
        let second = draws.flatMap { [$0.scalars[1], $0.scalars[3]] }
        XCTAssertEqual(Set(second), [1], "no noise where the prompts agree")
        let first = draws.flatMap { [$0.scalars[0], $0.scalars[2]] }
        let residual = first.map { Double($0 < 1 ? $0 : $0 - 2) }
        let std = (residual.map { $0 * $0 }.reduce(0, +) / Double(residual.count)).squareRoot()
        XCTAssertEqual(std, 0.5, accuracy: 0.05)
    }

    func testDistanceIsRMSOverRealEntries() {
        let mask = Tensor(shape: [1, 4], scalars: [1, 1, 1, 0])
        let a = TokenSequence(tokens: Tensor(shape: [1, 4], scalars: [0, 0, 0, 9]), mask: mask, positions: [0, 0, 0])
        let b = TokenSequence(tokens: Tensor(shape: [1, 4], scalars: [1, 1, 1, -9]), mask: mask, positions: [0, 0, 0])
        XCTAssertEqual(GenerationAudit.distance(a, b), 1, accuracy: 1e-12)
    }

    /// The audit scores k draws per baseline on validation only, keeps m, places the noise at the
    /// samples' distance, and finds the prompts among the training checkpoints (distance 0).
    func testAuditBaselinesAtMatchedDistance() throws {
        let (encoder, data, fixtureSettings, scorer) = try samplerFixture(images: 200, validation: 40, samples: 6)
        var settings = fixtureSettings
        settings.bandwidth = 0.5; settings.bandwidthUnit = .spread
        let sampler = try ModelSampler(encoder: encoder, target: cnn, settings: settings)
        var scored = 0
        sampler.scorer = { net, d in scored += 1; return scorer(net, d) }
        let prompts = prompts(3)
        let result = try sampler.run(prompts: prompts, data: data)
        scored = 0
        let audit = try GenerationAudit.run(sampler: sampler, prompts: prompts, kept: result.kept, training: prompts.map { [$0] },
                                            data: data, test: SamplingTests.identifiedImages(ids: 500..<540), seed: 1)
        XCTAssertEqual(scored, 6 + 6 + 3, "k draws per baseline, then the prompts")
        XCTAssertEqual(audit.groups.map(\.name), ["SANE samples", "prompts + noise", "prompt averages", "prompts"])
        XCTAssertEqual(audit.groups.map(\.validationAccuracy.count), [2, 2, 2, 3])
        XCTAssertTrue(audit.groups.allSatisfy { $0.testAccuracy?.count == $0.validationAccuracy.count })
        XCTAssertEqual(audit.groups[3].distanceToTraining, [0, 0, 0], "the prompts are training checkpoints here")
        let sane = audit.groups[0]
        XCTAssertEqual(audit.targetDistance, sane.distanceToPrompt.reduce(0, +) / 2, accuracy: 1e-9)
        XCTAssertGreaterThan(audit.noiseStandardDeviation, 0)
        XCTAssertEqual(sane.distanceRatio, 1)
        XCTAssertNil(audit.groups[3].distanceRatio)
        let noise = try XCTUnwrap(audit.groups[1].calibration)
        XCTAssertEqual(noise.parameter, audit.noiseStandardDeviation)
        XCTAssertEqual(noise.distanceRatio, 1, accuracy: GenerationAudit.calibrationTolerance, "all noise draws at the samples' distance")
        XCTAssertLessThanOrEqual(noise.trials, GenerationAudit.calibrationTrials)
        for g in audit.groups[1...2] {
            let mean = g.distanceToPrompt.reduce(0, +) / Double(g.distanceToPrompt.count)
            XCTAssertEqual(try XCTUnwrap(g.distanceRatio), mean / audit.targetDistance, accuracy: 1e-12, "\(g.name): the kept models' ratio")
            XCTAssertEqual(audit.distanceWarnings.contains { $0.contains(g.name) }, abs(g.distanceRatio! - 1) > GenerationAudit.distanceWarningTolerance)
        }
        // Same seed, same audit.
        let again = try GenerationAudit.run(sampler: sampler, prompts: prompts, kept: result.kept, training: prompts.map { [$0] },
                                            data: data, test: SamplingTests.identifiedImages(ids: 500..<540), seed: 1)
        XCTAssertEqual(try SaneJSON.encode(again), try SaneJSON.encode(audit))
        XCTAssertEqual(audit.verdicts.map(\.baseline), ["prompts + noise", "prompt averages"])
        for v in audit.verdicts {
            XCTAssertEqual(v.saneBeatsBaseline, v.saneValidationAccuracy >= v.baselineValidationAccuracy + GenerationAudit.margin)
        }
    }

    /// Calibration solves f(p) = D where f is nonlinear in p (re-alignment moves a noisy model
    /// farther than its noise): within the tolerance in at most `calibrationTrials` trials. Control:
    /// the old rule (σ = D rescaled three times by D / f(σ)) ends more than 10 % off on the same f.
    func testCalibrationReachesTheTargetWhereRescalingDoesNot() {
        let f = { (p: Double) in p + 2 * p * p }, target = 1.0
        var sigma = target
        for _ in 0..<3 { sigma *= target / f(sigma) }
        XCTAssertGreaterThan(abs(f(sigma) / target - 1), 0.10, "the old rule misses on this f")
        var calls = 0
        let c = GenerationAudit.calibrate(target: target, start: target) { calls += 1; return f($0) }
        XCTAssertEqual(c.distanceRatio, 1, accuracy: GenerationAudit.calibrationTolerance)
        XCTAssertEqual(f(c.parameter) / target, c.distanceRatio, accuracy: 1e-12, "the ratio is the one measured at the parameter returned")
        XCTAssertEqual(c.trials, calls)
        XCTAssertEqual(c.trialParameters.count, calls)
        XCTAssertEqual(c.trialRatios.count, calls)
        XCTAssertTrue(c.trialRatios.contains(c.distanceRatio), "the trial used is among those recorded")
        XCTAssertLessThanOrEqual(calls, GenerationAudit.calibrationTrials)
        // Below the target at the start: bracketed by doubling.
        let slow = GenerationAudit.calibrate(target: 5, start: 1) { 0.1 * $0 + 0.01 * $0 * $0 * $0 }
        XCTAssertEqual(slow.distanceRatio, 1, accuracy: GenerationAudit.calibrationTolerance)
        // An f that cannot reach D before `upper` (averages beyond the midpoint): the closest trial, at the bound.
        let capped = GenerationAudit.calibrate(target: 1, start: 0.5, upper: 0.8) { min($0, 0.8) }
        XCTAssertEqual(capped.parameter, 0.8)
        XCTAssertEqual(capped.distanceRatio, 0.8, accuracy: 1e-12)
        XCTAssertTrue(GenerationAudit.calibrate(target: 0, start: 1) { $0 }.distanceRatio.isNaN, "no distance to match")
    }

    /// A kept baseline group more than 10 % off the samples' distance is flagged; within 10 % it is not.
    func testDistanceWarningsFlagGroupsOffTheSamplesDistance() {
        func group(_ name: String, ratio: Double?, calibrated: Bool) -> AuditGroup {
            AuditGroup(name: name, validationAccuracy: [0.5], distanceToPrompt: [1], distanceToTraining: [1], distanceRatio: ratio,
                       calibration: calibrated ? DistanceCalibration(parameter: 1, distanceRatio: 1.01, trials: 2) : nil)
        }
        let audit = GenerationAudit(targetDistance: 1, noiseStandardDeviation: 1,
                                    groups: [group("SANE samples", ratio: 1, calibrated: false), group("prompts + noise", ratio: 1.18, calibrated: true),
                                             group("prompt averages", ratio: 0.95, calibrated: true), group("prompts", ratio: nil, calibrated: false)],
                                    verdicts: [])
        XCTAssertEqual(audit.distanceWarnings.count, 1)
        XCTAssertTrue(audit.distanceWarnings[0].contains("prompts + noise") && audit.distanceWarnings[0].contains("1.18"), audit.distanceWarnings[0])
    }
}
