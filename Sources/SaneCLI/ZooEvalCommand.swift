import ArgumentParser
import Foundation
import Sane

/// `sane zoo eval ZOO --data DIR [--epochs 0,5,10] [--models N] [--test-size N] [--json]`
struct ZooEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Re-evaluate a zoo's checkpoints on the test set and compare with the recorded test accuracy and loss.",
        discussion: """
        Each checkpoint is evaluated as zoo training does (BatchNorm in eval mode with its running \
        statistics, dropout off) on the images its result.json numbers were measured on: for a \
        model whose params.json has "dataset::test_size" N (written by `sane zoo train` for a \
        config with "test_size"), the first N images of the fixed seed-1 permutation of the test \
        split; otherwise the whole test split. The test set used is printed before the table. \
        A zoo trained with test_size before params.json recorded it (e.g. the CIFAR-10 ResNet-18 \
        w8 zoo, test_size 2000) needs --test-size N to be re-evaluated on its own images.

        Examples:
          sane zoo eval ../shared/zoos/mnist-cnn-seed --epochs 0,5,10
          sane zoo eval zoos/cifar10-resnet18-w8-cpu --data ../shared/data --test-size 2000 --models 2
        """
    )

    @Argument(help: "Zoo directory.") var zoo: String
    @Option(help: "Data root holding one folder per dataset (e.g. ../shared/data), or the dataset's folder itself.") var data: String?
    @Option(help: "Epochs: a range 0-5, a list 0,5,10, or both (default: every epoch).") var epochs: String?
    @Option(help: "Evaluate only the first N models.") var models: Int?
    @Option(help: "Test on the first N images of the seed-1 permutation of the test split, as zoo training's test_size (default: params.json's dataset::test_size, else the whole split; N ≥ the split's size = the whole split).")
    var testSize: Int?
    @Flag(help: "Print JSON instead of the table.") var json = false

    func validate() throws {
        _ = try epochs.map { try parseEpochs($0) }
        try check("--models", models, in: 1...Int.max)
        try check("--test-size", testSize, in: 1...Int.max)
    }

    func run() throws {
        let z = try Zoo(path: zoo)
        reportSkipped(z)
        let wanted = try epochs.map { try parseEpochs($0) }
        let selected = Array(z.models.prefix(models ?? z.models.count))

        // Each model's test set: its dataset's test split, resized to its input, cut to its test size.
        var splits: [String: ImageDataset] = [:]
        func split(_ name: String, side: Int) throws -> ImageDataset {
            let key = "\(name) \(side)"
            if let t = splits[key] { return t }
            var t: ImageDataset
            if let data, let named = NamedDataset(rawValue: name),
               !FileManager.default.fileExists(atPath: URL(fileURLWithPath: data).appendingPathComponent(name).path) {
                t = try named.source(in: URL(fileURLWithPath: data)).load(.test)
            } else {
                t = try ImageDataset.load(name, split: .test, dataDirectory: data)
            }
            if t.height != side || t.width != side {
                diagnostic("note: \(name) images are \(t.height)×\(t.width); resized to the models' \(side)×\(side) input")
                t = t.resized(to: side)
            }
            splits[key] = t
            return t
        }
        var testSets: [(model: ZooModel, set: ZooReevaluation.TestSet, description: String)] = []
        for model in selected {
            let name = model.params.datasetName ?? "mnist"
            let network = try ZooModelFactory.configuration(params: model.params)
            let set = ZooReevaluation.testSet(for: model.params, wholeSplit: try split(name, side: network.architecture.inputSize), testSize: testSize)
            try set.data.checkFits(classes: network.outputs, channels: network.channelsIn, what: "the \(name) test set for \(model.name)")
            testSets.append((model, set, set.describe(dataset: name)))
        }
        var descriptions: [String] = []
        for t in testSets where !descriptions.contains(t.description) { descriptions.append(t.description) }
        func modelsUsing(_ d: String) -> [String] { testSets.filter { $0.description == d }.map(\.model.name) }

        let table = ResultTable(nameWidth: max(5, selected.map(\.name.count).max() ?? 0))
        if !json {
            for d in descriptions {
                let n = modelsUsing(d).count
                print("test set\(descriptions.count > 1 ? " of \(n) model\(n == 1 ? "" : "s")" : ""): \(d)")
            }
            print(table.header)
        }
        var rows: [ZooReevaluation.Row] = []
        for (model, set, _) in testSets {
            for e in wanted ?? model.epochs where model.checkpoints[e] != nil {
                let row = try ZooReevaluation.evaluate(model, epoch: e, on: set)
                rows.append(row)
                if !json { print(table.line(row)) }
            }
        }
        let worst = rows.compactMap(\.accuracyDifference).map(abs).max() ?? 0
        if json {
            func number(_ x: Double?) -> JSONValue { x.map { $0.isFinite ? .number($0) : .null } ?? .null }
            print(JSONValue.object([
                JSONMember("zoo", .string(z.directory.path)),
                JSONMember("test_sets", .array(descriptions.map { d in .object([
                    JSONMember("description", .string(d)), JSONMember("models", .array(modelsUsing(d).map { .string($0) })),
                ]) })),
                JSONMember("checkpoints", .array(rows.map { r in .object([
                    JSONMember("model", .string(r.model)), JSONMember("epoch", .number(Double(r.epoch))),
                    JSONMember("test_images", .number(Double(r.testImages))),
                    JSONMember("recorded_test_acc", number(r.recordedAccuracy)), JSONMember("test_acc", number(r.computed.accuracy)),
                    JSONMember("test_acc_diff_pp", number(r.accuracyDifference)),
                    JSONMember("recorded_test_loss", number(r.recordedLoss)), JSONMember("test_loss", number(r.computed.loss)),
                    JSONMember("test_loss_diff", number(r.lossDifference)),
                ]) })),
                JSONMember("max_abs_test_acc_diff_pp", .number(worst)),
            ]).jsonText)
        }
        diagnostic(String(format: "zoo eval: %d checkpoints, largest |recorded − computed| test accuracy %.3f percentage points", rows.count, worst))
        if worst > 0.1, testSize == nil, testSets.allSatisfy({ $0.set.origin == .whole }) {
            diagnostic("hint: a zoo trained with \"test_size\" N before params.json recorded it was tested on a subset; re-evaluate it on the same images with --test-size N")
        }
    }

    /// The text table: the model column as wide as the longest name, every other column fixed.
    struct ResultTable {
        var nameWidth: Int
        static let widths = [5, 6, 12, 12, 10, 13, 13, 10]

        func cells(_ name: String, _ rest: [String]) -> String {
            ([name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)]
                + zip(rest, Self.widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }).joined(separator: "  ")
        }
        var header: String {
            cells("model", ["epoch", "images", "recorded acc", "computed acc", "diff (pp)", "recorded loss", "computed loss", "diff loss"])
        }
        func line(_ r: ZooReevaluation.Row) -> String {
            func f(_ x: Double?, _ format: String) -> String { x.map { String(format: format, $0) } ?? "-" }
            return cells(r.model, [String(r.epoch), String(r.testImages), f(r.recordedAccuracy, "%.4f"), f(r.computed.accuracy, "%.4f"),
                                   f(r.accuracyDifference, "%+.3f"), f(r.recordedLoss, "%.4f"), f(r.computed.loss, "%.4f"),
                                   f(r.lossDifference, "%+.4f")])
        }
    }
}
