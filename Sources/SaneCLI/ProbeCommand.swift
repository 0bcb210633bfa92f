import ArgumentParser
import Foundation
import Sane

/// `sane probe`: predict test accuracy, epoch and generalization gap from weights with linear
/// probes — the experiment of SANE-SPEC §6 (the paper's Table 1).
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Predict test accuracy, epoch and ggap from weights: W, s(W) and SANE embeddings under a ridge probe.",
        discussion: """
        One sample is one (model, epoch) checkpoint. Models are split 70/15/15 into train, \
        validation and test (sorted names shuffled with the run's split seed, 42 without a run). \
        For each target a ridge regression with intercept is fitted on the train split for every \
        λ of the sweep 1e3 … 1e-5, λ is chosen by validation R², and the test R² is reported.

        Features: W = the raw weights flattened (only up to --weight-limit parameters); \
        s(W) = per layer of the raw [W|b] values: mean, variance, 1/25/50/75/99 percentiles; \
        SANE = the token latents of --model pooled per --pooling: `mean` (the paper's mean \
        token embedding, d_z values), `layers` (the mean of each layer's tokens, concatenated: \
        L·d_z values), `tokens` (all token latents: N·d_z values); one column each. Left out \
        when no run is given.

        Writes probe.json (every score, λ and test prediction), probe.md (tables) and \
        probe_accuracy.svg (predicted vs true test accuracy) into --out \
        (default: RUN/probe-<zoo>, or probe-<zoo> without a run).

        Examples:
          sane probe --model runs/seed --zoo ../shared/zoos/mnist-cnn-seed
          sane probe --model runs/half --zoo ZOO --epochs 0-5 --json
          sane probe --model runs/seed --zoo ZOO --pooling mean,layers,tokens
          sane probe --zoo ../shared/zoos/mnist-cnn-hyper --epochs 0-10   # W, s(W)
        """
    )

    @Option(help: "Trained SANE run folder; without it only the W and s(W) baselines are probed.") var model: String?
    @OptionGroup var selection: ZooEpochOptions
    @OptionGroup var encoderOptions: EncoderOptions
    @Option(help: "Largest parameter count for the W baseline.") var weightLimit = 10_000
    @Option(help: "Poolings of the SANE token latents to probe, comma-separated: mean, layers, tokens.") var pooling = "mean,layers"
    @Option(help: "Output folder.") var out: String?
    @Flag(help: "Print probe.json on stdout instead of the table.") var json = false

    func validate() throws {
        guard weightLimit >= 0 else { throw ValidationError("--weight-limit must be 0 or more") }
        do { _ = try EmbeddingPooling.list(pooling) } catch let error as SaneError { throw ValidationError("--pooling: \(error)") }
    }

    func run() throws {
        let encoder = try model.map { try loadEncoder($0, options: encoderOptions) }
        let zoo = try Zoo(path: selection.zoo)
        reportSkipped(zoo)
        let epochs = try selection.epochList()
        let bar = ProgressBar("probe", total: 1)
        bar.quiet = json
        let data = try ProbeDataset(zoo: zoo, encoder: encoder, epochs: epochs, weightLimit: weightLimit,
                                    poolings: try EmbeddingPooling.list(pooling)) { done, total in
            bar.total = total
            bar.update(done, detail: "models")
        }
        bar.finish()
        if !data.skipped.isEmpty { diagnostic("warning: skipped \(data.skipped.count) checkpoints, e.g. \(data.skipped[0])") }
        let report = try PropertyProbe.run(data, zoo: selection.zoo, epochs: epochs)

        let folder = URL(fileURLWithPath: out ?? (model.map { $0 + "/" } ?? "") + "probe-\(zooName(selection.zoo))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let jsonData = try report.jsonData()
        try jsonData.write(to: folder.appendingPathComponent("probe.json"))
        let title = "Test R² of linear probes on \(zooName(selection.zoo)), epochs \(selection.epochs ?? "all")"
        let counts = "\(report.samples["train"]!) train / \(report.samples["validation"]!) validation / \(report.samples["test"]!) test checkpoints"
        try Data("""
            # \(title)

            \(counts)\(model.map { ", SANE run `\($0)`" } ?? "").

            \(report.table.markdown)
            ## Every probe

            \(report.detailTable.markdown)
            """.utf8).write(to: folder.appendingPathComponent("probe.md"))
        let truth = report.testPredictions.map { $0.truth[ProbeTarget.testAccuracy.rawValue]! }
        let series = report.methods.filter { $0 != .weights }.map { method in
            PlotSeries(name: method.description, x: truth,
                       y: report.testPredictions.map { $0.predicted[ProbeTarget.testAccuracy.rawValue]![method.description]! })
        }
        try SVGPlot.write(SVGPlot.scatter(series: series, title: "Test accuracy from weights (test split)",
                                          xLabel: "true test accuracy", yLabel: "predicted test accuracy"),
                          toPath: folder.appendingPathComponent("probe_accuracy.svg").path)

        if json {
            print(String(decoding: jsonData, as: UTF8.self))
        } else {
            print("\(title) (\(counts))")
            print(report.table.plainText, terminator: "")
            print("wrote probe.json, probe.md, probe_accuracy.svg to \(folder.path)")
        }
    }
}
