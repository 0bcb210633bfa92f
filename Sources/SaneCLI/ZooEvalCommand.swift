import ArgumentParser
import Foundation
import Sane

/// `sane zoo eval ZOO --data DIR [--epochs 0,5,10] [--models N]`
struct ZooEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Re-evaluate a zoo's checkpoints on the test set and compare with the recorded test accuracy."
    )

    @Argument(help: "Zoo directory.") var zoo: String
    @Option(help: "Data root holding one folder per dataset (e.g. ../shared/data), or the dataset's folder itself.") var data: String?
    @Option(help: "Epochs: a range 0-5, a list 0,5,10, or both (default: every epoch).") var epochs: String?
    @Option(help: "Evaluate only the first N models.") var models: Int?

    func validate() throws {
        _ = try epochs.map { try parseEpochs($0) }
        try check("--models", models, in: 1...Int.max)
    }

    func run() throws {
        let z = try Zoo(path: zoo)
        reportSkipped(z)
        let wanted = try epochs.map { try parseEpochs($0) }
        var tests: [String: ImageDataset] = [:]
        func testSet(_ name: String) throws -> ImageDataset {
            if let t = tests[name] { return t }
            var t: ImageDataset
            if let data, let named = NamedDataset(rawValue: name),
               !FileManager.default.fileExists(atPath: URL(fileURLWithPath: data).appendingPathComponent(name).path) {
                t = try named.source(in: URL(fileURLWithPath: data)).load(.test)
            } else {
                t = try ImageDataset.load(name, split: .test, dataDirectory: data)
            }
            tests[name] = t
            return t
        }
        print("model                                epoch  recorded  computed   diff (pp)")
        var worst = 0.0, count = 0
        for model in z.models.prefix(models ?? z.models.count) {
            var test = try testSet(model.params.datasetName ?? "mnist")
            let network = try ZooModelFactory.configuration(params: model.params)
            let side = network.architecture.inputSize
            if test.height != side || test.width != side {
                diagnostic("note: \(model.params.datasetName ?? "mnist") images are \(test.height)×\(test.width); resized to \(model.name)'s \(side)×\(side) input")
                test = test.resized(to: side); tests[model.params.datasetName ?? "mnist"] = test
            }
            try test.checkFits(classes: network.outputs, channels: network.channelsIn, what: "the \(model.params.datasetName ?? "mnist") test set for \(model.name)")
            for e in wanted ?? model.epochs where model.checkpoints[e] != nil {
                let net = try ZooModelFactory.make(params: model.params, stateDict: model.loadCheckpoint(epoch: e))
                let computed = ZooEvaluation.evaluate(net, on: test).accuracy
                let recorded = model.results[e]?.testAccuracy
                let diff = recorded.map { 100 * (computed - $0) }
                if let diff { worst = max(worst, abs(diff)) }
                count += 1
                print(String(format: "%-36@ %5d  %8@  %8.4f  %@", model.name as NSString, e,
                             (recorded.map { String(format: "%.4f", $0) } ?? "-") as NSString, computed,
                             (diff.map { String(format: "%+.3f", $0) } ?? "-") as NSString))
            }
        }
        diagnostic(String(format: "zoo eval: %d checkpoints, largest |recorded − computed| %.3f percentage points", count, worst))
    }
}
