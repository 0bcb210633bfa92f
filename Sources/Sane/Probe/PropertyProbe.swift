// Property prediction from weights (SANE-SPEC §6; Schürholt et al., ICML 2024, §5 and Table 1):
// a linear (ridge) probe maps features of a checkpoint to its test accuracy, epoch and
// generalization gap; λ is chosen on the validation split, R² is reported on the test split.
//
// Three feature sets ("methods"), all computed per (model, epoch) checkpoint:
//   W     the raw weights flattened ([W|b] of every layer, layer order), only for small models;
//   s(W)  per layer of the raw [W|b] values: mean, variance, 1/25/50/75/99 percentiles (7 per layer);
//   SANE  the token latents of a trained SANE run (preprocessed as in training), pooled: their
//         mean (the paper's), per-layer means (`layers`) or all of them (`tokens`).
// Samples of one model stay in one split: train / validation / test are the zoo's model-level split.
//
// Shape legend: M checkpoints, P raw parameters, L layers, d_z latent width.

import Foundation
import SaneAnalysis
import SaneData
import SaneTensor

/// A feature set of the probe (a column of Table 1).
public enum ProbeMethod: Hashable, Codable, Sendable, CustomStringConvertible {
    /// The raw weights flattened.
    case weights
    /// Per-layer statistics s(W).
    case statistics
    /// SANE embeddings under a pooling of the token latents.
    case sane(EmbeddingPooling)
    /// The control of `sane`: the same run's autoencoder before training
    /// (`SANEEncoder.untrainedControl`), same pooling.
    case untrained(EmbeddingPooling)

    /// The column name: "W", "s(W)", "SANE" (mean pooling, the paper's), "SANE layers", "SANE tokens",
    /// "untrained SANE", "untrained SANE layers", ….
    public var description: String {
        switch self {
        case .weights: "W"
        case .statistics: "s(W)"
        case .sane(.mean): "SANE"
        case .sane(let pooling): "SANE \(pooling.rawValue)"
        case .untrained(let pooling): "untrained " + ProbeMethod.sane(pooling).description
        }
    }

    /// The pooling of a SANE method (trained or untrained), nil for the baselines.
    public var pooling: EmbeddingPooling? {
        switch self {
        case .sane(let p), .untrained(let p): p
        default: nil
        }
    }

    /// Every method: the two baselines, SANE under each pooling, then its untrained control.
    public static let all: [ProbeMethod] = [.weights, .statistics] + EmbeddingPooling.allCases.map { .sane($0) }
        + EmbeddingPooling.allCases.map { .untrained($0) }

    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let method = ProbeMethod.all.first(where: { $0.description == name }) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown probe method '\(name)'"))
        }
        self = method
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A predicted property (a row of Table 1).
public enum ProbeTarget: String, CaseIterable, Codable, Sendable {
    case testAccuracy = "test_acc"
    /// The checkpoint's `training_iteration`.
    case epoch
    /// train_acc − test_acc.
    case ggap

    public func value(of label: CheckpointLabel) -> Double {
        switch self {
        case .testAccuracy: label.testAccuracy
        case .epoch: label.epoch.map(Double.init) ?? .nan
        case .ggap: label.ggap
        }
    }
}

/// Features and labels of every selected checkpoint of a zoo, for the probe — or of checkpoints
/// whose properties a probe fitted on a zoo predicts (`PropertyProbe.run(_:predicting:)`).
public struct ProbeDataset: Sendable {
    /// [M] split order (train, validation, test), models in split order, epochs ascending; for
    /// checkpoint files, file order (split "none", targets NaN).
    public var labels: [CheckpointLabel]
    /// Per method [M][features]: W (M, P), s(W) (M, 7·L), SANE (M, d_z | L·d_z | N·d_z). A method is absent when
    /// it was not computed (no run given, or more than `weightLimit` parameters for W).
    public var features: [ProbeMethod: [[Double]]]
    /// Checkpoints left out (unusable weights, or no recorded test/train accuracy), described.
    public var skipped: [String]
    /// The token layout the W and s(W) features follow (nil when built from given features).
    public var layout: TokenLayout?

