import Foundation
import SaneAnalysis
import SaneTensor

/// The result of `sane finetune`, written to its folder as
///
///     OUT/finetune.json                    this report (every curve)
///     OUT/finetune.md                      `markdown`: the test-accuracy tables
///     OUT/finetune_curves.svg              `curvesSVG`: mean ± std test accuracy per epoch and group
public struct FinetuneReport: Codable, Sendable {
    public var samples: String
    public var dataset: String
    public var trainingExamples: Int
    public var testExamples: Int
    public var network: ZooNetworkConfiguration
    public var settings: FineTuningSettings
    public var groups: [FineTuningGroup]

    /// - Parameter samples: the samples folder the models came from.
    public init(samples: String, dataset: String, trainingExamples: Int, testExamples: Int, network: ZooNetworkConfiguration,
                settings: FineTuningSettings, groups: [FineTuningGroup]) {
        self.samples = samples; self.dataset = dataset; self.trainingExamples = trainingExamples; self.testExamples = testExamples
        self.network = network; self.settings = settings; self.groups = groups
    }

    /// Writes finetune.json, finetune.md and finetune_curves.svg into `folder` (each atomically).
    public func write(folder: URL) throws {
        try SaneJSON.write(self, to: folder.appendingPathComponent("finetune.json"))
        try AtomicFile.write(markdown, to: folder.appendingPathComponent("finetune.md"))
        try SVGPlot.write(curvesSVG, toPath: folder.appendingPathComponent("finetune_curves.svg").path)
    }

    /// The table rows: epochs 0, 1, 5, 10, 25, 50, … up to the last, and the last.
    public var tableEpochs: [Int] {
        let e = settings.epochs
        return Array(Set([0, 1, 5, 10, 25, 50, 75, 100].filter { $0 <= e } + [e])).sorted()
    }

    /// Test accuracy in % (mean ± std over each group's models), then the ensembles.
    public var markdown: String {
        func cell(_ v: [Double]) -> String { Table.meanPlusMinusStd(v.map { 100 * $0 }, decimals: 1) }
        let header = ["epoch"] + groups.map { "\($0.name) (\($0.curves.count))" }
        let perModel = Table(header: header, rows: tableEpochs.map { e in ["\(e)"] + groups.map { cell($0.accuracies(epoch: e)) } })
        let ensemble = Table(header: header, rows: tableEpochs.map { e in
            ["\(e)"] + groups.map { String(format: "%.1f", 100 * $0.ensembleAccuracy[e]) }
        })
        return """
        ## Test accuracy % (mean ± std), \(dataset), \(network.architecture.rawValue)

        Fine-tuning: Adam lr \(settings.learningRate), batch \(settings.batchSize), \(trainingExamples) training images; \
        tested on \(testExamples). Epoch 0 = zero-shot.

        \(perModel.markdown)
        ### Ensemble (mean of softmax outputs) test accuracy %

        \(ensemble.markdown)
        """
    }

    /// Mean ± std test accuracy per epoch, one line per group.
    public var curvesSVG: String {
        let series = groups.map { group -> PlotSeries in
            let stats = (0...settings.epochs).map { Table.meanAndStandardDeviation(group.accuracies(epoch: $0).map { 100 * $0 }) }
            return PlotSeries(name: group.name, x: (0...settings.epochs).map(Double.init), y: stats.map(\.mean), spread: stats.map(\.std))
        }
        return SVGPlot.lines(series: series, title: "Fine-tuning on \(dataset) (mean ± std)", xLabel: "epoch", yLabel: "test accuracy %")
    }
}
