// Model embeddings of a zoo, a folder of checkpoint files or one file (SANE-SPEC §6): every
// selected checkpoint is preprocessed exactly as in training (aligned to the run's reference,
// standardized with its train statistics), tokenized, encoded in haloed windows and reduced to
// one vector per checkpoint.
//
// Shape legend: M checkpoints, N tokens per model, d_z latent width.

import Foundation
import SaneData
import SaneTensor

/// The recorded properties of one checkpoint: the probe targets and where it comes from.
public struct CheckpointLabel: Codable, Equatable, Sendable {
    public var model: String
    /// `training_iteration` of the checkpoint; nil for a checkpoint file outside a zoo.
    public var epoch: Int?
    /// The zoo split of the model ("train", "validation", "test"), or "none" for a checkpoint
    /// file outside a zoo.
    public var split: String
    /// NaN where the zoo records none.
    public var testAccuracy: Double
    public var trainAccuracy: Double
    /// Generalization gap train_acc − test_acc.
    public var ggap: Double

    public init(_ checkpoint: SourceCheckpoint, split: ZooSplit?) {
        model = checkpoint.model
        epoch = checkpoint.epoch
        self.split = split?.rawValue ?? "none"
        testAccuracy = checkpoint.result?.testAccuracy ?? .nan
        trainAccuracy = checkpoint.result?.trainAccuracy ?? .nan
        ggap = checkpoint.result?.ggap ?? .nan
    }
}

extension SANEEncoder {
    /// Position of `zoo` among the zoos the run was trained on (same directory after resolving
    /// symlinks), nil for a zoo it has not seen.
    public func runZooIndex(of zoo: Zoo) -> Int? {
        let path = ZooSelection.canonical(zoo.directory)
        return manifest.zoos.firstIndex { $0.canonicalPath == path }
    }

    /// The model-level split seed the run used for `zoo` (42, the Model Zoos default, for a zoo it
    /// has not seen).
    public func splitSeed(for zoo: Zoo) -> Int { runZooIndex(of: zoo).map { manifest.zoos[$0].splitSeed } ?? 42 }

    /// The split seed of `source`: the run's for a zoo (`splitSeed(for:)`); checkpoint files have no split.
    public func splitSeed(for source: CheckpointSource) -> Int { source.zoo.map(splitSeed(for:)) ?? 42 }

    /// The run's preprocessing to use for `source`: the zoo of the run with the same directory,
    /// else the run's first zoo (new checkpoints of the same architecture). Throws a one-line
    /// error naming the checkpoint file when it does not tokenize like the run's reference (other
    /// layer keys, shapes or token count); one that does fits the position tables the run was
    /// trained with.
    /// - Parameter sample: any checkpoint of `source`, to read its architecture.
    public func preprocessingIndex(for source: CheckpointSource, sample: SourceCheckpoint) throws -> Int {
        let index = source.zoo.flatMap(runZooIndex(of:)) ?? 0
        let prep = preprocessing[index]
        let expected = try prep.tokenizer.layout(for: prep.reference)
        let layout = try prep.tokenizer.layout(for: sample.stateDict)
        let describe = { (l: TokenLayout) in
            "\(l.tokenCount) tokens in \(l.layers.count) layers (\(l.layers.map { "\($0.weightKey) \($0.weightShape.map(String.init).joined(separator: "×"))" }.joined(separator: ", ")))"
        }
        guard layout == expected else {
            let architecture = ZooArchitecture.identify(sample.stateDict).map { " (a \($0.architecture))" } ?? ""
            throw SaneError("\(sample.file.path)\(architecture) of \(source) does not fit this run: with token size d_t = \(layout.tokenSize) it tokenizes into \(describe(layout)), the run was trained on \(describe(expected))",
                            hint: "use a run trained on checkpoints of the same architecture (sane pretrain --zoo ZOO)")
        }
        return index
    }

    /// Embeddings of one model's checkpoints (a trajectory; alignment is computed on the last one,
    /// as in training): per checkpoint one vector per pooling of `poolings`, all from one encoding.
    public func embed(trajectory: [StateDict], zoo: Int, poolings: [EmbeddingPooling]) throws -> [[[Float]]] {
        try tokenize(trajectory: trajectory, zoo: zoo).map { sequence in
            let latents = encode(sequence)                                                  // (N, d_z)
            return poolings.map { SANEEncoder.pool(latents, positions: sequence.positions, $0) }
        }
    }
}

/// How the token latents z [N, d_z] of a model become its embedding.
public enum EmbeddingPooling: String, CaseIterable, Codable, Sendable {
    /// The mean token latent, d_z values: the paper's "center of gravity" (SANE-SPEC §6).
    case mean
    /// The mean token latent of each layer, concatenated in layer order: L·d_z values. Keeps
    /// which layer a feature comes from, as s(W) does with its per-layer statistics.
    case layers
    /// Every token latent, concatenated: N·d_z values (the spec's full-sequence variant).
    case tokens

