import ArgumentParser
import Foundation
import Sane

/// `sane analyze`: per-layer spread of token embeddings next to spectral metrics of the same
/// layers, and their model-level correlation with accuracy (SANE-SPEC §8); without a run, the
/// layer spectra alone, for any architecture (ResNets included).
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Compare the spread of each layer's token embeddings with spectral metrics of its weights.",
        discussion: """
        For every selected checkpoint and layer l: the embedding spread ẑ_l = the standard \
        deviation over the layer's token latents, per latent dimension, averaged over the d_z \
        dimensions; and, from the raw weight W viewed as [c_out, r], WeightWatcher's log spectral \
        norm log10 λ_max(WᵀW) and the power-law exponent α of the eigenvalue tail of WᵀW.

        Reports per layer the means and the Pearson r / Spearman ρ of ẑ_l with both metrics over \
        checkpoints, and for the model-level means (over layers) their correlation with test \
        accuracy. Writes analysis.json (every checkpoint and layer), analysis.md and \
        analysis_accuracy.svg (test accuracy vs the z-scored aggregates) into --out \
        (default: RUN/analysis-<zoo>).

        Controls (always): the same analysis with the UNTRAINED SANE (the run's autoencoder as \
        initialized before training, same preprocessing) and with the y quantity SHUFFLED over \
        checkpoints (seeded). A correlation says something about what SANE learned only where \
        the trained |r| beats both controls' |r| by 0.1 or more (table "controls", \
        controls.json). Use --split validation to decide on validation checkpoints only. --zoo \
        also takes a folder of checkpoint files or one file (no accuracies: the accuracy \
        correlations are then empty).

        Without --model: the layer spectra alone, for every checkpoint of any architecture \
        (ResNets included): for each weight with two or more dimensions (convolutions, linear \
        layers; BatchNorm vectors are not matrices) λ_max of WᵀW, its log10, α, every \
        eigenvalue, and the seconds its spectrum took (Gram, LAPACK eigenvalues, α fit). Writes \
        spectra.json and spectra.md into --out (default: spectra-<zoo>).

        With --windows: the window interference of the paper's Fig. 6 instead. Every selected \
        checkpoint's whole token sequence is encoded and decoded in inference windows of each \
        listed size w, haloed (w/2 content tokens kept, w/4 context tokens on each side) and \
        plain (w content tokens, no halo); the reconstruction error is the masked MSE in the \
        run's standardized token space, mean ± std over checkpoints. "full" is one window per \
        sequence. Control: the same measurement with the UNTRAINED SANE. Writes \
        window_interference.json, window_interference.md and window_interference.svg into --out \
        (default: RUN/windows-<zoo>, a sub-folder of the run like RUN/analysis-<zoo> and \
        RUN/probe-<zoo>, which `sane report RUN` includes); --models N uses the first N models \
        of the split.

        Examples:
          sane analyze --model runs/seed --zoo ../shared/zoos/mnist-cnn-seed
          sane analyze --model runs/resnet --zoo zoos/resnet18 --epochs 5 --split test --models 10 --windows 32,64,128,256,512,full
          sane analyze --model runs/hyper --zoo ../shared/zoos/mnist-cnn-hyper --epochs 1-10 --split test
          sane analyze --zoo runs/resnet18-zoo --epochs 0      # layer spectra only
        """
    )

    @Option(help: "Trained SANE run folder (the --out of `sane pretrain`); without it only the layer spectra are computed.") var model: String?
    @OptionGroup var selection: ZooEpochOptions
    @Option(help: "train, validation, test, or all (model-level split).") var split = "all"
    @OptionGroup var encoderOptions: EncoderOptions
    @Option(help: "Window interference (Fig. 6) instead: inference window sizes in tokens, e.g. 32,64,128,full.") var windows: String?
    @Option(help: "With --windows: only the first N models of the split.") var models: Int?
    @Option(help: "Output folder.") var out: String?
    @Flag(help: "Print analysis.json on stdout instead of the tables.") var json = false

    func validate() throws {
        _ = try splits(split)
        _ = try windows.map(Self.windowSizes)
        try check("--models", models, in: 1...Int.max)
        if windows == nil, models != nil { throw ValidationError("--models applies to --windows only") }
        if model == nil, windows != nil { throw ValidationError("--windows measures a SANE run's reconstruction; it needs --model") }
        if model == nil, encoderOptions.runEpoch != nil || encoderOptions.content != nil || encoderOptions.halo != nil {
            throw ValidationError("--run-epoch, --content and --halo choose how a SANE run encodes; they need --model")
        }
    }

    func run() throws {
        guard let model else { return try runSpectra() }
        if let windows { return try runWindowInterference(model: model, sizes: Self.windowSizes(windows)) }
        let encoder = try loadEncoder(model, options: encoderOptions)
        let source = try selection.source()
        let bar = ProgressBar("analyze", total: 1)
        bar.quiet = json
        let analysis = try EmbeddingAnalysis(encoder: encoder, source: source, splits: try splits(split),
                                             epochs: try selection.epochList()) { done, total in
            bar.total = total
            bar.update(done, detail: "models")
        }
        bar.finish()
        let untrained = try EmbeddingAnalysis(encoder: encoder.untrainedControl(), source: source, splits: try splits(split),
                                              epochs: try selection.epochList())
        let controls = AnalysisControls(trained: analysis, untrained: untrained)

        let folder = URL(fileURLWithPath: out ?? model + "/analysis-\(zooName(selection.zoo))")
        let lock = try lockOutputFolder(folder.path, inputs: [("zoo", selection.zoo, false), ("run folder (--model)", model, true)],
                                        purpose: "sane analyze")
        defer { lock.release() }
        let jsonData = try analysis.jsonData()
        let title = "Embedding spread vs spectral metrics: \(zooName(selection.zoo)), epochs \(selection.epochs ?? "all"), split \(split), \(analysis.checkpoints.count) checkpoints"
        let markdown = """
            # \(title)

            ## Per layer

            \(analysis.layerTable.markdown)
            ## Model level vs test accuracy

            \(analysis.accuracyTable.markdown)
            ## Controls: trained vs untrained SANE vs shuffled y (Pearson r)

            \(controls.table.markdown)
            """
        let accuracy = analysis.checkpoints.map(\.label.testAccuracy)
        let series = [("mean ẑ", analysis.checkpoints.map(\.spread)),
                      ("mean log λ_max", analysis.checkpoints.map(\.logSpectralNorm)),
                      ("mean α", analysis.checkpoints.map(\.alpha))].map { name, values in
            PlotSeries(name: name, x: zScores(values), y: accuracy)
        }
        let plot = SVGPlot.scatter(series: series, title: "Test accuracy vs model-level aggregates",
                                   xLabel: "aggregate (z-score over checkpoints)", yLabel: "test accuracy", showIdentityLine: false)
        try writeReport([("analysis.json", jsonData), ("controls.json", try SaneJSON.encode(controls)), ("analysis.md", Data(markdown.utf8)),
                         ("analysis_accuracy.svg", Data(plot.utf8))], json: jsonData, to: folder) {
            print(title)
            print(analysis.layerTable.plainText)
            print(analysis.accuracyTable.plainText)
            print("controls (a correlation stands where trained |r| ≥ both controls' |r| + \(AnalysisControls.margin)):")
            print(controls.table.plainText, terminator: "")
        }
    }
}

