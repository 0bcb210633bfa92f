import Foundation
import SaneData
import SaneTensor

/// Which checkpoints of a zoo enter a run.
public struct ZooSelection: Codable, Equatable, Sendable {
    /// Zoo directory.
    public var path: String
    /// Epochs used (nil = all). The paper's protocol pretrains on the first half only.
    public var epochs: [Int]?
    public var splitSeed = 42

    public init(path: String, epochs: [Int]? = nil, splitSeed: Int = 42) {
        self.path = path; self.epochs = epochs; self.splitSeed = splitSeed
    }

    /// `path` made absolute, standardized and with symlinks resolved: two selections name the same
    /// zoo when these are equal, however the path was spelled.
    public var canonicalPath: String { ZooSelection.canonical(URL(fileURLWithPath: path)) }

    /// The canonical form of a directory URL (see `canonicalPath`).
    public static func canonical(_ url: URL) -> String { url.standardizedFileURL.resolvingSymlinksInPath().path }
}

/// One checkpoint, preprocessed for SANE: aligned (optionally), standardized (optionally),
/// tokenized; plus its randomly permuted variants for the second augmentation view.
public struct WeightSample: Sendable {
    public var zoo: Int
    public var model: String
    public var epoch: Int
    /// The (aligned) model's tokens.
    public var sequence: TokenSequence
    /// The same checkpoint under the model's precomputed random permutations (view 2, §3).
    public var permuted: [TokenSequence]
    /// Recorded properties (test accuracy, ggap, …) where the zoo has them.
    public var result: EpochResult?
}

/// How a zoo is turned into tokens: its tokenizer, alignment reference and permutation spec,
/// and the per-layer standardization fitted on its train split. Stored with every run so that
/// embedding and sampling preprocess exactly as training did.
public struct ZooPreprocessing: Sendable {
    public var tokenizer: Tokenizer
    public var spec: PermutationSpec
    /// First train model at its last epoch (SANE-SPEC §3).
    public var reference: StateDict
    public var standardization: LayerStandardization?
    public var align: Bool

    /// Aligns (if enabled) and standardizes (if fitted) a model given at several epochs; the
    /// permutation is computed on the last epoch given. Returns the processed state dicts.
    public func prepare(trajectory: [StateDict], using g: inout SeededGenerator) throws -> [StateDict] {
        var states = trajectory
        if align {
            states = try WeightMatching.alignTrajectory(states, to: reference, spec: spec, using: &g).aligned
        }
        if let standardization { states = try states.map { try standardization.apply(to: $0) } }
        return states
    }

    /// Inverse of standardization (alignment needs no inverse: any permutation is a valid model).
    public func restore(_ state: StateDict) throws -> StateDict {
        try standardization?.invert(state) ?? state
    }
}

/// The samples of one run: train / validation / test checkpoints of one or more zoos.
public struct WeightSpaceData: Sendable {
    public var zoos: [Zoo]
    public var preprocessing: [ZooPreprocessing]
    public var train: [WeightSample] = []
    public var validation: [WeightSample] = []
    public var test: [WeightSample] = []
    /// Checkpoints skipped by the NaN/Inf/threshold filter, described.
    public var skipped: [String] = []

    /// Loads and preprocesses every selected checkpoint.
    /// - Parameters:
    ///   - standardize: fit per-layer standardization on each zoo's train split (SANE); off for
    ///     the MultiZoo loss normalization.
    ///   - permutations: random permutations per model for view 2.
    ///   - progress: called with (done, total) models.
    public init(selections: [ZooSelection], tokenizer: Tokenizer, standardize: Bool, align: Bool,
                permutations: Int, seed: UInt64, progress: ((Int, Int) -> Void)? = nil) throws {
        var g = SeededGenerator(seed: seed)
        zoos = try selections.map { try Zoo(path: $0.path) }
        preprocessing = []
        let total = zip(zoos, selections).reduce(0) { $0 + $1.0.models.count }
        var done = 0
        for (zi, (zoo, selection)) in zip(zoos, selections).enumerated() {
            let splits = [ZooSplit.train, .validation, .test].map { zoo.models(in: $0, seed: selection.splitSeed) }
            guard let referenceModel = splits[0].first, let lastEpoch = (selection.epochs ?? referenceModel.epochs).filter({ referenceModel.checkpoints[$0] != nil }).max() else {
                throw SaneError("zoo \(zoo.directory.path) has no train-split model with checkpoints at the selected epochs")
            }
            let reference = try referenceModel.loadCheckpoint(epoch: lastEpoch)
            var prep = ZooPreprocessing(tokenizer: tokenizer, spec: try PermutationSpec(zooModel: referenceModel.params, reference: reference),
                                        reference: reference, standardization: nil, align: align)
            // Load raw trajectories per split.
            var raw: [[(ZooModel, [ZooCheckpoint])]] = []
            for models in splits {
                var list: [(ZooModel, [ZooCheckpoint])] = []
                for model in models {
                    let (kept, skipped) = try zoo.loadCheckpoints(of: [model], epochs: selection.epochs,
                                                                  filter: CheckpointFilter(checks: { [tokenizer] in tokenizer.tokenizes($0) }))
                    self.skipped += skipped
                    if !kept.isEmpty { list.append((model, kept)) }
                }
                raw.append(list)
            }
            if standardize {
                // Statistics of the aligned train checkpoints (alignment permutes within layers, so
                // it does not change per-layer statistics; fit on raw values).
                prep.standardization = try LayerStandardization(fittingTo: raw[0].flatMap { $0.1.map(\.stateDict) }, tokenizer: tokenizer)
            }
            preprocessing.append(prep)
            for (si, list) in raw.enumerated() {
                var samples: [WeightSample] = []
                for (model, checkpoints) in list {
                    let states = try prep.prepare(trajectory: checkpoints.map(\.stateDict), using: &g)
                    let perms = (0..<permutations).map { _ in prep.spec.randomPermutation(using: &g) }
                    for (c, state) in zip(checkpoints, states) {
                        let seq = try tokenizer.tokenize(state)
                        let permuted = try perms.map { try tokenizer.tokenize(prep.spec.apply($0, to: state)) }
                        samples.append(WeightSample(zoo: zi, model: model.name, epoch: c.epoch, sequence: seq, permuted: permuted, result: c.result))
                    }
                    done += 1
                    progress?(done, total)
                }
                switch si { case 0: train += samples; case 1: validation += samples; default: test += samples }
            }
        }
    }
}