    /// Parses a comma-separated list such as "mean,layers".
    public static func list(_ text: String) throws -> [EmbeddingPooling] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let poolings = names.compactMap(EmbeddingPooling.init(rawValue:))
        guard !poolings.isEmpty, poolings.count == names.count else {
            throw SaneError("unknown pooling in '\(text)'", hint: "use one or more of \(allCases.map(\.rawValue).joined(separator: ", ")), comma-separated")
        }
        return poolings
    }
}

/// Embeddings of the checkpoints of a zoo, a folder of checkpoint files or one file, with their
/// labels; written as safetensors.
public struct ModelEmbeddings: Sendable {
    /// [M] one label per row of `embeddings`: split order (train, validation, test as asked),
    /// models in split order, epochs ascending.
    public var labels: [CheckpointLabel]
    /// Embeddings (M, D): D = d_z (mean), L·d_z (layers) or N·d_z (tokens).
    public var embeddings: Tensor
    public var pooling: EmbeddingPooling
    /// Checkpoints left out by the NaN/Inf/|w| > 100 filter, described.
    public var skipped: [String]

    /// Embeds every checkpoint of the models of `splits` (split by model with the run's split
    /// seed for this zoo, 42 for a zoo the run has not seen) at `epochs` (nil = all); of a folder
    /// of checkpoint files every file, of a checkpoint file that one (one row each; they have no
    /// splits or epochs to select, `CheckpointSource.models`).
    /// With several ranks each embeds a contiguous block of the models and every rank receives
    /// all rows in the same order: each model is embedded on its own, so the result is identical
    /// to a single process's.
    /// - Parameter progress: called with (models done, models total) of this rank.
    public init(encoder: SANEEncoder, source: CheckpointSource, splits: [ZooSplit] = ZooSplit.allCases, epochs: [Int]? = nil,
                pooling: EmbeddingPooling = .mean, communicator: Communicator = SingleProcess(),
                progress: ((Int, Int) -> Void)? = nil) throws {
        self.pooling = pooling
        labels = []
        skipped = []
        var rows: [[Float]] = []
        let work = try source.models(splits: splits, epochs: epochs, seed: encoder.splitSeed(for: source))
        let mine = Array(work[communicator.share(of: work.count)])
        for (done, model) in mine.enumerated() {
            let loaded = try model.load()
            skipped += loaded.skipped
            if let first = loaded.checkpoints.first {
                let index = try encoder.preprocessingIndex(for: source, sample: first)   // every model: a misfit names its file
                rows += try encoder.embed(trajectory: loaded.checkpoints.map(\.stateDict), zoo: index, poolings: [pooling]).map { $0[0] }
                labels += loaded.checkpoints.map { CheckpointLabel($0, split: model.split) }
            }
            progress?(done + 1, mine.count)
        }
        if communicator.size > 1 { (rows, labels, skipped) = try Self.allGathered((rows, labels, skipped), over: communicator) }
        guard let width = rows.first?.count else {
            throw SaneError("no usable checkpoints in \(source)\(source.zoo == nil ? "" : " at the selected epochs in splits \(splits.map(\.rawValue).joined(separator: ", "))")\(skipped.first.map { " (skipped: \($0))" } ?? "")",
                            hint: "check --epochs against the epochs the zoo has; checkpoints with NaN/Inf or |w| > 100 are left out")
        }
        embeddings = Tensor(shape: [rows.count, width], scalars: rows.flatMap { $0 })   // (M, D)
    }

    /// Every rank's (rows, labels, skipped), concatenated in rank order, on every rank.
    static func allGathered(_ part: ([[Float]], [CheckpointLabel], [String]), over communicator: Communicator) throws
        -> ([[Float]], [CheckpointLabel], [String]) {
        struct Part: Codable { var rows: [[Float]]; var labels: [CheckpointLabel]; var skipped: [String] }
        let parts = try communicator.allGathered(Part(rows: part.0, labels: part.1, skipped: part.2))
        return (parts.flatMap(\.rows), parts.flatMap(\.labels), parts.flatMap(\.skipped))
    }

    /// Writes `embeddings` (M, D), `epoch`, `test_acc`, `train_acc`, `ggap` (M; NaN where unknown,
    /// as for checkpoint files outside a zoo) and, in
    /// `__metadata__`, `models` and `splits` (JSON arrays of strings, one per row), `mode`
    /// (the pooling: "mean", "layers" or "tokens") plus the caller's `metadata` (e.g. run and zoo paths).
    public func write(to url: URL, metadata: [String: String] = [:]) throws {
        func column(_ values: [Double]) -> Tensor { Tensor(shape: [values.count], scalars: values.map(Float.init)) }
        func jsonArray(_ strings: [String]) -> String { JSONValue.array(strings.map { .string($0) }).jsonText }
        var meta = metadata
        meta["models"] = jsonArray(labels.map(\.model))
        meta["splits"] = jsonArray(labels.map(\.split))
        meta["mode"] = pooling.rawValue
        let dict = StateDict([("embeddings", embeddings),
                              ("epoch", column(labels.map { $0.epoch.map(Double.init) ?? .nan })),
                              ("test_acc", column(labels.map(\.testAccuracy))),
                              ("train_acc", column(labels.map(\.trainAccuracy))),
                              ("ggap", column(labels.map(\.ggap)))], metadata: meta)
        try Safetensors.write(dict, to: url)
    }
}

