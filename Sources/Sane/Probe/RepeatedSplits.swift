// Repeated model-level splits for the property probe (`sane probe --splits K`).
//
// On a small zoo one 70/15/15 split by model leaves a handful of validation and test models, and
// the test R² moves with the split (±0.1 on a 16-model ResNet zoo). K seeded splits, each probed
// with the whole protocol of `PropertyProbe.run` (λ per method and pooling per target chosen on
// that split's validation models, shuffled-label and untrained controls, test R² once), show
// that spread. The features are computed once: every split reuses the same `ProbeDataset` rows,
// only the labels' split changes. Split 0 is the run's split, so its numbers equal a one-split probe.
//
// Aggregates over the K splits: mean, sample standard deviation sd = √(Σ(v − v̄)² / (K − 1)),
// min and max of test R²; mean validation R²; per control comparison the number of splits in
// which the claim rule holds; and per split the difference SANE auto − s(W) of test R².

import Foundation
import SaneAnalysis
import SaneData
import SaneTensor

/// One model-level split of a zoo: the model names of train, validation and test, in split order.
public struct ModelSplit: Codable, Hashable, Sendable {
    public var train: [String]
    public var validation: [String]
    public var test: [String]

    public init(train: [String], validation: [String], test: [String]) {
        self.train = train; self.validation = validation; self.test = test
    }

    /// The zoo's split with `seed` (`Zoo.splitNames`: the Model Zoos reference split).
    public init(zoo: Zoo, seed: Int) {
        let names = zoo.splitNames(seed: seed)
        self.init(train: names[.train]!, validation: names[.validation]!, test: names[.test]!)
    }

    /// The split `model` is in; nil when it is in none.
    public func split(of model: String) -> ZooSplit? {
        train.contains(model) ? .train : validation.contains(model) ? .validation : test.contains(model) ? .test : nil
    }

    /// The partition regardless of order within each part (two splits with the same key put
    /// every model in the same part).
    var key: [[String]] { [train.sorted(), validation.sorted(), test.sorted()] }
}

public enum RepeatedSplits {
    /// How the spread is computed, for the report.
    public static let rule = "split 0 is the run's split, splits 1…K−1 are distinct seeded 70/15/15 splits by model; "
        + "each split chooses λ and pooling on its own validation models; mean ± sample std (n−1), min–max over splits"

    /// Refuses a split count below 1 (one line with a hint).
    /// The most splits one probe runs (each split reruns the whole protocol and keeps its results).
    public static let maximumCount = 1000

    public static func validate(count: Int) throws {
        guard (1...maximumCount).contains(count) else {
            throw SaneError("--splits must be 1 or more and at most \(maximumCount), got \(count)",
                            hint: "1 probes the run's split only; 5–10 show how test R² moves with the split on a small zoo")
        }
    }

    /// `count` distinct model-level splits of `zoo`: `first` (the run's split, `ModelSplit(zoo:seed:)`),
    /// then splits drawn from a `SeededGenerator(seed: seed)` with the sizes of `first` (70/15/15):
    /// each draw shuffles the sorted model names (Fisher–Yates) and cuts them; a draw equal to an
    /// earlier split as a partition is drawn again.
    /// Errors: `count` < 1; for `count` > 1, fewer than 3 models, an empty validation or test part,
    /// or fewer distinct splits than `count`.
    public static func draw(models names: [String], first: ModelSplit, count: Int, seed: UInt64) throws -> [ModelSplit] {
        try validate(count: count)
        guard count > 1 else { return [first] }
        let n = names.count
        let sizes = (first.train.count, first.validation.count, first.test.count)
        guard n >= 3 else {
            throw SaneError("--splits \(count): a zoo of \(n) model\(n == 1 ? "" : "s") cannot be split into train, validation and test",
                            hint: "repeated splits need a zoo of at least 7 models (70/15/15 by model)")
        }
        guard sizes.1 > 0, sizes.2 > 0, sizes.0 + sizes.1 + sizes.2 == n else {
            throw SaneError("--splits \(count): the 70/15/15 split of \(n) models leaves \(sizes.0) train / \(sizes.1) validation / \(sizes.2) test models, so every split has an empty validation or test set",
                            hint: "repeated splits need a zoo of at least 7 models")
        }
        // n! / (a! b! c!) = C(n, a) · C(n − a, b), in Double (only compared with count).
        func choose(_ n: Int, _ k: Int) -> Double { (0..<k).reduce(1.0) { $0 * Double(n - $1) / Double($1 + 1) } }
        let distinct = (choose(n, sizes.0) * choose(n - sizes.0, sizes.1)).rounded()
        guard Double(count) <= distinct else {
            throw SaneError("--splits \(count): \(n) models have only \(Int(distinct)) distinct \(sizes.0)/\(sizes.1)/\(sizes.2) splits by model",
                            hint: "use --splits \(Int(distinct)) or fewer")
        }
        let sorted = names.sorted()
        var g = SeededGenerator(seed: seed)
        var splits = [first], seen: Set<[[String]]> = [first.key]
        while splits.count < count {
            let shuffled = g.permutation(n).map { sorted[$0] }
            let split = ModelSplit(train: Array(shuffled[..<sizes.0]), validation: Array(shuffled[sizes.0..<(sizes.0 + sizes.1)]),
                                   test: Array(shuffled[(sizes.0 + sizes.1)...]))
            if seen.insert(split.key).inserted { splits.append(split) }
        }
        return splits
    }