    /// Loads every checkpoint of `source` (a zoo at `epochs`, nil = all; or checkpoint files) and
    /// computes the features.
    /// - Parameters:
    ///   - requireTargets: fitting a probe needs recorded targets: checkpoints without test/train
    ///     accuracy are left out, and a source of checkpoint files is an error. Without it (checkpoints
    ///     to predict) every checkpoint is kept, unknown targets NaN.
    ///   - layout: the layout the W and s(W) features must follow (the fitted probe's
    ///     `layout`); nil = the first checkpoint's.
    ///   - encoder: a trained run for the SANE features; nil computes the baselines only.
    ///   - control: the untrained control of `encoder` (`encoder.untrainedControl()`), embedded
    ///     with the same poolings into the `.untrained` methods; nil leaves them out.
    ///   - splitSeed: seed of the model-level split; nil = the run's seed for this zoo, else 42.
    ///   - weightLimit: largest parameter count for which the W baseline is computed.
    ///   - poolings: the SANE feature sets, one per pooling of the token latents (all from one
    ///     encoding of each checkpoint).
    ///   - communicator: with several ranks each computes the features of a contiguous block of
    ///     the models and every rank receives all of them in the same order (each model is
    ///     encoded on its own, so the result equals a single process's).
    ///   - progress: called with (models done, models total) of this rank.
    public init(source: CheckpointSource, encoder: SANEEncoder? = nil, control: SANEEncoder? = nil, epochs: [Int]? = nil,
                splitSeed: Int? = nil, weightLimit: Int = 10_000, poolings: [EmbeddingPooling] = [.mean, .layers],
                requireTargets: Bool = true, layout: TokenLayout? = nil,
                communicator: Communicator = SingleProcess(), progress: ((Int, Int) -> Void)? = nil) throws {
        if requireTargets {
            _ = try source.requireZoo(for: "fitting a probe", hint: "fit the probe on a zoo and pass these checkpoints to --predict")
        }
        let seed = splitSeed ?? encoder?.splitSeed(for: source) ?? 42
        let tokenizer = Tokenizer(encoder?.manifest.tokenizer ?? TokenizerConfig())
        labels = []
        skipped = []
        var rows: [ProbeMethod: [[Double]]] = [:]
        var layout = layout
        let work = try source.models(epochs: epochs, seed: seed)
        let mine = Array(work[communicator.share(of: work.count)])
        for (done, model) in mine.enumerated() {
            defer { progress?(done + 1, mine.count) }
            let loaded = try model.load()
            skipped += loaded.skipped
            let hasTargets = { (c: SourceCheckpoint) in c.result?.testAccuracy != nil && c.result?.trainAccuracy != nil }
            let checkpoints = requireTargets ? loaded.checkpoints.filter(hasTargets) : loaded.checkpoints
            skipped += requireTargets ? loaded.checkpoints.filter { !hasTargets($0) }
                .map { "\($0.model) epoch \($0.epoch.map(String.init) ?? "-"): no test_acc/train_acc in result.json" } : []
            guard let first = checkpoints.first else { continue }
            let modelLayout = try layout ?? tokenizer.layout(for: first.stateDict)
            layout = modelLayout
            for checkpoint in checkpoints {
                let layers: [[Float]]                                                                  // L × [c_out·r']
                do { layers = try ProbeDataset.layerValues(checkpoint.stateDict, layout: modelLayout) } catch let e as SaneError {
                    throw SaneError("\(checkpoint.file.path): \(e.message)", hint: e.hint)
                }
                rows[.statistics, default: []].append(WeightStatistics.features(layers: layers))
                if layers.reduce(0, { $0 + $1.count }) <= weightLimit {
                    rows[.weights, default: []].append(layers.flatMap { $0.map(Double.init) })
                }
            }
            if let encoder {
                let index = try encoder.preprocessingIndex(for: source, sample: first)   // every model: a misfit names its file
                for embeddings in try encoder.embed(trajectory: checkpoints.map(\.stateDict), zoo: index, poolings: poolings) {
                    for (pooling, e) in zip(poolings, embeddings) { rows[.sane(pooling), default: []].append(e.map(Double.init)) }
                }
                for embeddings in try control?.embed(trajectory: checkpoints.map(\.stateDict), zoo: index, poolings: poolings) ?? [] {
                    for (pooling, e) in zip(poolings, embeddings) { rows[.untrained(pooling), default: []].append(e.map(Double.init)) }
                }
            }
            labels += checkpoints.map { CheckpointLabel($0, split: model.split) }
        }
        if communicator.size > 1 {
            struct Part: Codable { var labels: [CheckpointLabel]; var skipped: [String]; var rows: [ProbeMethod: [[Double]]] }
            let parts = try communicator.allGathered(Part(labels: labels, skipped: skipped, rows: rows))
            labels = parts.flatMap(\.labels)
            skipped = parts.flatMap(\.skipped)
            rows = [:]
            for part in parts { for (method, r) in part.rows { rows[method, default: []] += r } }
        }
        let count = labels.count
        features = rows.filter { $0.value.count == count }
        self.layout = layout
        guard !labels.isEmpty else {
            throw SaneError("no usable checkpoints in \(source)\(source.zoo == nil ? "" : " at the selected epochs")\(skipped.first.map { " (skipped: \($0))" } ?? "")",
                            hint: "check --epochs against the epochs the zoo has (sane zoo info ZOO)")
        }
    }

