import Foundation
import XCTest
@testable import Sane

/// `sane probe --splits K`: distinct seeded model-level splits, one probe protocol per split on
/// features computed once, and the aggregates over the splits (mean, sample std, min–max,
/// "k of K" for the controls, SANE auto − s(W)).
final class RepeatedSplitsTests: ScratchFolderTestCase {
    /// 20 models × 8 epochs: test_acc is planted in the trained SANE's mean features (0.5 + 0.1·x₀ −
    /// 0.05·x₁), every other feature set is noise. Split 0 cuts the sorted names 14/3/3.
    static func plantedData() throws -> (data: ProbeDataset, first: ModelSplit) {
        let names = (0..<20).map { String(format: "m%02d", $0) }
        let first = ModelSplit(train: Array(names[..<14]), validation: Array(names[14..<17]), test: Array(names[17...]))
        var g = SeededGenerator(seed: 11)
        var labels: [CheckpointLabel] = [], planted: [[Double]] = []
        for name in first.train + first.validation + first.test {
            for epoch in 0..<8 {
                let x = (0..<4).map { _ in Double(g.normal()) }
                var label = try JSONDecoder().decode(CheckpointLabel.self, from: Data(
                    #"{"model":"\#(name)","epoch":\#(epoch),"split":"\#(first.split(of: name)!.rawValue)","testAccuracy":0,"trainAccuracy":0,"ggap":0}"#.utf8))
                label.testAccuracy = 0.5 + 0.1 * x[0] - 0.05 * x[1]
                label.ggap = 0.01 * x[2]
                labels.append(label); planted.append(x)
            }
        }
        func noise(_ width: Int) -> [[Double]] { planted.map { _ in (0..<width).map { _ in Double(g.normal()) } } }
        let features: [ProbeMethod: [[Double]]] = [.statistics: noise(3), .sane(.mean): planted, .sane(.layers): noise(6),
                                                   .untrained(.mean): noise(4), .untrained(.layers): noise(6)]
        return (ProbeDataset(labels: labels, features: features), first)
    }

    static func sampleStd(_ v: [Double]) -> Double {
        let m = v.reduce(0, +) / Double(v.count)
        return (v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1)).squareRoot()
    }

    func testThreeSplitsAreDistinctAndAggregated() throws {
        let (data, first) = try Self.plantedData()
        let names = first.train + first.validation + first.test
        let splits = try RepeatedSplits.draw(models: names, first: first, count: 3, seed: 5)
        XCTAssertEqual(splits.count, 3)
        XCTAssertEqual(splits[0], first, "split 0 is the run's split")
        XCTAssertEqual(Set(splits.map(\.key)).count, 3, "three distinct partitions")
        for s in splits {
            XCTAssertEqual([s.train.count, s.validation.count, s.test.count], [14, 3, 3])
            XCTAssertEqual((s.train + s.validation + s.test).sorted(), names, "every model in exactly one part")
        }

        let report = try PropertyProbe.run(data, splits: splits, splitSeed: 5, zoo: "synthetic", epochs: nil, shuffleSeed: 3)
        let repeated = try XCTUnwrap(report.repeatedSplits)
        XCTAssertEqual(repeated.count, 3)
        XCTAssertEqual(repeated.splits.map(\.models), splits)
        XCTAssertEqual(repeated.splits[0].scores.map(\.testR2), report.scores.map(\.testR2), "split 0 is the report itself")
        for k in 1..<3 {
            let alone = try PropertyProbe.run(data.resplit(splits[k]), zoo: "synthetic", epochs: nil, shuffleSeed: 3)
            XCTAssertEqual(repeated.splits[k].scores.map(\.testR2), alone.scores.map(\.testR2), "split \(k) runs the one-split protocol")
            XCTAssertEqual(repeated.splits[k].samples, ["train": 112, "validation": 24, "test": 24])
            XCTAssertNotEqual(repeated.splits[k].scores.map(\.testR2), report.scores.map(\.testR2), "another split, other numbers")
        }

        // Aggregates equal mean / sample std / min / max of the per-split numbers.
        for m in repeated.methods where m.method != "SANE auto" {
            let values = repeated.splits.map { s in s.scores.first { $0.target == m.target && $0.method.description == m.method }!.testR2 }
            XCTAssertEqual(m.test.values, values)
            XCTAssertEqual(m.test.mean, values.reduce(0, +) / 3, accuracy: 1e-12)
            XCTAssertEqual(m.test.std, Self.sampleStd(values), accuracy: 1e-12)
            XCTAssertEqual(m.test.min, values.min()!); XCTAssertEqual(m.test.max, values.max()!)
            let validation = repeated.splits.map { s in s.scores.first { $0.target == m.target && $0.method.description == m.method }!.validationR2 }
            XCTAssertEqual(m.validation.mean, validation.reduce(0, +) / 3, accuracy: 1e-12)
        }
        XCTAssertEqual(repeated.methods.count, 3 * (5 + 1), "5 methods and SANE auto per target")
        for target in ProbeTarget.allCases {
            let auto = repeated.splits.map { s -> Double in
                let pooling = s.poolingChoices.first { $0.target == target }!.trained
                return s.scores.first { $0.target == target && $0.method == .sane(pooling) }!.testR2
            }
            let statistics = repeated.splits.map { s in s.scores.first { $0.target == target && $0.method == .statistics }!.testR2 }
            let autoRow = try XCTUnwrap(repeated.methods.first { $0.target == target && $0.method == "SANE auto" })
            XCTAssertEqual(autoRow.test.values, auto)
            XCTAssertEqual(autoRow.chosen?.values.reduce(0, +), 3)
            let difference = try XCTUnwrap(repeated.differences.first { $0.target == target })
            XCTAssertEqual(difference.autoMinusStatistics.values, zip(auto, statistics).map { $0 - $1 })
            XCTAssertEqual(difference.autoMinusStatistics.std, Self.sampleStd(zip(auto, statistics).map { $0 - $1 }), accuracy: 1e-12)
            for pooling in ["mean", "layers", "auto"] {
                let row = try XCTUnwrap(repeated.controls.first { $0.target == target && $0.pooling == pooling })
                let verdicts = repeated.splits.map { s in s.verdicts.first { $0.target == target && $0.pooling.hasPrefix(pooling) }! }
                XCTAssertEqual(row.splitsBeatingControls, verdicts.filter(\.beatsControls).count, "\(target) \(pooling)")
                XCTAssertEqual(row.splits, 3)
                XCTAssertEqual(row.trainedTestR2, verdicts.map(\.trainedTestR2).reduce(0, +) / 3, accuracy: 1e-12)
            }
        }
        let selectionScores = repeated.splits.map { s in
            ProbeTarget.allCases.map { t in s.autoScore(t)!.validationR2 }.reduce(0, +) / 3
        }
        XCTAssertEqual(repeated.meanChosenValidationR2, selectionScores.reduce(0, +) / 3, accuracy: 1e-12)

        // The planted signal is found in every split, the shuffled labels are not.
        let acc = try XCTUnwrap(repeated.methods.first { $0.target == .testAccuracy && $0.method == "SANE" })
        XCTAssertGreaterThan(acc.test.min, 0.95, "\(acc.test.values)")
        XCTAssertLessThan(acc.shuffledTest.mean, 0.2, "\(acc.shuffledTest.values)")
        XCTAssertLessThan(acc.shuffledTest.mean, acc.test.mean - 0.7)
        let accControl = try XCTUnwrap(repeated.controls.first { $0.target == .testAccuracy && $0.pooling == "mean" })
        XCTAssertEqual(accControl.splitsBeatingControls, 3, "noise controls lose in every split")
        let statisticsAcc = try XCTUnwrap(repeated.methods.first { $0.target == .testAccuracy && $0.method == "s(W)" })
        XCTAssertLessThan(statisticsAcc.test.mean, 0.3, "s(W) is noise here")

        // Same seed, same bytes; another seed, other splits.
        let again = try PropertyProbe.run(data, splits: RepeatedSplits.draw(models: names, first: first, count: 3, seed: 5), splitSeed: 5,
                                          zoo: "synthetic", epochs: nil, shuffleSeed: 3)
        XCTAssertEqual(try again.jsonData(), try report.jsonData())
        let other = try RepeatedSplits.draw(models: names, first: first, count: 3, seed: 6)
        XCTAssertNotEqual(other[1], splits[1])
        let decoded = try SaneJSON.decoder().decode(PropertyProbeReport.self, from: try report.jsonData())
        XCTAssertEqual(decoded.repeatedSplits?.splits.map(\.models), splits, "probe.json keeps every split")
    }

    /// One split is the one-split probe: same report, no `repeatedSplits` in probe.json.
    func testOneSplitIsTheOneSplitProbe() throws {
        let (data, first) = try Self.plantedData()
        let splits = try RepeatedSplits.draw(models: first.train + first.validation + first.test, first: first, count: 1, seed: 9)
        XCTAssertEqual(splits, [first])
        let one = try PropertyProbe.run(data, splits: splits, splitSeed: 9, zoo: "synthetic", epochs: nil, shuffleSeed: 3)
        let plain = try PropertyProbe.run(data, zoo: "synthetic", epochs: nil, shuffleSeed: 3)
        XCTAssertEqual(try one.jsonData(), try plain.jsonData())
        XCTAssertFalse(String(decoding: try one.jsonData(), as: UTF8.self).contains("repeatedSplits"))
    }

    /// Too few splits or models: one line with a hint.
    func testImpossibleSplitsAreRefused() throws {
        func names(_ n: Int) -> [String] { (0..<n).map { "m\($0)" } }
        func refused(_ n: Int, first: ModelSplit, count: Int, _ phrase: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try RepeatedSplits.draw(models: names(n), first: first, count: count, seed: 0), file: file, line: line) { error in
                guard let e = error as? SaneError else { return XCTFail("\(error)", file: file, line: line) }
                XCTAssertTrue(e.message.contains(phrase), e.description, file: file, line: line)
                XCTAssertNotNil(e.hint, file: file, line: line)
                XCTAssertFalse(e.description.contains("\n"), "one line", file: file, line: line)
            }
        }
        let seven = ModelSplit(train: names(4), validation: ["m4"], test: ["m5", "m6"])
        refused(7, first: seven, count: 0, "--splits must be 1 or more")
        refused(2, first: ModelSplit(train: ["m0", "m1"], validation: [], test: []), count: 2, "cannot be split")
        refused(6, first: ModelSplit(train: names(4), validation: [], test: ["m4", "m5"]), count: 2, "empty validation or test")
        refused(7, first: seven, count: 106, "only 105 distinct 4/1/2 splits")
        let all = try RepeatedSplits.draw(models: names(7), first: seven, count: 105, seed: 0)
        XCTAssertEqual(Set(all.map(\.key)).count, 105, "every distinct split of 7 models, none twice")
        XCTAssertEqual(try RepeatedSplits.draw(models: names(1), first: ModelSplit(train: [], validation: [], test: ["m0"]), count: 1, seed: 0).count, 1,
                       "one split needs no checks (the probe itself refuses empty parts)")
    }