    /// `draw(models:first:count:seed:)` for a zoo whose run split it with `firstSeed`.
    public static func draw(zoo: Zoo, firstSeed: Int, count: Int, seed: UInt64) throws -> [ModelSplit] {
        try draw(models: zoo.models.map(\.name), first: ModelSplit(zoo: zoo, seed: firstSeed), count: count, seed: seed)
    }
}

extension ProbeDataset {
    /// The same checkpoints and features (nothing is recomputed) with every label's split set by
    /// `split`; rows keep their order.
    public func resplit(_ split: ModelSplit) throws -> ProbeDataset {
        var copy = self
        for i in copy.labels.indices {
            guard let part = split.split(of: copy.labels[i].model) else {
                throw SaneError("model \(copy.labels[i].model) is in none of the split's parts",
                                hint: "draw the splits from the zoo the probe data set was built from")
            }
            copy.labels[i].split = part.rawValue
        }
        return copy
    }
}

/// `sane probe --splits K` with K > 1: every split's probe and the aggregates over the splits.
public struct RepeatedSplitsReport: Codable, Sendable {
    /// One split's probe (`PropertyProbe.run` on the resplit data set).
    public struct SplitResult: Codable, Sendable {
        public var index: Int
        public var models: ModelSplit
        public var samples: [String: Int]
        public var scores: [PropertyProbeReport.Score]
        public var poolingChoices: [PropertyProbeReport.PoolingChoice]
        public var verdicts: [PropertyProbeReport.ControlVerdict]
        public var testPredictions: [PropertyProbeReport.Prediction]

        init(index: Int, models: ModelSplit, _ report: PropertyProbeReport) {
            self.index = index; self.models = models
            samples = report.samples; scores = report.scores; poolingChoices = report.poolingChoices
            verdicts = report.verdicts; testPredictions = report.testPredictions
        }

        /// The trained SANE's score with the pooling chosen for `target` on this split's validation models.
        public func autoScore(_ target: ProbeTarget) -> PropertyProbeReport.Score? {
            poolingChoices.first { $0.target == target }.flatMap { c in
                scores.first { $0.target == target && $0.method == .sane(c.trained) }
            }
        }

        /// Mean over the targets of the chosen pooling's validation R² (the checkpoint selection's score).
        public var meanChosenValidationR2: Double {
            let values = ProbeTarget.allCases.compactMap { autoScore($0)?.validationR2 }
            return values.reduce(0, +) / Double(max(values.count, 1))
        }
    }

    /// Values over splits (one per split, in split order) and their summary.
    public struct Spread: Codable, Sendable {
        public var values: [Double]
        public var mean: Double
        /// Sample standard deviation (n − 1); 0 for one value.
        public var std: Double
        public var min: Double
        public var max: Double

        public init(_ values: [Double]) {
            self.values = values
            let n = Double(values.count)
            mean = values.reduce(0, +) / n
            let m = mean
            std = values.count > 1 ? (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot() : 0
            min = values.min() ?? .nan
            max = values.max() ?? .nan
        }

        /// "0.712 ± 0.081"
        var meanStd: String { String(format: "%.3f ± %.3f", mean, std) }
        /// "0.601 – 0.846"
        var range: String { String(format: "%.3f – %.3f", min, max) }
    }

