import ArgumentParser
import Foundation
import Sane

/// `sane embed`: one embedding per checkpoint of a zoo, a folder of checkpoints or one
/// checkpoint file, with its labels (SANE-SPEC §6).
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed the checkpoints of a zoo, a folder or a file with a trained SANE run and save them as safetensors.",
        discussion: """
        Every selected checkpoint is preprocessed exactly as in training (aligned to the run's \
        reference with the permutation computed on the last selected epoch of its model, \
        standardized with the run's train statistics), tokenized, and encoded in haloed windows \
        (--content tokens kept per window, --halo context tokens on each side). The embedding of \
        a checkpoint pools its token latents (--pooling): their mean (d_z values, the paper's \
        "center of gravity"), the mean of each layer's tokens (layers: L·d_z values), or all of \
        them (tokens: N·d_z values).

        The file holds `embeddings` [M, d_z] (or [M, L·d_z], [M, N·d_z]), `epoch`, `test_acc`, `train_acc`, \
        `ggap` [M], and in __metadata__ `models` and `splits` (JSON arrays, one entry per row), \
        `mode`, `run`, `zoo`. Splits are by model, with the run's split seed.

        --zoo also takes a folder of checkpoint files (*.safetensors, *.pt, *.pth; one row \
        each, sorted by name) or one checkpoint file (one row); they have no split or epoch \
        (split "none", epoch and accuracies NaN), so --split and --epochs are for zoos. Their \
        keys and shapes must tokenize like the run's zoo; keys the tokenizer does not understand \
        (e.g. Keras names) are an error naming the file.

        Examples:
          sane embed --model runs/seed --zoo ../shared/zoos/mnist-cnn-seed --out seed.safetensors
          sane embed --model runs/seed --zoo ZOO --split test --epochs 0-5 --pooling layers --out test.safetensors
          sane embed --model runs/seed --zoo my-models/ --out mine.safetensors
          sane embed --model runs/seed --zoo model.pt --out one.safetensors
        """
    )

    @Option(help: "Trained SANE run folder (the --out of `sane pretrain`).") var model: String
    @OptionGroup var selection: ZooEpochOptions
    @Option(help: "train, validation, test, or all (model-level split).") var split = "all"
    @Option(help: "How token latents become one vector: mean (d_z values, the paper's), layers (per-layer means, L·d_z), tokens (all, N·d_z).") var pooling: EmbeddingPooling = .mean
    @OptionGroup var encoderOptions: EncoderOptions
    @Option(help: "Output file (.safetensors).") var out: String

    func validate() throws {
        _ = try splits(split)
    }

    func run() throws {
        // Rank 0 alone writes the file, so it alone holds its lock.
        let lock = try world.isRoot ? lockOutputFile(out, inputs: [("zoo", selection.zoo, false), ("run folder (--model)", model, true)],
                                                     purpose: "sane embed") : nil
        defer { lock?.release() }
        let encoder = try loadEncoder(model, options: encoderOptions)
        let source = try selection.source()
        let bar = ProgressBar("embed", total: 1)
        bar.quiet = !world.isRoot
        // Under mpirun the ranks embed blocks of the models; rank 0 writes the same file a single process would.
        let embeddings = try ModelEmbeddings(encoder: encoder, source: source, splits: try splits(split), epochs: try selection.epochList(),
                                             pooling: pooling, communicator: world) { done, total in
            bar.total = total
            bar.update(done, detail: "models")
        }
        bar.finish()
        guard world.isRoot else { return }
        if !embeddings.skipped.isEmpty {
            diagnostic("warning: skipped \(embeddings.skipped.count) checkpoints (NaN/Inf or |w| > 100), e.g. \(embeddings.skipped[0])")
        }
        try embeddings.write(to: URL(fileURLWithPath: out), metadata: ["run": model, "zoo": selection.zoo,
                                                                        "content": String(encoder.halo.content), "halo": String(encoder.halo.halo)])
        print("wrote \(embeddings.labels.count) embeddings of \(embeddings.embeddings.shape[1]) values (\(pooling.rawValue)) to \(out)")
    }
}

/// `--zoo` and `--epochs`, shared by embed, probe and analyze.
struct ZooEpochOptions: ParsableArguments {
    @Option(help: "Zoo directory (one folder per model, as ../shared/zoos/mnist-cnn-seed), a folder of checkpoint files (*.safetensors, *.pt, *.pth), or one checkpoint file.")
    var zoo: String
    @Option(help: "Epochs of a zoo to use: a range 0-5, a list 0,5,10, or both (0-2,10). Default: every epoch the zoo has.") var epochs: String?

    func validate() throws { _ = try epochList() }

    /// The epochs of `--epochs`, ascending; nil when not given.
    func epochList() throws -> [Int]? { try epochs.map { try parseEpochs($0) } }

    /// `--zoo` read as a zoo, a folder of checkpoint files or one file; a zoo's skipped entries reported.
    func source() throws -> CheckpointSource { try checkpointSource(zoo) }
}

/// The zoo, folder of checkpoint files or checkpoint file at `path` (`--zoo`, `--predict`,
/// `--prompts`), with what a zoo listing left out reported on stderr.
func checkpointSource(_ path: String) throws -> CheckpointSource {
    let source = try CheckpointSource(path: path)
    if let zoo = source.zoo { reportSkipped(zoo) }
    return source
}

/// `--run-epoch`, `--content` and `--halo`: which checkpoint of a run encodes, and the haloed
/// windows for sequences longer than the training window.
struct EncoderOptions: ParsableArguments {
    @Option(help: "Use the run's checkpoint of this epoch (kept with `sane pretrain --keep-every`) instead of the latest.")
    var runEpoch: Int?
    @Option(help: "Content tokens kept per window (default: half the run's window size).") var content: Int?
    @Option(help: "Context tokens on each side of a window (default: a quarter of the window size).") var halo: Int?

    func validate() throws {
        try check("--run-epoch", runEpoch, in: 0...epochLimit)
        try check("--content", content, in: 1...(1 << 20))
        try check("--halo", halo, in: 0...(1 << 20))
    }
}

/// The trained run at `path` (its checkpoint of --run-epoch, else the latest), with halo
/// settings from the command line.
func loadEncoder(_ path: String, options: EncoderOptions) throws -> SANEEncoder {
    guard FileManager.default.fileExists(atPath: path) else {
        throw CommandError("run folder \(path) does not exist (hint: pass the --out folder of `sane pretrain`)")
    }
    let encoder = try SANEEncoder(run: RunFolder(path: path), epoch: options.runEpoch)
    encoder.halo = HaloWindows(content: options.content ?? encoder.halo.content, halo: options.halo ?? encoder.halo.halo)
    return encoder
}

/// The zoo splits named by `--split`.
func splits(_ name: String) throws -> [ZooSplit] {
    if name == "all" { return ZooSplit.allCases }
    guard let split = ZooSplit(rawValue: name) else {
        throw ValidationError("--split must be train, validation, test or all, got '\(name)'")
    }
    return [split]
}

/// The last path component of a zoo directory, for default output folder names.
func zooName(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent }

extension EmbeddingPooling: ExpressibleByArgument {}