extension AnalyzeCommand {
    /// The layer spectra alone (no SANE): every selected checkpoint, every weight of ≥ 2 dimensions.
    func runSpectra() throws {
        let zoo = try Zoo(path: selection.zoo)
        reportSkipped(zoo)
        let folder = out ?? "spectra-\(zooName(selection.zoo))"
        let lock = try lockOutputFolder(folder, inputs: [("zoo", selection.zoo, false)], purpose: "sane analyze")
        defer { lock.release() }
        let epochs = try selection.epochList()
        let work = try splits(split).flatMap { split in zoo.models(in: split).map { (split, $0) } }
        let bar = ProgressBar("spectra", total: work.count)
        bar.quiet = json
        let clock = ContinuousClock()
        var checkpoints: [CheckpointSpectra] = []
        for (done, (split, model)) in work.enumerated() {
            for checkpoint in try zoo.loadCheckpoints(of: [model], epochs: epochs).checkpoints {
                let layout = try Tokenizer().layout(for: checkpoint.stateDict)
                let layers = try layout.layers.filter { $0.weightShape.count >= 2 }.map { layer -> LayerSpectrumRecord in
                    let weight = checkpoint.stateDict[layer.weightKey]!                     // (c_out, r)
                    var spectrum: LayerSpectrum?
                    let elapsed = try clock.measure {
                        do {
                            spectrum = try Spectral.analyze(weights: weight.scalars, outputs: layer.rows, inputs: layer.rowLength)
                        } catch {
                            throw CommandError("\(checkpoint.model) epoch \(checkpoint.epoch), \(layer.weightKey): \(error)")
                        }
                    }
                    return LayerSpectrumRecord(layer.weightKey, rows: layer.rows, rowLength: layer.rowLength,
                                               spectrum: spectrum!, seconds: elapsed.seconds)
                }
                checkpoints.append(CheckpointSpectra(model: checkpoint.model, epoch: checkpoint.epoch, split: split.rawValue,
                                                     seconds: layers.reduce(0) { $0 + $1.seconds }, layers: layers))
            }
            bar.update(done + 1, detail: "models")
        }
        bar.finish()
        guard let first = checkpoints.first else {
            throw CommandError("no checkpoints of zoo \(selection.zoo) at the selected epochs (hint: check --epochs against `sane zoo info \(selection.zoo)`)")
        }
        let table = Table(header: ["weight", "c_out × r", "mean λ_max", "mean log10 λ_max", "mean α", "mean seconds"],
                          rows: first.layers.indices.map { l in
                              let same = checkpoints.compactMap { $0.layers.count == first.layers.count ? $0.layers[l] : nil }
                              let mean = { (value: (LayerSpectrumRecord) -> Double) -> String in
                                  let finite = same.map(value).filter(\.isFinite)
                                  return finite.isEmpty ? "–" : String(format: "%.4g", finite.reduce(0, +) / Double(finite.count))
                              }
                              return [first.layers[l].weightKey, "\(first.layers[l].rows) × \(first.layers[l].rowLength)",
                                      mean(\.lambdaMax), mean(\.logSpectralNorm), mean(\.alpha), mean(\.seconds)]
                          })
        let total = checkpoints.reduce(0) { $0 + $1.seconds }
        let title = "Layer spectra: \(zooName(selection.zoo)), epochs \(selection.epochs ?? "all"), split \(split), \(checkpoints.count) checkpoints, "
            + String(format: "%.3f s of spectra in all (Gram, eigenvalues, α fit)", total)
        let url = URL(fileURLWithPath: folder)
        let jsonData = try SaneJSON.encode(checkpoints)
        try AtomicFile.write(jsonData, to: url.appendingPathComponent("spectra.json"))
        try AtomicFile.write(Data("# \(title)\n\nMeans over checkpoints (layers of the first checkpoint's architecture).\n\n\(table.markdown)".utf8),
                             to: url.appendingPathComponent("spectra.md"))
        if json {
            print(String(decoding: jsonData, as: UTF8.self))
        } else {
            print(title)
            print(table.plainText, terminator: "")
            print("wrote spectra.json, spectra.md to \(folder)")
        }
    }
}