    /// A data set from given labels and features (rows in the order of `labels`).
    public init(labels: [CheckpointLabel], features: [ProbeMethod: [[Double]]], skipped: [String] = []) {
        self.labels = labels; self.features = features; self.skipped = skipped
    }

    /// The raw values of each tokenized layer of `stateDict`: the weight's values, then the bias.
    /// - Returns: L arrays of c_out·r' values (r' = r + 1 with a bias).
    public static func layerValues(_ stateDict: StateDict, layout: TokenLayout) throws -> [[Float]] {
        try layout.layers.map { layer in
            guard let weight = stateDict[layer.weightKey], weight.shape == layer.weightShape else {
                throw SaneError("checkpoint has no '\(layer.weightKey)' of shape \(layer.weightShape)",
                                hint: "every checkpoint probed (and predicted) must have the architecture of the first")
            }
            return weight.scalars + (layer.biasKey.flatMap { stateDict[$0]?.scalars } ?? [])
        }
    }
}

/// The outcome of `PropertyProbe.run`: R² per target and method, and the test predictions.
public struct PropertyProbeReport: Codable, Sendable {
    /// One fitted probe.
    public struct Score: Codable, Sendable {
        public var target: ProbeTarget
        public var method: ProbeMethod
        public var features: Int
        /// λ chosen on the validation split.
        public var lambda: Double
        public var trainR2: Double
        public var validationR2: Double
        public var testR2: Double
        /// The shuffled-label control: the same probe (λ on validation) fitted to the train
        /// split's targets permuted by a seeded generator; what the probe finds without a
        /// relation between features and target.
        public var shuffledValidationR2: Double
        public var shuffledTestR2: Double
    }

    /// The pooling of the SANE latents chosen for one target by validation R² (`--pooling auto`):
    /// for the trained run, for its untrained control and for the shuffled-label probe of the
    /// trained run, each by its own validation R² among the poolings probed.
    public struct PoolingChoice: Codable, Sendable {
        public var target: ProbeTarget
        public var trained: EmbeddingPooling
        public var untrained: EmbeddingPooling?
        public var shuffled: EmbeddingPooling
    }

