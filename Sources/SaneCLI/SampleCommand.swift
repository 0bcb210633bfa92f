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
        latents. --prior-std σ starts from z ~ N(0, σ²I) instead of the prompts. The paper's \
        bandwidth 0.2 assumes its model's latent scale; --relative-bandwidth reads --bandwidth in \
        units of the prompt latents' RMS (printed after sampling), which carries over between runs.

        --prompts takes a zoo (--prompt-count models of its --prompt-split, seeded, at \
        --prompt-epoch; default: the run's own zoo at the last epoch it was trained on) or a \
        folder of checkpoints (*.safetensors, *.pt, *.pth; all of them, sorted by name).

        Writes OUT/sample-00.safetensors … (PyTorch key names, best first) and OUT/samples.json \
        (scores of every draw, prompt accuracies, settings). Evaluate and fine-tune them with \
        `sane finetune --models OUT`.

        Examples:
          sane sample --model runs/seed --out samples/seed
          sane sample --model runs/seed --prompt-epoch 5 --rounds 2 --out samples/boot
          sane sample --model runs/seed --bandwidth 0.3 --relative-bandwidth --out samples/rel
          sane sample --model RUN --prompts FMNIST_ZOO --dataset fashion-mnist --out S
          sane sample --model runs/seed --prior-std 10 --out samples/prior
        """
    )

    @Option(help: "Trained SANE run folder (the --out of `sane pretrain`).") var model: String
    @OptionGroup var prompts: PromptOptions
    @OptionGroup var task: TaskDataOptions
    @Option(help: "Validation examples carved from the training data to score samples.") var validationSize = 5000
    @Option(help: "k: samples drawn and scored per round.") var samples = 50
    @Option(help: "m: best samples kept (and written).") var keep = 10
    @Option(help: "Bootstrapping rounds after the first (each samples around the kept latents).") var rounds = 0
    @Option(help: "KDE bandwidth h in z = z_prompt + h·N(0, I).") var bandwidth: Float = 0.2
    @Flag(help: "--bandwidth is a multiple of the prompt latents' RMS (h = bandwidth · rms), not absolute.") var relativeBandwidth = false
    @Option(help: "sequence (one prompt per sample) or token (one prompt per token).") var mode = "sequence"
    @Option(help: "Sample the first round from the prior N(0, σ²I) instead of the prompts.") var priorStd: Float?
    @Option(help: "Which zoo of a multi-zoo run the target belongs to (its preprocessing applies).") var runZoo = 0
    @Option(help: "Random seed (prompt choice, draws, validation split).") var seed: UInt64 = 0
    @Option(help: "Output folder for the samples.") var out: String

    func validate() throws {
        guard SamplingSettings.Mode(rawValue: mode) != nil else { throw ValidationError("--mode must be sequence or token, got '\(mode)'") }
        try validating { try makeSettings().validate() }
        try check("--validation-size", validationSize, in: 1...Int.max)
        try check("--run-zoo", runZoo, in: 0...Int.max)
    }

    /// The sampling settings of the command line.
    func makeSettings() -> SamplingSettings {
        var settings = SamplingSettings()
        settings.samples = samples; settings.keep = keep; settings.rounds = rounds; settings.bandwidth = bandwidth
        settings.relativeBandwidth = relativeBandwidth
        settings.mode = SamplingSettings.Mode(rawValue: mode) ?? .sequence; settings.priorStandardDeviation = priorStd; settings.seed = seed
        return settings
    }

    func run() throws {
        let runFolder = RunFolder(path: model)
        let encoder = try SANEEncoder(run: runFolder)
        guard runZoo >= 0 && runZoo < encoder.manifest.zoos.count else {
            throw CommandError("--run-zoo \(runZoo): the run has \(encoder.manifest.zoos.count) zoo(s), numbered from 0")
        }
        let selection = encoder.manifest.zoos[runZoo]
        try FolderPaths.checkOutput(out, inputs: [("run folder (--model)", model, true), ("prompts", prompts.prompts ?? selection.path, false)]
                                    + (task.data.map { [("data folder", $0, false)] } ?? []))
        let outURL = URL(fileURLWithPath: out)
        let outLock = try FolderLock(folder: outURL, purpose: "sane sample")
        defer { outLock.release() }
        AtomicFile.removeStaleTemporaries(in: outURL)
        let chosen = try prompts.load(defaultZoo: selection.path, defaultEpoch: selection.epochs?.max(), seed: seed)
        guard priorStd != nil || !chosen.isEmpty else { throw CommandError("no prompt models found in \(prompts.prompts ?? selection.path)") }
        guard let network = try chosen.first?.network ?? Zoo(path: selection.path).models.first.map({ try ZooModelFactory.configuration(params: $0.params) }) else {
            throw CommandError("the run's zoo \(selection.path) has no models to take the target architecture from (hint: pass --prompts)")
        }
        let target = network
        let datasetName = task.dataset ?? chosen.first?.dataset ?? "mnist"
        let training = try task.load(datasetName, split: .train, side: target.architecture.inputSize)
        guard validationSize < training.count else {
            throw CommandError("--validation-size \(validationSize) needs more than the \(training.count) training examples of \(datasetName)")
        }
        let data = SamplingData(training: training, validationCount: validationSize, seed: seed)

        let settings = makeSettings()
        let sampler = try ModelSampler(encoder: encoder, zoo: runZoo, target: target, settings: settings)
        diagnostic("sample: \(chosen.count) prompts (\(target.architecture.rawValue), \(sampler.positions.count / 3) tokens) → \(samples) draws × \(rounds + 1) round(s), keep \(keep); scoring on \(validationSize) \(datasetName) training images")
        let bar = ProgressBar("sampling", total: samples * (rounds + 1))
        sampler.onProgress = { round, done, k in bar.update(round * k + done, detail: "round \(round)") }
        let result = try sampler.run(prompts: chosen.map(\.stateDict), data: data)
        bar.finish()

        var records: [SampleManifest.Sample] = []
        for (i, s) in result.kept.enumerated() {
            let file = String(format: "sample-%02d.safetensors", i)
            try Safetensors.write(s.stateDict, to: outURL.appendingPathComponent(file))
            records.append(.init(file: file, validationAccuracy: s.validationAccuracy, round: s.round, draw: s.draw))
        }
        let manifest = SampleManifest(
            run: runFolder.url.standardizedFileURL.path, runZoo: runZoo, network: target, dataset: datasetName,
            dataDirectory: task.data.map { URL(fileURLWithPath: $0).standardizedFileURL.path }, validationSize: validationSize,
            settings: settings, promptLatentRMS: result.promptLatentRMS.isFinite ? result.promptLatentRMS : nil,
            prompts: chosen.indices.map { i in
                .init(name: chosen[i].name, path: chosen[i].path, validationAccuracy: result.promptAccuracies[i],
                      decodedValidationAccuracy: result.decodedPromptAccuracies[i])
            },
            rounds: result.rounds, samples: records)
        try manifest.write(to: outURL.appendingPathComponent("samples.json"))

        func line(_ label: String, _ values: [Double], _ note: String = "") {
            let cell = values.isEmpty ? "-" : Table.meanPlusMinusStd(values.map { 100 * $0 }, decimals: 1)
            print("  " + label.padding(toLength: 20, withPad: " ", startingAt: 0) + cell + note)
        }
        print("validation accuracy % (mean ± std), \(datasetName), \(validationSize) images carved from the training set:")
        line("prompts", result.promptAccuracies)
        line("prompts decoded", result.decodedPromptAccuracies, "   (own latents, bandwidth 0)")
        if !chosen.isEmpty {
            let h = relativeBandwidth ? Double(bandwidth) * result.promptLatentRMS : Double(bandwidth)
            print(String(format: "  (prompt latents: rms %.3f; bandwidth %.3g = %.2f × rms)", result.promptLatentRMS, h, h / result.promptLatentRMS))
        }
        for r in result.rounds {
            line("round \(r.round), all \(samples)", r.validationAccuracies)
            line("round \(r.round), kept \(keep)", r.kept.map { r.validationAccuracies[$0] })
        }
        print("\(result.kept.count) samples written to \(out); next: sane finetune --models \(out)")
    }
}

/// What `samples.json` holds: enough to evaluate and fine-tune the samples next to their prompts.
struct SampleManifest: Codable {
    struct Prompt: Codable {
        var name: String
        /// The checkpoint file.
        var path: String
        var validationAccuracy: Double
        var decodedValidationAccuracy: Double?
    }
    struct Sample: Codable {
        var file: String
        var validationAccuracy: Double
        var round: Int
        var draw: Int
    }

    var format = "sane-samples"
    var version = 1
    var run: String
    var runZoo: Int
    var network: ZooNetworkConfiguration
    var dataset: String
    var dataDirectory: String?
    var validationSize: Int
    var settings: SamplingSettings
    var promptLatentRMS: Double?
    var prompts: [Prompt]
    var rounds: [SamplingRound]
    var samples: [Sample]

    func write(to url: URL) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(e.encode(self), to: url)
    }

    static func read(folder: String) throws -> SampleManifest {
        let url = URL(fileURLWithPath: folder).appendingPathComponent("samples.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CommandError("\(folder) has no samples.json (hint: pass a folder written by `sane sample --out`)")
        }
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do { return try d.decode(SampleManifest.self, from: data) } catch {
            throw CommandError("\(url.path) is not a samples manifest: \(error)")
        }
    }
}

/// A prompt model: its weights, where they came from, and (for zoo models) its network and dataset.
struct PromptModel {
    var name: String
    var path: String
    var stateDict: StateDict
    var network: ZooNetworkConfiguration?
    var dataset: String?
}

/// Where prompt models come from: a zoo (seeded choice of models of a split at an epoch) or a
/// folder of checkpoints.
struct PromptOptions: ParsableArguments {
    @Option(help: "Prompt models: a zoo directory, or a folder of checkpoints (*.safetensors, *.pt, *.pth).") var prompts: String?
    @Option(help: "Zoo prompts: checkpoint epoch (default: the last epoch SANE was trained on, else each model's last).") var promptEpoch: Int?
    @Option(help: "Zoo prompts: how many models.") var promptCount = 5
    @Option(help: "Zoo prompts: the zoo split they come from (train, validation, test).") var promptSplit = "train"

    func validate() throws {
        try check("--prompt-count", promptCount, in: 1...(1 << 20))
        try check("--prompt-epoch", promptEpoch, in: 0...epochLimit)
        guard ZooSplit(rawValue: promptSplit) != nil else { throw ValidationError("--prompt-split must be train, validation or test") }
    }

    /// The prompts: `--prompts`, else the zoo `defaultZoo`.
    func load(defaultZoo: String?, defaultEpoch: Int?, seed: UInt64) throws -> [PromptModel] {
        guard let path = prompts ?? defaultZoo else { return [] }
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let fm = FileManager.default
        let entries = ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
        guard fm.fileExists(atPath: url.path) else { throw CommandError("--prompts \(path) does not exist") }
        let checkpointFiles = entries.filter { [".safetensors", ".pt", ".pth"].contains(where: $0.hasSuffix) }
        if !checkpointFiles.isEmpty {
            return try checkpointFiles.map { file in
                let u = url.appendingPathComponent(file)
                return PromptModel(name: file, path: u.path, stateDict: try StateDict(contentsOf: u))
            }
        }
        let zoo = try Zoo(directory: url)
        reportSkipped(zoo)
        var g = SeededGenerator(seed: seed)
        let candidates = zoo.models(in: ZooSplit(rawValue: promptSplit)!)
        var chosen: [PromptModel] = []
        for i in g.permutation(candidates.count) where chosen.count < promptCount {
            let m = candidates[i]
            guard let epoch = promptEpoch ?? defaultEpoch ?? m.epochs.last, let file = m.checkpoints[epoch] else { continue }
            chosen.append(PromptModel(name: "\(m.name)@\(epoch)", path: file.path, stateDict: try m.loadCheckpoint(epoch: epoch),
                                      network: try ZooModelFactory.configuration(params: m.params), dataset: m.params.datasetName))
        }
        guard chosen.count == promptCount else {
            throw CommandError("zoo \(path) has only \(chosen.count) \(promptSplit)-split models with a checkpoint at epoch \((promptEpoch ?? defaultEpoch).map(String.init) ?? "last"), asked for \(promptCount)")
        }
        return chosen
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
        if d.height != side || d.width != side { d = d.resized(to: side) }
        return d
    }
}
