import ArgumentParser
import Foundation
import Sane

/// `sane sample`: generate new models from a trained SANE (SANE-SPEC §7).
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate new models from a trained SANE: sample latents around prompt models, decode, keep the best.",
        discussion: """
        The prompts (a few trained models) are embedded per token; k latent sequences are drawn \
        from a Gaussian KDE around them (z = z_prompt + bandwidth·N(0, I); one prompt per \
        sequence, or one per token with --mode token), decoded to weights, scored by accuracy \
        on a validation split carved from the target's TRAINING data (never the test set), and \
        the best --keep are written. --rounds R bootstraps: R more rounds sample around the kept \
        latents. --prior-std σ starts from z ~ N(0, σ²I) instead of the prompts.

        Bandwidth: in units of --bandwidth-unit: `spread` (default; per latent dimension the \
        standard deviation of the prompts' latents at the same token, averaged over tokens), \
        `rms` (the prompt latents' RMS) or `absolute` (the paper's 0.2 assumes its model's latent \
        scale). --bandwidth auto (default) samples with each of 0.05, 0.1, 0.2, 0.5, 1 and keeps \
        the LARGEST whose kept samples' mean validation accuracy is within 2 points of the best \
        (smaller bandwidths only approach the decoded prompts); the choice and every candidate \
        are recorded in samples.json.

        Sampler (--sampler): kde (the paper: KDE around the prompts, --mode picks one prompt \
        per sequence / token / layer), kde30 (the paper's KDE30: the KDE fitted to the 30 \
        train-split models of the zoo with the best validation accuracy), kde-layer (one prompt \
        per layer), prompt-context (each draw redraws one layer, decoded with the prompt's own \
        latents as context; the other layers are the prompt's). auto (default) runs all four, \
        each with its bandwidth rule and a validation-only audit, and keeps the one whose kept \
        samples lead the better baseline by the most validation accuracy; the choice and every \
        candidate are recorded in samples.json. Passing --mode alone implies --sampler kde.

        Audit (default; --no-audit skips it): each kept sample's distance to the nearest prompt \
        and to the nearest training checkpoint (aligned, standardized weights), next to two \
        baselines with the same k-draw / keep-m selection at the samples' distance: prompts + \
        Gaussian noise and averages of two aligned prompts (noise level and interpolation weight \
        calibrated on the measured distance of the draws; each group's distance ratio to the \
        samples is recorded, and a kept group more than 10 % off is flagged). Verdicts are decided on validation \
        accuracy; test accuracy of every group is computed once, after every choice \
        (--audit-finetune-epochs N adds fine-tuned test accuracy). Written to audit.json.

        --prompts takes a zoo (--prompt-count models of its --prompt-split, seeded, at \
        --prompt-epoch; default: the run's own zoo at the last epoch it was trained on), a \
        folder of checkpoint files (*.safetensors, *.pt, *.pth; all of them, sorted by name) or \
        one checkpoint file. The network of checkpoint files comes from a params.json beside \
        them, else from their keys and shapes (the architecture registry) with activation, \
        dropout and initialization from the run's zoo, which must then be of that architecture.

        New architecture or task: prompts of another architecture than SANE's training zoo (e.g. \
        SANE trained on ResNet-18s, prompts ResNet-34s; the paper's Table 15) are tokenized with \
        their own layout, standardized per layer with statistics fitted on the prompts (the \
        run's are per layer of its own architecture), aligned to the first prompt, encoded and \
        decoded at their full length with haloed windows; samples are written as the prompts' \
        architecture and BatchNorm-conditioned on the target data. --standardization prompts \
        does the same for the training architecture (prompts of a new task). The target's \
        positions must fit SANE's position tables (maxTokens, maxLayers, maxRows, fixed at \
        pretraining): size them in the pretraining config for the architectures you will sample; \
        positions the training zoo never reached are reported as untrained.

        Large models (paper Table 7): prompts are encoded and samples decoded in haloed windows \
        (--content tokens kept per window, --halo context tokens on each side; defaults half and \
        a quarter of the training window) and BatchNorm-conditioned (--batchnorm-iterations). \
        --content W --halo 0 (W = the training window) with --batchnorm-iterations 0 is the \
        naïve decoding of the ablation.

        Writes OUT/sample-00.safetensors … (PyTorch key names, best first) and OUT/samples.json \
        (scores of every draw, prompt accuracies, settings). Evaluate and fine-tune them with \
        `sane finetune --models OUT`.

        Examples:
          sane sample --model runs/seed --out samples/seed
          sane sample --model runs/seed --sampler kde30 --out samples/kde30
          sane sample --model runs/seed --prompt-epoch 5 --rounds 2 --out samples/boot
          sane sample --model runs/seed --bandwidth 0.3 --bandwidth-unit rms --out samples/rel
          sane sample --model runs/seed --audit-finetune-epochs 1 --out samples/audit
          sane sample --model RUN --prompts FMNIST_ZOO --dataset fashion-mnist --out S
          sane sample --model runs/seed --prompts my-models/ --out samples/mine
          sane sample --model runs/seed --prior-std 10 --out samples/prior
          sane sample --model runs/r18 --content 256 --halo 0 --batchnorm-iterations 0 --out samples/naive
          sane sample --model runs/r18 --prompts R34_ZOO --prompt-count 3 --dataset cifar10 --out samples/r34
        """
    )

    @Option(help: "Trained SANE run folder (the --out of `sane pretrain`).") var model: String
    @OptionGroup var prompts: PromptOptions
    @OptionGroup var task: TaskDataOptions
    @Option(help: "Validation examples carved from the training data to score samples.") var validationSize = 5000
    @Option(help: "k: samples drawn and scored per round.") var samples = 50
    @Option(help: "m: best samples kept (and written).") var keep = 10
    @Option(help: "Bootstrapping rounds after the first (each samples around the kept latents).") var rounds = 0
    @Option(help: "KDE bandwidth h in z = z_prompt + h·N(0, I), in --bandwidth-unit; or auto (chosen on validation).") var bandwidth = "auto"
    @Option(help: "Unit of --bandwidth: spread (of the prompt latents, per dimension), rms (of the prompt latents) or absolute.") var bandwidthUnit = "spread"
    @Flag(help: "Same as --bandwidth-unit rms (kept for old scripts).") var relativeBandwidth = false
    @Flag(inversion: .prefixedNo, help: "Audit the samples against prompts + noise and prompt averages (test accuracy computed once, after).") var audit = true
    @Option(help: "Audit: also fine-tune every audited model this many epochs (0 = zero-shot only).") var auditFinetuneEpochs = 0
    @Option(help: "How to generate: kde, kde30, kde-layer, prompt-context, or auto (chosen on validation against the audit's baselines). Default: auto, or kde when --mode is given.") var sampler: String?
    @Option(help: "--sampler kde: sequence (one prompt per sample), token (one per token) or layer (one per layer).") var mode: String?
    @Option(help: "Sample the first round from the prior N(0, σ²I) instead of the prompts.") var priorStd: Float?
    @Option(help: "Which zoo of a multi-zoo run the target belongs to (its preprocessing applies).") var runZoo = 0
    @Option(help: "Per-layer standardization: auto (the run's for its training architecture, else fitted on the prompts), run, or prompts.") var standardization = "auto"
    @Option(help: "BatchNorm conditioning: forward passes in training mode (momentum 0.1) over target data that set each sample's running statistics; the default leaves 0.5 % of the decoder's default statistics (0 = none: the paper's naïve decoding, Table 7).") var batchnormIterations = BatchNormConditioning.defaultIterations
    @OptionGroup var encoderOptions: EncoderOptions
    @Option(help: "Random seed (prompt choice, draws, validation split).") var seed: UInt64 = 0
    @Option(help: "Output folder for the samples.") var out: String

    func validate() throws {
        guard bandwidth == "auto" || (Float(bandwidth).map { $0 >= 0 && $0.isFinite } ?? false) else {
            throw ValidationError("--bandwidth must be auto or a finite number ≥ 0, got '\(bandwidth)'")
        }
        guard SamplingSettings.BandwidthUnit(rawValue: bandwidthUnit) != nil else {
            throw ValidationError("--bandwidth-unit must be spread, rms or absolute, got '\(bandwidthUnit)'")
        }
        try check("--audit-finetune-epochs", auditFinetuneEpochs, in: 0...100_000)
        try check("--batchnorm-iterations", batchnormIterations, in: 0...100_000)
        if let mode, SamplingSettings.Mode(rawValue: mode) == nil { throw ValidationError("--mode must be sequence, token or layer, got '\(mode)'") }
        if let sampler, sampler != "auto", SamplerVariant(rawValue: sampler) == nil {
            throw ValidationError("--sampler must be auto, \(SamplerVariant.allCases.map(\.rawValue).joined(separator: ", ")), got '\(sampler)'")
        }
        if mode != nil, samplerChoice != "kde" {
            throw ValidationError("--mode applies to --sampler kde only (got --sampler \(samplerChoice)); the other samplers set their own mode")
        }
        if priorStd != nil, samplerChoice != "kde" {
            throw ValidationError("--prior-std applies to --sampler kde only (got --sampler \(samplerChoice))")
        }
        guard TargetPreprocessing.Standardization(rawValue: standardization) != nil else {
            throw ValidationError("--standardization must be auto, run or prompts, got '\(standardization)'")
        }
        try validating { try makeSettings().validate() }
        try check("--validation-size", validationSize, in: 1...Int.max)
        try check("--run-zoo", runZoo, in: 0...Int.max)
    }

    /// The sampling settings of the command line.
    func makeSettings() -> SamplingSettings {
        var settings = SamplingSettings()
        settings.samples = samples; settings.keep = keep; settings.rounds = rounds
        settings.bandwidth = Float(bandwidth) ?? BandwidthSelection.grid[0]
        settings.bandwidthUnit = relativeBandwidth ? .rms : SamplingSettings.BandwidthUnit(rawValue: bandwidthUnit) ?? .spread
        settings.mode = mode.flatMap(SamplingSettings.Mode.init(rawValue:)) ?? .sequence; settings.priorStandardDeviation = priorStd; settings.seed = seed
        settings.standardization = TargetPreprocessing.Standardization(rawValue: standardization).flatMap { $0 == .auto ? nil : $0 }
        settings.batchNormIterations = batchnormIterations
        return settings
    }

    /// `--sampler` in effect: as given, else kde when --mode or --prior-std is given, else auto.
    var samplerChoice: String { sampler ?? (mode != nil || priorStd != nil ? "kde" : "auto") }

    /// The variants `--sampler` runs (one, or all for auto).
    var variants: [SamplerVariant] { SamplerVariant(rawValue: samplerChoice).map { [$0] } ?? SamplerVariant.allCases }

    func run() throws {
        let runFolder = RunFolder(path: model)
        let encoder = try loadEncoder(model, options: encoderOptions)
        guard runZoo >= 0 && runZoo < encoder.manifest.zoos.count else {
            throw CommandError("--run-zoo \(runZoo): the run has \(encoder.manifest.zoos.count) zoo(s), numbered from 0")
        }
        let selection = encoder.manifest.zoos[runZoo]
        let outURL = URL(fileURLWithPath: out)
        let outLock = try lockOutputFolder(out, inputs: [("run folder (--model)", model, true), ("prompts", prompts.prompts ?? selection.path, false)]
                                                + (task.data.map { [("data folder", $0, false)] } ?? []), purpose: "sane sample")
        defer { outLock.release() }
        // The run's zoo's network: the target without prompts, and what checkpoint files' weights do not tell.
        let runNetwork = { try Zoo(path: selection.path).models.first.map { try ZooModelFactory.configuration(params: $0.params) } }
        // The last epoch SANE was trained on is the default only for prompts from the run's own zoo.
        let ownZoo = prompts.prompts.map { ZooSelection.canonical(URL(fileURLWithPath: $0)) == selection.canonicalPath } ?? true
        let chosen = try prompts.load(defaultZoo: selection.path, defaultEpoch: ownZoo ? selection.epochs?.max() : nil, seed: seed,
                                      settings: prompts.prompts == nil ? nil : try? runNetwork())
        guard priorStd != nil || !chosen.isEmpty else { throw CommandError("no prompt models found in \(prompts.prompts ?? selection.path)") }
        guard let network = try chosen.first?.network ?? runNetwork() else {
            throw CommandError("the run's zoo \(selection.path) has no models to take the target architecture from (hint: pass --prompts)")
        }
        let target = network
        let settings = makeSettings()
        // The target's preprocessing, checked before any data is read (new architecture: fitted on the prompts).
        let targetPreprocessing = try ModelSampler(encoder: encoder, zoo: runZoo, target: target, settings: settings, prompts: chosen.map(\.stateDict))
            .targetPreprocessing
        let preprocessingLine = targetPreprocessing.summary(targetName: target.architecture.rawValue, prompts: chosen.count)
        diagnostic("sample: " + preprocessingLine)
        let datasetName = task.dataset ?? chosen.first?.dataset ?? "mnist"
        let training = try task.load(datasetName, split: .train, side: target.architecture.inputSize)
        guard validationSize < training.count else {
            throw CommandError("--validation-size \(validationSize) needs more than the \(training.count) training examples of \(datasetName)")
        }
        let data = SamplingData(training: training, validationCount: validationSize, seed: seed)

        let grid = bandwidth == "auto" ? BandwidthSelection.grid : [settings.bandwidth]
        let variants = self.variants
        // kde30's prompts: every model of the prompt split of the zoo (--prompts, else the run's) at the epoch.
        var zooModels: [PromptModel]?
        func promptModels(_ variant: SamplerVariant) throws -> [PromptModel] {
            guard variant.usesZooModels else { return chosen }
            if let zooModels { return zooModels }
            let path = prompts.prompts ?? selection.path
            let all = try PromptSelection(count: nil, split: ZooSplit(rawValue: prompts.promptSplit)!, epoch: prompts.promptEpoch)
                .load(try checkpointSource(path), path: path, defaultEpoch: selection.epochs?.max(), seed: seed,
                      settings: prompts.prompts == nil ? nil : try? runNetwork(), warn: diagnostic)
            zooModels = all
            return all
        }
        // The audit's distances: the checkpoints SANE was trained on, where they are of the target's architecture.
        let zoo = try Zoo(path: selection.path)
        let sameArchitecture = targetPreprocessing.isTrainingArchitecture
        if !sameArchitecture, audit || variants.count > 1 {
            diagnostic("audit: the training zoo is another architecture than the target; distances to training are left out (NaN)")
        }
        let trainingCheckpoints = try (audit || variants.count > 1) && !chosen.isEmpty && sameArchitecture
            ? zoo.models(in: .train, seed: selection.splitSeed).map { try zoo.loadCheckpoints(of: [$0], epochs: selection.epochs).checkpoints.map(\.stateDict) }
            : []
        diagnostic("sample: \(chosen.count) prompts (\(target.architecture.rawValue)) → \(samples) draws × \(rounds + 1) round(s) × \(grid.count) bandwidth(s) × \(variants.count) sampler(s) [\(variants.map(\.rawValue).joined(separator: ", "))], keep \(keep); scoring on \(validationSize) \(datasetName) training images")
        let bar = ProgressBar("sampling", total: samples * (rounds + 1) * grid.count * variants.count)
        let chosenRun: SamplerRun, samplerSelection: SamplerSelection?
        if variants.count == 1 {
            let variant = variants[0]
            let given = try promptModels(variant).map(\.stateDict)
            let (choice, result, sampler) = try BandwidthSelection.run(
                encoder: encoder, zoo: runZoo, target: target, settings: variant.apply(to: settings), grid: grid, prompts: given, data: data
            ) { sampler, index in
                sampler.onProgress = { round, done, k in bar.update((index * (rounds + 1) + round) * k + done, detail: "bandwidth \(grid[index]), round \(round)") }
            }
            (chosenRun, samplerSelection) = (SamplerRun(variant: variant, prompts: given, bandwidth: choice, result: result, sampler: sampler), nil)
        } else {
            let (selection, run, _) = try SamplerSelection.run(
                variants: variants, encoder: encoder, zoo: runZoo, target: target, settings: settings, grid: grid,
                prompts: { try promptModels($0).map(\.stateDict) }, training: trainingCheckpoints, data: data,
                configure: { sampler, variant, index in
                    let v = variants.firstIndex(of: variant)!
                    sampler.onProgress = { round, done, k in
                        bar.update(((v * grid.count + index) * (rounds + 1) + round) * k + done, detail: "\(variant.rawValue), bandwidth \(grid[index]), round \(round)")
                    }
                },
                auditProgress: { variant, done, total in
                    let v = variants.firstIndex(of: variant)!
                    bar.update((v + 1) * grid.count * (rounds + 1) * samples, detail: "\(variant.rawValue): audit on validation \(done)/\(total)")
                })
            (chosenRun, samplerSelection) = (run, selection)
        }
        bar.finish()
        let result = chosenRun.result, sampler = chosenRun.sampler, bandwidthChoice = chosenRun.bandwidth
        let runPrompts = try promptModels(chosenRun.variant)
        let anchors = result.anchors.map { runPrompts[$0] }

        var records: [SampleManifest.Sample] = []
        for (i, s) in result.kept.enumerated() {
            let file = String(format: "sample-%02d.safetensors", i)
            try Safetensors.write(s.evaluatedStateDict, to: outURL.appendingPathComponent(file))
            records.append(.init(file: file, validationAccuracy: s.validationAccuracy, round: s.round, draw: s.draw))
        }
        var manifest = SampleManifest(
            run: runFolder.url.standardizedFileURL.path, runZoo: runZoo, network: target, dataset: datasetName,
            dataDirectory: task.data.map { URL(fileURLWithPath: $0).standardizedFileURL.path }, validationSize: validationSize,
            settings: sampler.settings, promptLatentRMS: result.promptLatentRMS.isFinite ? result.promptLatentRMS : nil,
            promptLatentSpread: result.promptLatentSpread.isFinite ? result.promptLatentSpread : nil,
            bandwidthSelection: bandwidth == "auto" ? bandwidthChoice : nil,
            prompts: result.anchors.map { i in
                .init(name: runPrompts[i].name, path: runPrompts[i].path, validationAccuracy: result.promptAccuracies[i],
                      decodedValidationAccuracy: result.decodedPromptAccuracies[i])
            },
            rounds: result.rounds, samples: records)
        manifest.halo = encoder.halo
        manifest.sampler = chosenRun.variant
        manifest.samplerSelection = samplerSelection
        manifest.preprocessing = preprocessingLine
        try manifest.write(folder: outURL)

        func line(_ label: String, _ values: [Double], _ note: String = "") {
            let cell = values.isEmpty ? "-" : Table.meanPlusMinusStd(values.map { 100 * $0 }, decimals: 1)
            print("  " + label.padding(toLength: 20, withPad: " ", startingAt: 0) + cell + note)
        }
        if let samplerSelection {
            print("sampler chosen on validation (\(SamplerSelection.rule)):")
            for c in samplerSelection.candidates {
                let baselines = c.baselineValidationAccuracy.sorted { $0.key > $1.key }.map { String(format: "%@ %.1f %%", $0.key, 100 * $0.value) }.joined(separator: ", ")
                print(String(format: "  %@ %-14@ bandwidth %-4g, %d anchors: kept %.1f %% vs %@ → advantage %+.1f points (distance to prompt %.3f)",
                             c.variant == samplerSelection.chosen ? "→" : " ", c.variant.rawValue, c.bandwidth, c.anchors,
                             100 * c.keptValidationAccuracy, baselines, 100 * c.advantage, c.distanceToPrompt))
            }
        }
        print("validation accuracy % (mean ± std), \(datasetName), \(validationSize) images carved from the training set; sampler \(chosenRun.variant.rawValue):")
        line("prompts", anchors.indices.map { result.promptAccuracies[result.anchors[$0]] }, anchors.count == runPrompts.count ? "" : "   (the \(anchors.count) KDE anchors of \(runPrompts.count))")
        line("prompts decoded", result.anchors.map { result.decodedPromptAccuracies[$0] }, "   (own latents, bandwidth 0)")
        if bandwidth == "auto" {
            print("bandwidth chosen on validation (\(BandwidthSelection.rule)):")
            for c in bandwidthChoice.candidates {
                print(String(format: "  %@ %-5g × %@: kept %.1f %%, all draws %.1f %%", c.bandwidth == bandwidthChoice.chosen ? "→" : " ",
                             c.bandwidth, sampler.settings.unit.rawValue, 100 * c.meanKeptValidationAccuracy, 100 * c.meanValidationAccuracy))
            }
        }
        if !chosen.isEmpty {
            print(String(format: "  (prompt latents: rms %.4f, spread %.4f; bandwidth %g × %@ = mean noise std %.4g)", result.promptLatentRMS,
                         result.promptLatentSpread, sampler.settings.bandwidth, sampler.settings.unit.rawValue, result.effectiveBandwidth))
        }
        for r in result.rounds {
            line("round \(r.round), all \(samples)", r.validationAccuracies)
            line("round \(r.round), kept \(keep)", r.kept.map { r.validationAccuracies[$0] })
        }
        print("\(result.kept.count) samples written to \(out); next: sane finetune --models \(out)")
        guard audit, !chosen.isEmpty else { return }

        // The audit: baselines, then test accuracy once.
        let test = try task.load(datasetName, split: .test, side: target.architecture.inputSize)
        var fineTuning: GenerationAudit.FineTuningRequest?
        if auditFinetuneEpochs > 0 {
            var s = FineTuningSettings()
            s.epochs = auditFinetuneEpochs; s.seed = seed
            fineTuning = .init(training: training, settings: s)
        }
        let auditBar = ProgressBar("audit", total: 2 * samples)
        let report = try GenerationAudit.run(sampler: sampler, prompts: anchors.map(\.stateDict), kept: result.kept, training: trainingCheckpoints,
                                             data: data, test: test, fineTuning: fineTuning, seed: seed) { done, _ in auditBar.update(done, detail: "baseline draws") }
        auditBar.finish()
        try SaneJSON.write(report, to: outURL.appendingPathComponent("audit.json"))
        print("audit of sampler \(chosenRun.variant.rawValue) (\(samples) draws → best \(keep) by validation for every generator; distances: \(GenerationAudit.distanceUnit); test accuracy computed once, after every choice):")
        print(report.table.plainText, terminator: "")
        for line in report.distanceWarnings { print(line) }
        for line in report.verdictLines { print(line) }
        print("wrote audit.json to \(out)")
    }
}