    /// Whether the trained SANE beats its controls on one target, decided on validation R²:
    /// it does when its validation R² exceeds both the untrained control's and the
    /// shuffled-label probe's by at least `margin` (`PropertyProbe.controlMargin`).
    public struct ControlVerdict: Codable, Sendable {
        public var target: ProbeTarget
        /// "mean", "layers", "tokens", or "auto" (each side's pooling chosen on validation).
        public var pooling: String
        public var trainedValidationR2: Double
        public var untrainedValidationR2: Double?
        public var shuffledValidationR2: Double
        public var trainedTestR2: Double
        public var untrainedTestR2: Double?
        public var shuffledTestR2: Double
        public var margin: Double
        /// Decided on validation only; false where the untrained control was not computed.
        public var beatsControls: Bool
    }

    /// One checkpoint (of the test split, or one predicted): true targets and every method's prediction.
    public struct Prediction: Codable, Sendable {
        /// The zoo model, or the checkpoint file's name.
        public var model: String
        /// nil for a checkpoint file outside a zoo.
        public var epoch: Int?
        /// target → true value (NaN where unknown, as for checkpoint files)
        public var truth: [String: Double]
        /// target → method → predicted value
        public var predicted: [String: [String: Double]]
    }

    public var zoo: String
    /// nil = all epochs.
    public var epochs: [Int]?
    /// Checkpoints per split, e.g. ["train": 363, "validation": 77, "test": 88].
    public var samples: [String: Int]
    public var scores: [Score]
    /// Per target, the pooling chosen by validation R² (empty without SANE features).
    public var poolingChoices: [PoolingChoice]
    /// Trained SANE vs its untrained control and the shuffled-label probe (empty without SANE features).
    public var verdicts: [ControlVerdict]
    /// Seed of the generator that permutes the train targets for the shuffled-label probe.
    public var shuffleSeed: UInt64
    /// The run checkpoint probed (nil: the latest) and, when it was chosen on validation, how.
    public var runEpoch: Int?
    public var checkpointSelection: CheckpointSelection?
    public var testPredictions: [Prediction]
    /// What was predicted (`--predict`: a zoo, folder or file) and its checkpoints' predictions by
    /// the probes fitted here (train split, λ chosen on validation); nil when nothing was.
    public var predicted: String?
    public var predictions: [Prediction]?
    public var skipped: [String]
    /// With `sane probe --splits K`, K > 1: every split's probe and the aggregates over the splits
    /// (split 0 is the one the fields above describe); nil (absent from probe.json) for one split.
    public var repeatedSplits: RepeatedSplitsReport?

    /// For `target`, the probed method with the highest validation R² among W, s(W) and the
    /// trained SANE's poolings (the untrained control is never chosen); test R² plays no part.
    public func chosenMethod(for target: ProbeTarget) -> ProbeMethod? {
        scores.filter { s in
            if case .untrained = s.method { return false }
            return s.target == target && s.validationR2.isFinite
        }.max { $0.validationR2 < $1.validationR2 }?.method
    }

    public func score(_ target: ProbeTarget, _ method: ProbeMethod) -> Score? {
        scores.first { $0.target == target && $0.method == method }
    }

    /// The methods that were probed, in `ProbeMethod.all` order.
    public var methods: [ProbeMethod] { ProbeMethod.all.filter { m in scores.contains { $0.method == m } } }

