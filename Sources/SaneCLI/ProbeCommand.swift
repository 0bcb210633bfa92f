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
        when no run is given. `--pooling auto` (the default) probes all three and adds a column \
        with the pooling chosen per target by validation R².

        Controls (always, with a run): the same probes on an UNTRAINED SANE (the run's \
        autoencoder as initialized before training: same shape, same seed, same preprocessing) \
        and a SHUFFLED-LABEL probe (train targets permuted with a seeded generator). A claim \
        about SANE stands only where the trained SANE's validation R² beats both controls by \
        0.05 or more; the table "controls" says yes or NO per target and pooling.

        Checkpoint: the run's latest, --run-epoch E, or --select-run-epoch (every checkpoint \
        kept with `sane pretrain --keep-every`, chosen by mean validation R²; recorded in \
        probe.json). Test R² is computed once, for the chosen configuration.

        Repeated splits (--splits K, for small zoos where test R² moves with the split): split 0 \
        is the run's split, splits 1…K−1 are distinct 70/15/15 splits by model drawn with \
        --split-seed. Every checkpoint is embedded once; each split runs the whole protocol above \
        (λ and pooling chosen on its own validation models, controls, test R² once). probe.md \
        starts with mean ± std (n−1) and min–max of test R² over the splits, the mean validation \
        R², SANE auto − s(W) per split, and for the controls in how many splits the claim rule \
        holds ("k of K"); then split 0's tables. probe.json keeps every split's probe under \
        "repeatedSplits". With --select-run-epoch the checkpoint is chosen by the mean \
        validation R² averaged over all K splits; --predict and probe_accuracy.svg use split 0's \
        probes. K = 1 (the default) is the one-split probe.

        Writes probe.json (every score, λ and test prediction), probe.md (tables) and \
        probe_accuracy.svg (predicted vs true test accuracy) into --out \
        (default: RUN/probe-<zoo>, or probe-<zoo> without a run).

        --predict PATH (a folder of checkpoint files, one checkpoint file, or another zoo; \
        --epochs applies to a zoo) predicts the targets of those checkpoints with the probes \
        fitted on --zoo: predictions.json and predictions.csv hold every target by every \
        method, and per target the method with the best validation R² (never the untrained \
        control). The probe is fitted only on a zoo (--zoo): bare checkpoints have no recorded \
        targets. They must have the fitted zoo's architecture.

        Examples:
          sane probe --model runs/seed --zoo ../shared/zoos/mnist-cnn-seed
          sane probe --model runs/half --zoo ZOO --epochs 0-5 --json
          sane probe --model runs/seed --zoo ZOO --pooling mean,layers,tokens
          sane probe --model runs/keep --zoo ZOO --epochs 0-5 --select-run-epoch
          sane probe --model runs/keep --zoo ZOO --epochs 0-5 --select-run-epoch --splits 10
          sane probe --zoo ../shared/zoos/mnist-cnn-hyper --epochs 0-10   # W, s(W)
          sane probe --model runs/seed --zoo ZOO --predict my-models/      # predictions.csv
        """
    )

    @Option(help: "Trained SANE run folder; without it only the W and s(W) baselines are probed.") var model: String?
    @OptionGroup var selection: ZooEpochOptions
    @OptionGroup var encoderOptions: EncoderOptions
    @Option(help: "Largest parameter count for the W baseline.") var weightLimit = 10_000
    @Option(help: "Poolings of the SANE token latents to probe, comma-separated: mean, layers, tokens; or auto (all three, chosen per target on validation).") var pooling = "auto"
    @Flag(help: "Choose the run's checkpoint among those kept with --keep-every by mean validation R².") var selectRunEpoch = false
    @Option(help: "Seed of the label permutation of the shuffled-label control.") var shuffleSeed: UInt64 = 0
    @Option(help: "Number of model-level splits to probe (split 0 = the run's; the others seeded, distinct, 70/15/15); results are aggregated over them.")
    var splits = 1
    @Option(help: "Seed of the generator that draws splits 1…K−1 (default 0; needs --splits 2 or more).") var splitSeed: UInt64?
    @Option(help: "Predict test_acc, epoch and ggap of these checkpoints (a folder of *.safetensors/*.pt/*.pth, one file, or a zoo) with the probes fitted on --zoo.")
    var predict: String?
    @Option(help: "Output folder.") var out: String?
    @Flag(help: "Print probe.json on stdout instead of the table.") var json = false

    func validate() throws {
        guard weightLimit >= 0 else { throw ValidationError("--weight-limit must be 0 or more") }
        do { _ = try poolings() } catch let error as SaneError { throw ValidationError("--pooling: \(error)") }
        guard !(selectRunEpoch && encoderOptions.runEpoch != nil) else { throw ValidationError("--select-run-epoch chooses the checkpoint; leave out --run-epoch") }
        guard !selectRunEpoch || model != nil else { throw ValidationError("--select-run-epoch needs --model") }
        do { try RepeatedSplits.validate(count: splits) } catch let error as SaneError { throw ValidationError(error.description) }
        guard splitSeed == nil || splits > 1 else { throw ValidationError("--split-seed draws splits 1…K−1; it needs --splits 2 or more") }
    }

    func poolings() throws -> [EmbeddingPooling] {
        pooling == "auto" ? EmbeddingPooling.allCases : try EmbeddingPooling.list(pooling)
    }

    func run() throws {
        let zoo = try selection.source().requireZoo(for: "fitting a probe (--zoo)",
                                                    hint: "pass a zoo to --zoo and these checkpoints to --predict \(selection.zoo)")
        let predictSource = try predict.map(checkpointSource)
        let epochs = try selection.epochList()
        var checkpointSelection: CheckpointSelection?
        var options = encoderOptions
        if selectRunEpoch, let model {
            guard FileManager.default.fileExists(atPath: model) else { throw CommandError("run folder \(model) does not exist (hint: pass the --out folder of `sane pretrain`)") }
            let run = RunFolder(path: model)
            let selectBar = ProgressBar("choose checkpoint", total: 1)
            selectBar.quiet = json || !world.isRoot
            let chosen = try CheckpointSelection(run: run, epochs: run.checkpointEpochs(), zoo: zoo, zooEpochs: epochs, poolings: try poolings(),
                                                 splitCount: splits, splitSeed: splitSeed ?? 0) {
                selectBar.total = $1; selectBar.update($0, detail: "checkpoints")
            }
            selectBar.finish()
            checkpointSelection = chosen
            options.runEpoch = chosen.chosenEpoch
            if !json && world.isRoot { print("checkpoint: run epoch \(chosen.chosenEpoch) (\(chosen.rule))") }
        }
        let encoder = try model.map { try loadEncoder($0, options: options) }
        // Drawn before embedding, so that a zoo too small for K splits fails at once.
        let modelSplits = try RepeatedSplits.draw(zoo: zoo, firstSeed: encoder?.splitSeed(for: zoo) ?? 42, count: splits, seed: splitSeed ?? 0)
        let bar = ProgressBar("probe", total: 1)
        bar.quiet = json || !world.isRoot
        let control = encoder?.untrainedControl()
        let data = try ProbeDataset(source: CheckpointSource(zoo: zoo), encoder: encoder, control: control, epochs: epochs, weightLimit: weightLimit,
                                    poolings: try poolings(), communicator: world) { done, total in
            bar.total = total
            bar.update(done, detail: "models")
        }
        bar.finish()
        let toPredict = try predictSource.map { source in
            try ProbeDataset(source: source, encoder: encoder, control: control, epochs: source.zoo == nil ? nil : epochs, weightLimit: weightLimit,
                             poolings: try poolings(), requireTargets: false, layout: data.layout, communicator: world)
        }
        // Under mpirun the ranks computed the features of blocks of the models; rank 0 alone probes and writes.
        guard world.isRoot else { return }
        if !data.skipped.isEmpty { diagnostic("warning: skipped \(data.skipped.count) checkpoints, e.g. \(data.skipped[0])") }
        if let skipped = toPredict?.skipped, !skipped.isEmpty {
            diagnostic("warning: --predict: skipped \(skipped.count) checkpoints (NaN/Inf or |w| > 100), e.g. \(skipped[0])")
        }
        var report = try PropertyProbe.run(data, splits: modelSplits, splitSeed: splitSeed ?? 0, zoo: selection.zoo, epochs: epochs,
                                           shuffleSeed: shuffleSeed, predicting: toPredict, named: predict)
        report.checkpointSelection = checkpointSelection
        report.runEpoch = options.runEpoch

        let folder = URL(fileURLWithPath: out ?? (model.map { $0 + "/" } ?? "") + "probe-\(zooName(selection.zoo))")
        let lock = try lockOutputFolder(folder.path, inputs: [("zoo", selection.zoo, false)] + (model.map { [("run folder (--model)", $0, true)] } ?? [])
                                            + (predict.map { [("--predict", $0, false)] } ?? []),
                                        purpose: "sane probe")
        defer { lock.release() }
        let jsonData = try report.jsonData()
        try AtomicFile.write(jsonData, to: folder.appendingPathComponent("probe.json"))
        let title = "Test R² of linear probes on \(zooName(selection.zoo)), epochs \(selection.epochs ?? "all")"
        let counts = "\(report.samples["train"]!) train / \(report.samples["validation"]!) validation / \(report.samples["test"]!) test checkpoints"
        let run = model.map { ", SANE run `\($0)`" } ?? ""
        let head = report.repeatedSplits.map { repeatedMarkdown($0, title: title, run: run) + "\n## Split 0 (the run's split)\n\n" } ?? "# \(title)\n\n"
        try AtomicFile.write(Data((head + """
            \(counts)\(run).

            \(report.table.markdown)
            \(heading)# Controls: trained SANE vs untrained SANE vs shuffled labels (R²)

            \(report.verdicts.isEmpty
                ? "No SANE run was given (`--model`), so there is no SANE claim to control; the shuffled-label control of every baseline is in the table below.\n"
                : "A claim stands where the trained SANE's validation R² beats both controls by ≥ \(PropertyProbe.controlMargin).\n\n\(report.controlTable.markdown)")
            \(heading)# Every probe

            \(report.detailTable.markdown)
            """).utf8), to: folder.appendingPathComponent("probe.md"))
        let truth = report.testPredictions.map { $0.truth[ProbeTarget.testAccuracy.rawValue]! }
        let series = report.methods.filter { $0 != .weights }.map { method in
            PlotSeries(name: method.description, x: truth,
                       y: report.testPredictions.map { $0.predicted[ProbeTarget.testAccuracy.rawValue]![method.description]! })
        }
        try SVGPlot.write(SVGPlot.scatter(series: series, title: "Test accuracy from weights (test split)",
                                          xLabel: "true test accuracy", yLabel: "predicted test accuracy"),
                          toPath: folder.appendingPathComponent("probe_accuracy.svg").path)
        let predictions = ProbePredictions(report)
        if let predictions {
            try AtomicFile.write(predictions.jsonData(), to: folder.appendingPathComponent("predictions.json"))
            try AtomicFile.write(Data(predictions.csv.utf8), to: folder.appendingPathComponent("predictions.csv"))
        }

        if json {
            print(String(decoding: jsonData, as: UTF8.self))
        } else {
            if let repeated = report.repeatedSplits {
                print("\(title), over \(repeated.count) model splits (split 0: \(counts))")
                print(repeated.table.plainText, terminator: "")
                if !repeated.differences.isEmpty {
                    print("SANE auto − s(W), test R² per split:")
                    print(repeated.differenceTable.plainText, terminator: "")
                }
                if !repeated.controls.isEmpty {
                    print("controls (mean R² over splits; splits where trained val R² ≥ both controls' + \(PropertyProbe.controlMargin)):")
                    print(repeated.controlTable.plainText, terminator: "")
                }
            } else {
                print("\(title) (\(counts))")
                print(report.table.plainText, terminator: "")
                if !report.verdicts.isEmpty {
                    print("controls (R²; a claim stands where trained val R² ≥ both controls' + \(PropertyProbe.controlMargin)):")
                    print(report.controlTable.plainText, terminator: "")
                }
            }
            if let predictions {
                let chosen = predictions.chosen.map { String(format: "%@ by %@ (val R² %.3f)", $0.target.rawValue, $0.method, $0.validationR2) }
                print("predicted \(predictions.checkpoints.count) checkpoints of \(predictions.predicted): \(chosen.joined(separator: ", "))")
                let shown = predictions.checkpoints.prefix(10).map { p in
                    [p.model, p.epoch.map(String.init) ?? "-"] + predictions.chosen.map { c in
                        p.predicted[c.target.rawValue]?[c.method].map { String(format: "%.4g", $0) } ?? "—"
                    }
                }
                print(Table(header: ["checkpoint", "epoch"] + predictions.chosen.map { "predicted \($0.target.rawValue)" }, rows: shown).plainText,
                      terminator: "")
                if predictions.checkpoints.count > 10 { print("… \(predictions.checkpoints.count - 10) more in predictions.csv") }
            }
            print("wrote probe.json, probe.md, probe_accuracy.svg\(predictions == nil ? "" : ", predictions.json, predictions.csv") to \(folder.path)")
        }
    }

    /// "#" for one split; "##" under repeated splits, where split 0's tables are a section.
    var heading: String { splits > 1 ? "##" : "#" }

    /// The head of probe.md for repeated splits: the aggregates over the splits.
    func repeatedMarkdown(_ repeated: RepeatedSplitsReport, title: String, run: String) -> String {
        let sizes = repeated.splits[0].models
        var text = """
            # \(title), over \(repeated.count) model splits

            \(repeated.count) splits of the zoo's models (\(sizes.train.count) train / \(sizes.validation.count) validation / \(sizes.test.count) test \
            models each)\(run); split 0 is the run's split (seed 42 without a run), splits 1–\(repeated.count - 1) are drawn with --split-seed \(repeated.splitSeed). \
            Every split chooses λ per method and the pooling per target on its own validation models; test R² is computed \
            once per split. Mean ± sample std (n−1) and min–max over the splits.

            \(repeated.table.markdown)
            """
        if !repeated.differences.isEmpty {
            text += "\n## SANE auto − s(W) (test R², per split)\n\n\(repeated.differenceTable.markdown)"
        }
        if !repeated.controls.isEmpty {
            text += """

                ## Controls over the splits (mean R²)

                In each split a claim stands where the trained SANE's validation R² beats both controls by ≥ \(PropertyProbe.controlMargin); \
                the last column counts the splits where it does.

                \(repeated.controlTable.markdown)
                """
        }
        return text
    }
}