extension AnalyzeCommand {
    /// "32,64,full" → [32, 64, Int.max].
    static func windowSizes(_ text: String) throws -> [Int] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
            let t = item.trimmingCharacters(in: .whitespaces)
            if t == "full" { return Int.max }
            guard let w = Int(t), w >= 1 else {
                throw ValidationError("--windows takes token counts ≥ 1 or 'full', separated by commas (e.g. 32,64,full); got '\(t)'")
            }
            return w
        }
    }

    /// Window interference (paper Fig. 6): reconstruction error vs inference window, trained and untrained.
    func runWindowInterference(model: String, sizes: [Int]) throws {
        let encoder = try loadEncoder(model, options: encoderOptions)
        let source = try selection.source()
        let sequences = try WindowInterference.sequences(encoder: encoder, source: source, splits: try splits(split),
                                                         epochs: try selection.epochList(), maxModels: models)
        let bar = ProgressBar("windows", total: 2)
        bar.quiet = json
        let trained = try WindowInterference.measure(encoder: encoder, sequences: sequences, windows: sizes) { done, total in
            bar.total = 2 * total; bar.update(done, detail: "settings (trained)")
        }
        let untrained = try WindowInterference.measure(encoder: encoder.untrainedControl(), sequences: sequences, windows: sizes) { done, total in
            bar.update(total + done, detail: "settings (untrained control)")
        }
        bar.finish()
        let folder = URL(fileURLWithPath: out ?? model + "/windows-\(zooName(selection.zoo))")
        let lock = try lockOutputFolder(folder.path, inputs: [("zoo", selection.zoo, false), ("run folder (--model)", model, true)],
                                        purpose: "sane analyze --windows")
        defer { lock.release() }
        struct Output: Codable { var run, zoo, epochs, split: String; var trained, untrainedControl: WindowInterference }
        let output = Output(run: model, zoo: selection.zoo, epochs: selection.epochs ?? "all", split: split,
                            trained: trained, untrainedControl: untrained)
        let jsonData = try SaneJSON.encode(output)
        let title = "Window interference: \(zooName(selection.zoo)), epochs \(selection.epochs ?? "all"), split \(split), "
            + "\(trained.checkpoints) checkpoints of \(trained.tokens[0] == trained.tokens[1] ? "\(trained.tokens[0])" : "\(trained.tokens[0])–\(trained.tokens[1])") tokens, "
            + "training window \(trained.trainingWindow)"
        let markdown = """
            # \(title)

            ## Trained SANE

            \(trained.table.markdown)
            ## Control: untrained SANE

            \(untrained.table.markdown)
            """
        func series(_ w: WindowInterference, haloed: Bool, _ name: String) -> PlotSeries {
            let p = w.points.filter { $0.haloed == haloed }
            return PlotSeries(name: name, x: p.map { log2(Double($0.window)) }, y: p.map(\.mse), spread: p.map(\.mseStd))
        }
        let plot = SVGPlot.lines(series: [series(trained, haloed: true, "trained, haloed"), series(trained, haloed: false, "trained, no halo"),
                                          series(untrained, haloed: true, "untrained, haloed")],
                                 title: "Reconstruction error vs inference window (training window \(trained.trainingWindow))",
                                 xLabel: "log2 inference window (tokens)", yLabel: "reconstruction MSE (standardized tokens)",
                                 logarithmicY: true)
        try writeReport([("window_interference.json", jsonData), ("window_interference.md", Data(markdown.utf8)),
                         ("window_interference.svg", Data(plot.utf8))], json: jsonData, to: folder) {
            print(title)
            print("trained SANE:")
            print(trained.table.plainText, terminator: "")
            print("control, untrained SANE:")
            print(untrained.table.plainText, terminator: "")
        }
    }
}

extension AnalyzeCommand {
    /// Writes a report's files into `folder` (atomically, in the given order), then prints
    /// `jsonData` (--json) or the report's text followed by the list of files written.
    func writeReport(_ files: [(name: String, contents: Data)], json jsonData: Data, to folder: URL, text: () -> Void) throws {
        for file in files { try AtomicFile.write(file.contents, to: folder.appendingPathComponent(file.name)) }
        if json {
            print(String(decoding: jsonData, as: UTF8.self))
        } else {
            text()
            print("wrote \(files.map(\.name).joined(separator: ", ")) to \(folder.path)")
        }
    }
}

private extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// (x − mean) / std over the finite values; non-finite values stay NaN (and are not plotted).
private func zScores(_ values: [Double]) -> [Double] {
    let finite = values.filter(\.isFinite)
    guard finite.count >= 2 else { return values.map { _ in .nan } }
    let (mean, std) = Table.meanAndStandardDeviation(finite)
    return values.map { $0.isFinite && std > 0 ? ($0 - mean) / std : .nan }
}
