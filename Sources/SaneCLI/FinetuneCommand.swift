import ArgumentParser
import Foundation
import Sane

/// `sane finetune`: zero-shot and fine-tuned test accuracy of SANE samples next to models
/// trained from scratch and the fine-tuned prompts (SANE-SPEC §7.6, the paper's Table 3).
struct FinetuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune SANE samples, their prompts and fresh initializations; compare test accuracy per epoch.",
        discussion: """
        Reads a folder written by `sane sample` (its samples.json names the network, dataset and \
        prompts). Every model of three groups — scratch (--scratch K fresh initializations), \
        prompts (the prompt models), SANE samples — is trained for --epochs epochs with the zoo \
        recipe (Adam, lr 1e-3, batch 64) on the full training split, and evaluated on the TEST \
        split before training (epoch 0 = zero-shot) and after every epoch. The ensemble (mean of \
        softmax outputs) of each group is evaluated too. Models train in parallel, one per core; \
        results do not depend on --jobs.

        Writes OUT/finetune.json (every curve), OUT/finetune.md (the table) and \
        OUT/finetune_curves.svg (mean ± std per group).

        Examples:
          sane finetune --models samples/seed --epochs 5
          sane finetune --models samples/fmnist --epochs 5 --scratch 10
          sane finetune --models samples/seed --epochs 1 --train-size 10000   # quick
        """
    )

    @Option(help: "Folder written by `sane sample` (samples + samples.json).") var models: String
    @OptionGroup var task: TaskDataOptions
    @Option(help: "Epochs of fine-tuning.") var epochs = 5
    @Option(help: "Models trained from scratch (fresh initializations, seeds 0…K−1; default: as many as samples).") var scratch: Int?
    @OptionGroup var prompts: PromptOptions
    @Flag(help: "Skip the prompt group.") var noPrompts = false
    @Option(help: "Learning rate (Adam).") var lr = 1e-3
    @Option(help: "Batch size.") var batchSize = 64
    @Option(help: "Train on the first N examples of a seeded permutation of the training split (quick runs).") var trainSize: Int?
    @Option(help: "Models trained at the same time (one per core).") var jobs = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Random seed (batch order, scratch initializations).") var seed: UInt64 = 0
    @Option(help: "Output folder (default: --models).") var out: String?

    func validate() throws {
        try validating { try makeSettings().validate() }
        try check("--scratch", scratch, in: 0...10_000)
        try check("--train-size", trainSize, in: 1...Int.max)
    }

    /// The fine-tuning settings of the command line.
    func makeSettings() -> FineTuningSettings {
        var settings = FineTuningSettings()
        settings.epochs = epochs; settings.learningRate = lr; settings.batchSize = batchSize; settings.seed = seed; settings.jobs = jobs
        return settings
    }

    func run() throws {
        let outURL = URL(fileURLWithPath: out ?? models)
        // The samples folder itself is the default output; the prompts and the data are not.
        let outLock = try lockOutputFolder(outURL.path, inputs: (prompts.prompts.map { [("prompts", $0, false)] } ?? [])
                                                + (task.data.map { [("data folder", $0, false)] } ?? []), purpose: "sane finetune")
        defer { outLock.release() }
        let manifest = try SampleManifest.read(folder: URL(fileURLWithPath: models))
        let folder = URL(fileURLWithPath: models)
        let samples = try manifest.samples.map { s in
            (name: s.file, stateDict: try StateDict(contentsOf: folder.appendingPathComponent(s.file)))
        }
        let promptModels: [(name: String, stateDict: StateDict)]
        if noPrompts {
            promptModels = []
        } else if prompts.prompts != nil {
            promptModels = try prompts.load(defaultZoo: nil, defaultEpoch: nil, seed: seed, settings: manifest.network).map { ($0.name, $0.stateDict) }
        } else {
            promptModels = try manifest.prompts.map { p in
                do { return (p.name, try StateDict(contentsOf: URL(fileURLWithPath: p.path))) } catch {
                    throw CommandError("prompt \(p.path) from samples.json cannot be read (hint: pass --prompts or --no-prompts): \(error)")
                }
            }
        }
        let target = manifest.network
        let scratchModels = (0..<(scratch ?? samples.count)).map { i in
            (name: "scratch-\(i)", stateDict: ZooNetwork(target.seeded(seed &+ UInt64(i))).stateDict())
        }

        let datasetName = task.dataset ?? manifest.dataset
        let side = target.architecture.inputSize
        var training = try task.load(datasetName, split: .train, side: side, fallbackData: manifest.dataDirectory)
        let test = try task.load(datasetName, split: .test, side: side, fallbackData: manifest.dataDirectory)
        if let trainSize, trainSize < training.count {
            var g = SeededGenerator(seed: seed)
            training = training.subset(Array(g.permutation(training.count)[..<trainSize]))
        }

        let settings = makeSettings()
        let groups = [("scratch", scratchModels), ("prompts", promptModels), ("SANE samples", samples)].filter { !$0.1.isEmpty }
        diagnostic("finetune: \(groups.map { "\($0.1.count) \($0.0)" }.joined(separator: ", ")); \(epochs) epochs on \(training.count) \(datasetName) training images, tested on \(test.count)")
        let totalEpochs = max(1, groups.reduce(0) { $0 + $1.1.count } * epochs)
        // Shared with the fine-tuning threads' progress callback, which holds `lock` for every use.
        nonisolated(unsafe) let bar = ProgressBar("finetune", total: totalEpochs)
        let lock = NSLock()
        var before = 0
        var results: [FineTuningGroup] = []
        for (name, initial) in groups {
            let offset = before
            results.append(try FineTuning.run(group: name, initial: initial, target: target, training: training, test: test,
                                              settings: settings) { done, _ in
                lock.lock(); defer { lock.unlock() }
                bar.update(offset + done, detail: name)
            })
            before += initial.count * epochs
        }
        bar.finish()

        let report = FinetuneReport(samples: URL(fileURLWithPath: models).standardizedFileURL.path, dataset: datasetName,
                                    trainingExamples: training.count, testExamples: test.count, network: target,
                                    settings: settings, groups: results)
        try report.write(folder: outURL)
        print(report.markdown, terminator: "")
        print("written: \(outURL.path)/finetune.{json,md} and finetune_curves.svg")
    }
}