    /// A tiny SANE run on 8 models: every checkpoint is embedded once for three splits (the data
    /// set's progress counts models), the controls run in every split, and the checkpoint
    /// selection scores a run epoch by the mean over the splits.
    func testTinyRunEmbedsOnceForThreeSplits() throws {
        let zooURL = scratch.appendingPathComponent("zoo")
        try SyntheticZoo.linkSeedModels(8, into: zooURL)
        let selection = ZooSelection(path: zooURL.path, epochs: [0, 1, 2])
        var config = SANEConfig.preset("tiny")!
        config.epochs = 2
        let tokenizer = TokenizerConfig(tokenSize: config.tokenSize)
        let weights = try WeightSpaceData(selections: [selection], tokenizer: Tokenizer(tokenizer), standardize: true, align: true,
                                          permutations: 1, seed: 1)
        let run = RunFolder(path: scratch.appendingPathComponent("run").path)
        try run.prepare(manifest: .init(config: config, zoos: [selection], tokenizer: tokenizer), preprocessing: weights.preprocessing)
        let trainer = try SANETrainer(run: run, config: config, data: weights)
        trainer.keepEvery = 1
        try trainer.train()

        let zoo = try Zoo(directory: zooURL)
        let encoder = try SANEEncoder(run: run)
        var progress: [Int] = []
        let data = try ProbeDataset(source: CheckpointSource(zoo: zoo), encoder: encoder, control: encoder.untrainedControl(), epochs: [0, 1, 2],
                                    weightLimit: 0, poolings: [.mean, .layers]) { done, _ in progress.append(done) }
        XCTAssertEqual(progress, Array(1...8), "each of the 8 models embedded once")
        let splits = try RepeatedSplits.draw(zoo: zoo, firstSeed: encoder.splitSeed(for: zoo), count: 3, seed: 1)
        let report = try PropertyProbe.run(data, splits: splits, splitSeed: 1, zoo: "tiny", epochs: [0, 1, 2])
        let repeated = try XCTUnwrap(report.repeatedSplits)
        XCTAssertEqual(repeated.splits.map(\.samples), Array(repeating: ["train": 15, "validation": 3, "test": 6], count: 3), "8 models split 5/1/2")
        XCTAssertEqual(Set(repeated.splits.map(\.models.key)).count, 3)
        XCTAssertTrue(repeated.controls.allSatisfy { $0.untrainedValidationR2 != nil && $0.splits == 3 })
        XCTAssertTrue(repeated.methods.contains { $0.method == "untrained SANE layers" })

        let epochs = run.checkpointEpochs()
        XCTAssertEqual(epochs.count, 2, "keep-every 1 over 2 epochs")
        let chosen = try CheckpointSelection(run: run, epochs: epochs, zoo: zoo, zooEpochs: [0, 1, 2], poolings: [.mean, .layers],
                                             splitCount: 3, splitSeed: 1)
        XCTAssertTrue(chosen.rule.hasSuffix("averaged over 3 model splits"), chosen.rule)
        for candidate in chosen.candidates {
            let e = try SANEEncoder(run: run, epoch: candidate.epoch)
            let d = try ProbeDataset(source: CheckpointSource(zoo: zoo), encoder: e, epochs: [0, 1, 2], weightLimit: 0, poolings: [.mean, .layers])
            let r = try PropertyProbe.run(d, splits: splits, splitSeed: 1, zoo: zoo.directory.path, epochs: [0, 1, 2])
            XCTAssertEqual(candidate.meanValidationR2, try XCTUnwrap(r.repeatedSplits).meanChosenValidationR2, accuracy: 1e-12)
        }
        let single = try CheckpointSelection(run: run, epochs: epochs, zoo: zoo, zooEpochs: [0, 1, 2], poolings: [.mean, .layers])
        XCTAssertEqual(single.rule, CheckpointSelection.rule)
        XCTAssertNotEqual(single.candidates.map(\.meanValidationR2), chosen.candidates.map(\.meanValidationR2))
    }
}