    /// Test R², rows = targets, columns = W, s(W), SANE (each pooling probed; "—" where a
    /// method was not computed): the layout of the paper's Table 1.
    /// With SANE features, a last column "SANE auto": the test R² of the pooling chosen on
    /// validation, and which one.
    public var table: Table {
        let auto = !poolingChoices.isEmpty
        return Table(header: ["target"] + methods.map(\.description) + (auto ? ["SANE auto (val choice)"] : []),
                     rows: ProbeTarget.allCases.map { target in
                         let chosen = poolingChoices.first { $0.target == target }.flatMap { c in
                             score(target, .sane(c.trained)).map { String(format: "%.3f (%@)", $0.testR2, c.trained.rawValue) }
                         }
                         return [target.rawValue] + methods.map { method in
                             score(target, method).map { String(format: "%.3f", $0.testR2) } ?? "—"
                         } + (auto ? [chosen ?? "—"] : [])
                     })
    }

    /// Every fitted probe with its feature count, λ, train / validation / test R² and the
    /// shuffled-label control's validation / test R².
    public var detailTable: Table {
        Table(header: ["target", "method", "features", "λ", "train R²", "val R²", "test R²", "shuffled val R²", "shuffled test R²"],
              rows: scores.map { s in
                  [s.target.rawValue, s.method.description, String(s.features), String(format: "%g", s.lambda),
                   String(format: "%.3f", s.trainR2), String(format: "%.3f", s.validationR2), String(format: "%.3f", s.testR2),
                   String(format: "%.3f", s.shuffledValidationR2), String(format: "%.3f", s.shuffledTestR2)]
              })
    }

    /// Trained SANE vs untrained SANE vs shuffled labels, validation and test R², and the verdict.
    public var controlTable: Table {
        func f(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "—" }
        return Table(header: ["target", "pooling", "trained val", "untrained val", "shuffled val",
                              "trained test", "untrained test", "shuffled test", "beats controls (val, margin)"],
                     rows: verdicts.map { v in
                         [v.target.rawValue, v.pooling, f(v.trainedValidationR2), f(v.untrainedValidationR2), f(v.shuffledValidationR2),
                          f(v.trainedTestR2), f(v.untrainedTestR2), f(v.shuffledTestR2),
                          (v.beatsControls ? "yes" : "NO") + String(format: " (%.2f)", v.margin)]
                     })
    }

    /// Key-sorted, pretty JSON; non-finite numbers as "nan", "inf", "-inf".
    public func jsonData() throws -> Data { try SaneJSON.encode(self) }
}

public enum PropertyProbe {
    /// Fits a ridge probe for every target and every method of `data` (train split), picks λ
    /// from `RidgeProbe.lambdas` by validation R² and reports test R²
    /// R² = 1 − mean((y − ŷ)²) / mean((y − ȳ)²). Features are standardized with the train
    /// statistics; the intercept is not penalized (see `RidgeProbe.fit`).
    ///
    /// Deviation from the s(W) reference values of /work/shared/zoos/README.md: that script
    /// penalizes the intercept with the weights (a column of ones in the ridge system). With the
    /// same features the two agree on mnist-cnn-seed 0–10 and differ where the chosen λ is large
    /// (Tests/SaneTests/ProbeTests.swift reproduces the README with the penalized form).
    /// How much higher the trained SANE's validation R² must be than each control's for a
    /// claim about it to stand.
    public static let controlMargin = 0.05

