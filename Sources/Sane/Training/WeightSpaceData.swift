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

/// The samples of one run: train / validation / test checkpoints of one or more zoos, aligned
/// (optionally), standardized (optionally) and tokenized into a `TokenStore` on disk, from which
/// training reads one window at a time. One mechanism for every zoo size: a small zoo gets a
/// store in a temporary folder (removed with the data), a large one a store that later runs reuse.
public struct WeightSpaceData: Sendable {
    public let store: TokenStore
    public var preprocessing: [ZooPreprocessing]
    public var train: [WeightSample] { store.train }
    public var validation: [WeightSample] { store.validation }
    public var test: [WeightSample] { store.test }
    /// Checkpoints skipped by the NaN/Inf/threshold filter, described.
    public var skipped: [String] { store.skipped }
    /// The zoos' listings (skipped entries, model properties).
    public var zoos: [Zoo]
    /// Whether the store was built now (false: an existing store was reused).
    public var built: Bool

    /// Loads and preprocesses every selected checkpoint into a token store.
    /// - Parameters:
    ///   - standardize: fit per-layer standardization on each zoo's train split (SANE); off for
    ///     the MultiZoo loss normalization.
    ///   - permutations: random permutations per model for view 2.
    ///   - store: the store folder; nil = a temporary one. An existing store made with the same
    ///     settings from the same zoo files is reused; a stale or damaged one is refused with a
    ///     hint, or rebuilt when `rebuild`.
    ///   - progress: called with (done, total) models while a store is built.
    public init(selections: [ZooSelection], tokenizer: Tokenizer, standardize: Bool, align: Bool,
                permutations: Int, seed: UInt64, store storeURL: URL? = nil, rebuild: Bool = false,
                shardBytes: Int = TokenStore.defaultShardBytes, progress: ((Int, Int) -> Void)? = nil) throws {
        let store: TokenStore
        let settings = TokenStore.Settings(selections: selections, tokenizer: tokenizer.configuration, standardize: standardize,
                                           align: align, permutations: permutations, seed: seed)
        zoos = try selections.map { try Zoo(path: $0.path) }
        let temporary = storeURL == nil
        let directory = storeURL ?? FileManager.default.temporaryDirectory.appendingPathComponent("sane-token-store-\(UUID().uuidString)")
        if !temporary && !rebuild && FileManager.default.fileExists(atPath: directory.appendingPathComponent(TokenStore.indexName).path) {
            let contents = try zip(zoos, selections).map { try ZooContents(zoo: $0, selection: $1) }
            store = try TokenStore(opening: directory, settings: settings, contents: contents)
            built = false
        } else {
            if !temporary && !rebuild, let entries = try? FileManager.default.contentsOfDirectory(atPath: directory.path),
               entries.contains(where: { !$0.hasPrefix("shard-") && !$0.hasPrefix("reference-") && !$0.hasPrefix(".") }) {
                throw SaneError("token store folder \(directory.path) holds other files and no \(TokenStore.indexName)",
                                hint: "pass an empty or new folder as --token-store")
            }
            store = try TokenStore.build(at: directory, selections: selections, settings: settings, shardBytes: shardBytes,
                                              temporary: temporary, progress: progress)
            built = true
        }
        self.store = store
        let opened = store
        preprocessing = try (0..<selections.count).map { try opened.preprocessing(zoo: $0) }
    }

    /// The recorded properties of a sample's checkpoint (test accuracy, ggap, …), if the zoo has them.
    public func result(of sample: WeightSample) -> EpochResult? {
        zoos[sample.zoo].models.first { $0.name == sample.model }?.results[sample.epoch]
    }

    /// The token layouts of the zoos (positions, sequence lengths).
    public var layouts: [TokenLayout] { store.layouts }
}