/// Where prompt models come from: a zoo (seeded choice of models of a split at an epoch), a
/// folder of checkpoint files, or one checkpoint file (`CheckpointSource`).
struct PromptOptions: ParsableArguments {
    @Option(help: "Prompt models: a zoo directory, a folder of checkpoint files (*.safetensors, *.pt, *.pth), or one checkpoint file.") var prompts: String?
    @Option(help: "Zoo prompts: checkpoint epoch (default: for the run's own zoo the last epoch SANE was trained on, else each model's last).") var promptEpoch: Int?
    @Option(help: "Zoo prompts: how many models.") var promptCount = 5
    @Option(help: "Zoo prompts: the zoo split they come from (train, validation, test).") var promptSplit = "train"

    func validate() throws {
        try check("--prompt-count", promptCount, in: 1...(1 << 20))
        try check("--prompt-epoch", promptEpoch, in: 0...epochLimit)
        guard ZooSplit(rawValue: promptSplit) != nil else { throw ValidationError("--prompt-split must be train, validation or test") }
    }

    /// The prompts: `--prompts`, else the zoo `defaultZoo` (`PromptSelection.load`; what it
    /// leaves out is reported on stderr).
    func load(defaultZoo: String?, defaultEpoch: Int?, seed: UInt64, settings: ZooNetworkConfiguration?) throws -> [PromptModel] {
        guard let path = prompts ?? defaultZoo else { return [] }
        let selection = PromptSelection(count: promptCount, split: ZooSplit(rawValue: promptSplit)!, epoch: promptEpoch)
        return try selection.load(try checkpointSource(path), path: path, defaultEpoch: defaultEpoch, seed: seed,
                                  settings: settings, warn: diagnostic)
    }
}

/// The target task's images.
struct TaskDataOptions: ParsableArguments {
    @Option(help: "Data root holding one folder per dataset (e.g. ../shared/data), or the dataset's own folder.") var data: String?
    @Option(help: "Target dataset: mnist, fashion-mnist, digits8x8, cifar10 (default: the prompts' dataset, else mnist).") var dataset: String?

    /// A split of dataset `name` from `--data` (else `fallbackData`, else the default search),
    /// resized to `side`×`side` if needed.
    func load(_ name: String, split: DatasetSplit, side: Int, fallbackData: String? = nil) throws -> ImageDataset {
        var d: ImageDataset
        let data = self.data ?? fallbackData
        if let data, let named = NamedDataset(rawValue: name),
           !FileManager.default.fileExists(atPath: URL(fileURLWithPath: data).appendingPathComponent(name).path) {
            d = try named.source(in: URL(fileURLWithPath: data)).load(split)
        } else {
            d = try ImageDataset.load(name, split: split, dataDirectory: data)
        }
        if d.height != side || d.width != side {
            diagnostic("note: \(name) images are \(d.height)×\(d.width); resized to the network's \(side)×\(side) input")
            d = d.resized(to: side)
        }
        return d
    }
}