    /// Also fits every probe to shuffled train targets (a seeded permutation per target, the
    /// same for every method) and, for the SANE methods, chooses the pooling per target by
    /// validation R² and compares trained SANE with its controls (`ControlVerdict`).
    ///
    /// With `other` (checkpoints outside the fit, `ProbeDataset(requireTargets: false, layout:
    /// data.layout)`), every fitted probe also predicts their targets (`predictions`, named
    /// `otherName`); they must have the same features as `data`.
    public static func run(_ data: ProbeDataset, zoo: String, epochs: [Int]?, shuffleSeed: UInt64 = 0,
                           predicting other: ProbeDataset? = nil, named otherName: String? = nil) throws -> PropertyProbeReport {
        let indices = Dictionary(grouping: data.labels.indices) { data.labels[$0].split }
        let train = indices["train"] ?? [], validation = indices["validation"] ?? [], test = indices["test"] ?? []
        guard !train.isEmpty, !validation.isEmpty, !test.isEmpty else {
            throw SaneError("the probe needs checkpoints in every split, got \(train.count) train / \(validation.count) validation / \(test.count) test",
                            hint: "use a zoo with at least 7 models (70/15/15 split by model)")
        }
        var scores: [PropertyProbeReport.Score] = []
        func prediction(_ label: CheckpointLabel) -> PropertyProbeReport.Prediction {
            PropertyProbeReport.Prediction(model: label.model, epoch: label.epoch,
                                           truth: Dictionary(uniqueKeysWithValues: ProbeTarget.allCases.map { ($0.rawValue, $0.value(of: label)) }),
                                           predicted: [:])
        }
        var predictions = test.map { prediction(data.labels[$0]) }
        var otherPredictions = other?.labels.map(prediction)
        if let other {
            for (method, x) in data.features {
                guard let y = other.features[method], y.first?.count == x.first?.count else {
                    throw SaneError("the checkpoints to predict have no \(method) features of the fitted probe's width (\(x.first?.count ?? 0))",
                                    hint: "predict checkpoints of the fitted zoo's architecture, with the same run and --weight-limit")
                }
            }
        }
        for (t, target) in ProbeTarget.allCases.enumerated() {
            let y = data.labels.map(target.value)
            var g = SeededGenerator(seed: shuffleSeed &+ UInt64(t))
            let permutation = g.permutation(train.count)
            let shuffledTrain = permutation.map { train[$0] }
            for method in ProbeMethod.all {
                guard let x = data.features[method] else { continue }
                func split(_ rows: [Int], targets: [Int]? = nil) -> ProbeSplit {
                    ProbeSplit(features: rows.map { x[$0] }, targets: (targets ?? rows).map { y[$0] })
                }
                let result = try RidgeProbe.fit(train: split(train), validation: split(validation), test: split(test))
                let shuffled = try RidgeProbe.fit(train: split(train, targets: shuffledTrain), validation: split(validation), test: split(test))
                scores.append(.init(target: target, method: method, features: x[0].count, lambda: result.lambda,
                                    trainR2: result.trainR2, validationR2: result.validationR2, testR2: result.testR2,
                                    shuffledValidationR2: shuffled.validationR2, shuffledTestR2: shuffled.testR2))
                for (k, value) in result.testPredictions.enumerated() {
                    predictions[k].predicted[target.rawValue, default: [:]][method.description] = value
                }
                if let rows = other?.features[method] {
                    for (k, value) in result.model.predict(rows).enumerated() {
                        otherPredictions![k].predicted[target.rawValue, default: [:]][method.description] = value
                    }
                }
            }
        }
        let (choices, verdicts) = controls(scores)
        return PropertyProbeReport(zoo: zoo, epochs: epochs,
                                   samples: ["train": train.count, "validation": validation.count, "test": test.count],
                                   scores: scores, poolingChoices: choices, verdicts: verdicts, shuffleSeed: shuffleSeed,
                                   testPredictions: predictions, predicted: other == nil ? nil : otherName,
                                   predictions: otherPredictions, skipped: data.skipped)
    }