    /// Test and validation R² of one method (or "SANE auto") for one target over the splits.
    public struct MethodSummary: Codable, Sendable {
        public var target: ProbeTarget
        /// A `ProbeMethod` name, or "SANE auto" (the pooling chosen per split on validation).
        public var method: String
        public var test: Spread
        public var validation: Spread
        public var shuffledTest: Spread
        /// For "SANE auto": pooling → number of splits that chose it.
        public var chosen: [String: Int]?
    }

    /// One row of the controls table over the splits: means, and in how many splits the claim rule holds.
    public struct ControlSummary: Codable, Sendable {
        public var target: ProbeTarget
        /// "mean", "layers", "tokens" or "auto".
        public var pooling: String
        public var trainedValidationR2: Double
        public var untrainedValidationR2: Double?
        public var shuffledValidationR2: Double
        public var trainedTestR2: Double
        public var untrainedTestR2: Double?
        public var shuffledTestR2: Double
        public var margin: Double
        /// Splits in which the trained SANE beats both controls on validation by `margin`.
        public var splitsBeatingControls: Int
        public var splits: Int
    }

    /// Per target, test R² of SANE auto minus test R² of s(W), per split.
    public struct Difference: Codable, Sendable {
        public var target: ProbeTarget
        public var autoMinusStatistics: Spread
    }

    public var count: Int
    /// Seed of the generator that drew splits 1…K−1.
    public var splitSeed: UInt64
    public var rule = RepeatedSplits.rule
    public var splits: [SplitResult]
    public var methods: [MethodSummary]
    public var controls: [ControlSummary]
    public var differences: [Difference]

    /// Aggregates `splits` (split 0 first).
    public init(splitSeed: UInt64, splits: [SplitResult]) {
        self.splitSeed = splitSeed
        self.splits = splits
        count = splits.count
        methods = []
        controls = []
        differences = []
        let probed = ProbeMethod.all.filter { m in splits[0].scores.contains { $0.method == m } }
        for target in ProbeTarget.allCases {
            for method in probed {
                let scores = splits.compactMap { s in s.scores.first { $0.target == target && $0.method == method } }
                guard scores.count == splits.count else { continue }
                methods.append(.init(target: target, method: method.description, test: Spread(scores.map(\.testR2)),
                                     validation: Spread(scores.map(\.validationR2)), shuffledTest: Spread(scores.map(\.shuffledTestR2))))
            }
            let auto = splits.compactMap { $0.autoScore(target) }
            if auto.count == splits.count {
                let shuffled = splits.compactMap { s in s.verdicts.first { $0.target == target && $0.pooling.hasPrefix("auto") }?.shuffledTestR2 }
                methods.append(.init(target: target, method: "SANE auto", test: Spread(auto.map(\.testR2)), validation: Spread(auto.map(\.validationR2)),
                                     shuffledTest: Spread(shuffled), chosen: Dictionary(auto.map { ($0.method.pooling!.rawValue, 1) }, uniquingKeysWith: +)))
                let statistics = splits.compactMap { s in s.scores.first { $0.target == target && $0.method == .statistics } }
                if statistics.count == splits.count {
                    differences.append(.init(target: target, autoMinusStatistics: Spread(zip(auto, statistics).map { $0.testR2 - $1.testR2 })))
                }
            }
            let poolings = splits[0].verdicts.filter { $0.target == target }.map { Self.poolingName($0.pooling) }
            for pooling in poolings {
                let verdicts = splits.compactMap { s in s.verdicts.first { $0.target == target && Self.poolingName($0.pooling) == pooling } }
                guard verdicts.count == splits.count else { continue }
                func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
                func meanIfAll(_ v: [Double?]) -> Double? { v.contains { $0 == nil } ? nil : mean(v.map { $0! }) }
                controls.append(.init(target: target, pooling: pooling,
                                      trainedValidationR2: mean(verdicts.map(\.trainedValidationR2)),
                                      untrainedValidationR2: meanIfAll(verdicts.map(\.untrainedValidationR2)),
                                      shuffledValidationR2: mean(verdicts.map(\.shuffledValidationR2)),
                                      trainedTestR2: mean(verdicts.map(\.trainedTestR2)),
                                      untrainedTestR2: meanIfAll(verdicts.map(\.untrainedTestR2)),
                                      shuffledTestR2: mean(verdicts.map(\.shuffledTestR2)), margin: verdicts[0].margin,
                                      splitsBeatingControls: verdicts.filter(\.beatsControls).count, splits: verdicts.count))
            }
        }
    }