    /// Pooling choices by validation R² and the verdicts against the controls, per target: one
    /// verdict per pooling probed, then one for the pooling chosen on validation ("auto").
    static func controls(_ scores: [PropertyProbeReport.Score]) -> ([PropertyProbeReport.PoolingChoice], [PropertyProbeReport.ControlVerdict]) {
        var choices: [PropertyProbeReport.PoolingChoice] = []
        var verdicts: [PropertyProbeReport.ControlVerdict] = []
        for target in ProbeTarget.allCases {
            let rows = scores.filter { $0.target == target }
            let trained = rows.filter { if case .sane = $0.method { true } else { false } }
            let untrained = rows.filter { if case .untrained = $0.method { true } else { false } }
            guard let bestTrained = trained.max(by: { $0.validationR2 < $1.validationR2 }),
                  let bestShuffled = trained.max(by: { $0.shuffledValidationR2 < $1.shuffledValidationR2 }) else { continue }
            let bestUntrained = untrained.max { $0.validationR2 < $1.validationR2 }
            choices.append(.init(target: target, trained: bestTrained.method.pooling!, untrained: bestUntrained?.method.pooling,
                                 shuffled: bestShuffled.method.pooling!))
            func verdict(_ pooling: String, _ t: PropertyProbeReport.Score, _ u: PropertyProbeReport.Score?, shuffledVal: Double, shuffledTest: Double) -> PropertyProbeReport.ControlVerdict {
                let beats = u.map { t.validationR2 >= $0.validationR2 + controlMargin && t.validationR2 >= shuffledVal + controlMargin } ?? false
                return .init(target: target, pooling: pooling, trainedValidationR2: t.validationR2, untrainedValidationR2: u?.validationR2,
                             shuffledValidationR2: shuffledVal, trainedTestR2: t.testR2, untrainedTestR2: u?.testR2,
                             shuffledTestR2: shuffledTest, margin: controlMargin, beatsControls: beats)
            }
            for t in trained {
                let u = untrained.first { $0.method.pooling == t.method.pooling }
                verdicts.append(verdict(t.method.pooling!.rawValue, t, u, shuffledVal: t.shuffledValidationR2, shuffledTest: t.shuffledTestR2))
            }
            verdicts.append(verdict("auto (\(bestTrained.method.pooling!.rawValue))", bestTrained, bestUntrained,
                                    shuffledVal: bestShuffled.shuffledValidationR2, shuffledTest: bestShuffled.shuffledTestR2))
        }
        return (choices, verdicts)
    }
}

/// Choosing the checkpoint of a SANE run on validation data: every kept checkpoint is probed
/// (SANE features only, every target) and the one with the highest mean validation R² over the
/// targets, each with its pooling chosen on validation, wins (ties: the later epoch). With
/// repeated splits (`splitCount` > 1) the score is that mean averaged over the splits, each split
/// choosing its poolings on its own validation models. Test numbers play no part.
public struct CheckpointSelection: Codable, Sendable {
    /// The rule, in words, for the report.
    public static let rule = "highest mean validation R² over test_acc, epoch and ggap (pooling chosen per target on validation)"
    /// The rule with `count` repeated splits.
    public static func rule(splits count: Int) -> String { count > 1 ? rule + ", averaged over \(count) model splits" : rule }
    /// (run epoch, mean validation R²) for every kept checkpoint, ascending.
    public var candidates: [Candidate]
    public var chosenEpoch: Int
    public var rule = CheckpointSelection.rule

    public struct Candidate: Codable, Sendable {
        public var epoch: Int
        public var meanValidationR2: Double
    }

    /// - Parameters:
    ///   - epochs: the checkpoints of `run` to compare (`RunFolder.checkpointEpochs()`).
    ///   - zooEpochs: the zoo checkpoints probed (nil = all).
    ///   - splitCount, splitSeed: the repeated splits (`RepeatedSplits.draw`; 1 = the run's split only).
    public init(run: RunFolder, epochs: [Int], zoo: Zoo, zooEpochs: [Int]?, poolings: [EmbeddingPooling],
                splitCount: Int = 1, splitSeed: UInt64 = 0, progress: ((Int, Int) -> Void)? = nil) throws {
        guard !epochs.isEmpty else {
            throw SaneError("run \(run.url.path) keeps no per-epoch checkpoints to choose from",
                            hint: "train with `sane pretrain --keep-every N`, or pass --run-epoch")
        }
        candidates = []
        for (i, epoch) in epochs.enumerated() {
            let encoder = try SANEEncoder(run: run, epoch: epoch)
            let splits = try RepeatedSplits.draw(zoo: zoo, firstSeed: encoder.splitSeed(for: zoo), count: splitCount, seed: splitSeed)
            let data = try ProbeDataset(source: CheckpointSource(zoo: zoo), encoder: encoder, epochs: zooEpochs, weightLimit: 0, poolings: poolings)
            let report = try PropertyProbe.run(data, splits: splits, splitSeed: splitSeed, zoo: zoo.directory.path, epochs: zooEpochs)
            let score = report.repeatedSplits?.meanChosenValidationR2
                ?? RepeatedSplitsReport.SplitResult(index: 0, models: splits[0], report).meanChosenValidationR2
            candidates.append(.init(epoch: epoch, meanValidationR2: score))
            progress?(i + 1, epochs.count)
        }
        chosenEpoch = candidates.max { ($0.meanValidationR2, $0.epoch) < ($1.meanValidationR2, $1.epoch) }!.epoch
        rule = CheckpointSelection.rule(splits: splitCount)
    }
}