    /// "auto (layers)" → "auto"; other pooling names unchanged.
    static func poolingName(_ verdictPooling: String) -> String { verdictPooling.hasPrefix("auto") ? "auto" : verdictPooling }

    /// Mean over the splits of each split's mean chosen validation R² (the checkpoint selection's score).
    public var meanChosenValidationR2: Double { splits.map(\.meanChosenValidationR2).reduce(0, +) / Double(splits.count) }

    /// Per target and method: test R² mean ± std, min–max, mean validation R² and mean shuffled-label test R².
    public var table: Table {
        Table(header: ["target", "method", "test R² mean ± std", "test R² min – max", "mean val R²", "mean shuffled test R²"],
              rows: methods.map { m in
                  let chosen = m.chosen.map { c in " (" + c.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") + ")" } ?? ""
                  return [m.target.rawValue, m.method + chosen, m.test.meanStd, m.test.range, String(format: "%.3f", m.validation.mean),
                          String(format: "%.3f", m.shuffledTest.mean)]
              })
    }

    /// Per target, SANE auto − s(W) test R²: mean ± std, min–max and every split's value.
    public var differenceTable: Table {
        Table(header: ["target", "SANE auto − s(W) mean ± std", "min – max", "per split (0, 1, …)"],
              rows: differences.map { d in
                  [d.target.rawValue, d.autoMinusStatistics.meanStd, d.autoMinusStatistics.range,
                   d.autoMinusStatistics.values.map { String(format: "%+.3f", $0) }.joined(separator: " ")]
              })
    }

    /// The controls table of one split, with means over the splits and "k of K" for the claim rule.
    public var controlTable: Table {
        func f(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "—" }
        return Table(header: ["target", "pooling", "trained val", "untrained val", "shuffled val", "trained test", "untrained test",
                              "shuffled test", "beats controls (val, margin)"],
                     rows: controls.map { c in
                         [c.target.rawValue, c.pooling, f(c.trainedValidationR2), f(c.untrainedValidationR2), f(c.shuffledValidationR2),
                          f(c.trainedTestR2), f(c.untrainedTestR2), f(c.shuffledTestR2),
                          "\(c.splitsBeatingControls) of \(c.splits)" + String(format: " (%.2f)", c.margin)]
                     })
    }
}

extension PropertyProbe {
    /// `run` once per split of `splits` on the same features: split 0 must be the split `data`'s
    /// labels carry (it is the returned report, with `predicting` as in `run`); for more than
    /// one split, every split is probed with the whole protocol (the shuffled-label seed the same)
    /// and the report's `repeatedSplits` holds them and their aggregates. One split (or none
    /// given) returns `run`'s report unchanged.
    public static func run(_ data: ProbeDataset, splits: [ModelSplit], splitSeed: UInt64, zoo: String, epochs: [Int]?,
                           shuffleSeed: UInt64 = 0, predicting other: ProbeDataset? = nil, named otherName: String? = nil) throws -> PropertyProbeReport {
        var report = try run(data, zoo: zoo, epochs: epochs, shuffleSeed: shuffleSeed, predicting: other, named: otherName)
        guard splits.count > 1 else { return report }
        if let label = data.labels.first(where: { splits[0].split(of: $0.model)?.rawValue != $0.split }) {
            throw SaneError("split 0 puts model \(label.model) in \(splits[0].split(of: label.model)?.rawValue ?? "no split"), the probe data in \(label.split)",
                            hint: "split 0 must be the split the data set was built with (the run's)")
        }
        var results = [RepeatedSplitsReport.SplitResult(index: 0, models: splits[0], report)]
        for (k, split) in splits.enumerated().dropFirst() {
            let r = try run(data.resplit(split), zoo: zoo, epochs: epochs, shuffleSeed: shuffleSeed)
            results.append(.init(index: k, models: split, r))
        }
        report.repeatedSplits = RepeatedSplitsReport(splitSeed: splitSeed, splits: results)
        return report
    }
}