/// What a probe fitted on a zoo predicts for checkpoints outside it (`sane probe --predict`):
/// every target by every method, and per target the method chosen on validation R²
/// (`PropertyProbeReport.chosenMethod`). Written as predictions.json and predictions.csv.
public struct ProbePredictions: Codable, Sendable {
    /// The method chosen for a target, with the fitted probe's validation and test R² on the zoo.
    public struct Choice: Codable, Sendable {
        public var target: ProbeTarget
        public var method: String
        public var validationR2: Double
        public var testR2: Double
    }

    /// The zoo the probes were fitted on.
    public var zoo: String
    /// The zoo, folder or file predicted.
    public var predicted: String
    public var chosen: [Choice]
    /// One per checkpoint predicted (truth NaN where unknown).
    public var checkpoints: [PropertyProbeReport.Prediction]

    /// The predictions of `report`; nil when it predicted nothing.
    public init?(_ report: PropertyProbeReport) {
        guard let predictions = report.predictions, let predicted = report.predicted else { return nil }
        zoo = report.zoo
        self.predicted = predicted
        checkpoints = predictions
        chosen = ProbeTarget.allCases.compactMap { target in
            report.chosenMethod(for: target).flatMap { m in report.score(target, m) }.map {
                Choice(target: target, method: $0.method.description, validationR2: $0.validationR2, testR2: $0.testR2)
            }
        }
    }

    /// The methods with a prediction, in `ProbeMethod.all` order.
    var methods: [String] {
        ProbeMethod.all.map(\.description).filter { m in checkpoints.contains { $0.predicted.values.contains { $0[m] != nil } } }
    }

    /// One row per checkpoint: `checkpoint`, `epoch` (empty for files), `predicted <target>` by the
    /// chosen method, then `<target> by <method>` for every method, then `true <target>` (empty
    /// where unknown). Fields with a comma, quote or line break are quoted.
    public var csv: String {
        func field(_ s: String) -> String {
            s.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func number(_ v: Double?) -> String { v.map { $0.isFinite ? String($0) : "" } ?? "" }
        let targets = ProbeTarget.allCases.map(\.rawValue), methods = methods
        let header = ["checkpoint", "epoch"] + chosen.map { "predicted \($0.target.rawValue)" }
            + targets.flatMap { t in methods.map { "\(t) by \($0)" } } + targets.map { "true \($0)" }
        let rows = checkpoints.map { p in
            [p.model, p.epoch.map(String.init) ?? ""] + chosen.map { number(p.predicted[$0.target.rawValue]?[$0.method]) }
                + targets.flatMap { t in methods.map { number(p.predicted[t]?[$0]) } } + targets.map { number(p.truth[$0]) }
        }
        return ([header] + rows).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// Key-sorted, pretty JSON; non-finite numbers as "nan", "inf", "-inf".
    public func jsonData() throws -> Data { try SaneJSON.encode(self) }
}
