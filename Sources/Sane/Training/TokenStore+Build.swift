// Building a token store: one pass over the train split fits the standardization, a second
// loads each model's trajectory, aligns and standardizes it, draws its permutations and
// appends its tokens to the current shard. Only one model's checkpoints and one shard are in
// memory at a time.

import Foundation
import SaneData
import SaneTensor

extension TokenStore {
    /// Shards are written when they reach this many bytes (the last one may be smaller).
    public static let defaultShardBytes = 64 << 20

    /// Tokenizes the selected zoos into a new store at `directory` (its previous index and shards
    /// are removed first, so an interrupted build leaves no index: never a half-valid store) and
    /// opens it. The random draws (alignment's group order, the permutations) come from one
    /// generator seeded with `settings.seed`, in the order zoo → split (train, validation, test)
    /// → model, so a store is a function of the zoo files and the settings.
    public static func build(at directory: URL, selections: [ZooSelection], settings: Settings,
                             shardBytes: Int = TokenStore.defaultShardBytes, temporary: Bool = false,
                             progress: ((Int, Int) -> Void)? = nil) throws -> TokenStore {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        try? fm.removeItem(at: directory.appendingPathComponent(indexName))
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
        where name.hasPrefix("shard-") || name.hasPrefix("reference-") {
            try fm.removeItem(at: directory.appendingPathComponent(name))
        }
        let tokenizer = Tokenizer(settings.tokenizer)
        var g = SeededGenerator(seed: settings.seed)
        var writer = ShardWriter(directory: directory, limit: shardBytes)
        var zooEntries: [ZooEntry] = [], contents: [ZooContents] = []
        var splits: [[WeightSample]] = [[], [], []]
        var permutationShards: [Int] = []
        let zoos = try selections.map { try Zoo(path: $0.path) }
        let total = zoos.reduce(0) { $0 + $1.models.count }
        var done = 0
        for (zi, (zoo, selection)) in zip(zoos, selections).enumerated() {
            let zooContents = try ZooContents(zoo: zoo, selection: selection)
            contents.append(zooContents)
            let models = [ZooSplit.train, .validation, .test].map { zoo.models(in: $0, seed: selection.splitSeed) }
            guard let referenceModel = models[0].first, let lastEpoch = (selection.epochs ?? referenceModel.epochs).filter({ referenceModel.checkpoints[$0] != nil }).max() else {
                throw SaneError("zoo \(zoo.directory.path) has no train-split model with checkpoints at the selected epochs")
            }
            let reference = try referenceModel.loadCheckpoint(epoch: lastEpoch)
            try Safetensors.write(reference, to: directory.appendingPathComponent("reference-\(zi).safetensors"))
            // Without alignment a model of no known symmetry still trains (spec without groups: no permutations).
            let spec = try PermutationSpec(modelType: referenceModel.params.modelType, reference: reference, allowingNone: !settings.align)
            var prep = ZooPreprocessing(tokenizer: tokenizer, spec: spec, reference: reference, standardization: nil, align: settings.align)
            let filter = CheckpointFilter(checks: { [tokenizer] in tokenizer.tokenizes($0) })
            if settings.standardize {
                // Pass 1 (raw values: alignment permutes within layers and leaves per-layer statistics unchanged).
                var fit = LayerStandardization.Fit(tokenizer: tokenizer)
                for model in models[0] {
                    for checkpoint in try zoo.loadCheckpoints(of: [model], epochs: selection.epochs, filter: filter).checkpoints {
                        try fit.add(checkpoint.stateDict)
                    }
                }
                prep.standardization = try fit.result()
            }
            let layout = try tokenizer.layout(for: reference)
            try _ = LayerPermutationMap(spec: prep.spec, layout: layout)   // refuse a spec windows cannot apply before tokenizing
            var skipped: [String] = []
            for (si, list) in models.enumerated() {
                for model in list {
                    let (kept, skips) = try zoo.loadCheckpoints(of: [model], epochs: selection.epochs, filter: filter)
                    skipped += skips
                    if !kept.isEmpty {
                        let states = try prep.prepare(trajectory: kept.map(\.stateDict), using: &g)
                        let perms = (0..<settings.permutations).map { _ in prep.spec.randomPermutation(using: &g) }
                        let modelIndex = permutationShards.count
                        let flat = perms.flatMap { $0.groups.flatMap { $0.map(Float.init) } }
                        permutationShards.append(try writer.add("p\(modelIndex)", Tensor(shape: [perms.count, flat.count / max(perms.count, 1)], scalars: flat)))
                        for (c, state) in zip(kept, states) {
                            guard try tokenizer.layout(for: state) == layout else {
                                throw SaneError("checkpoint \(model.name) epoch \(c.epoch) of zoo \(zoo.directory.path) has another layout than the zoo's reference model",
                                                hint: "a zoo holds one architecture; move other models to a zoo of their own")
                            }
                            let sequence = try tokenizer.tokenize(state, layout: layout)
                            var sample = WeightSample(zoo: zi, model: model.name, epoch: c.epoch, modelIndex: modelIndex, tokens: sequence.count, shard: 0)
                            sample.shard = try writer.add("c\(checkpointKey(sample))", sequence.tokens)
                            splits[si].append(sample)
                        }
                    }
                    done += 1
                    progress?(done, total)
                }
            }
            zooEntries.append(ZooEntry(contents: zooContents, layout: layout, spec: prep.spec, standardization: prep.standardization, skipped: skipped))
        }
        try writer.flush()
        let index = Index(settings: settings, zoos: zooEntries, shards: writer.shards,
                          train: splits[0], validation: splits[1], test: splits[2], permutationShards: permutationShards)
        try AtomicFile.write(SaneJSON.encode(index, pretty: false), to: directory.appendingPathComponent(indexName))
        return try TokenStore(opening: directory, settings: settings, contents: contents, temporary: temporary)
    }

    /// Appends tensors to the current shard and writes it (atomically) once it holds `limit` bytes.
    struct ShardWriter {
        let directory: URL
        let limit: Int
        var pending = StateDict()
        var pendingBytes = 0
        var shards: [Shard] = []

        init(directory: URL, limit: Int) { self.directory = directory; self.limit = limit }

        /// Adds `tensor` as `name`; returns the index of the shard it will be in.
        mutating func add(_ name: String, _ tensor: Tensor) throws -> Int {
            let shard = shards.count
            pending[name] = tensor
            pendingBytes += 4 * tensor.count
            if pendingBytes >= limit { try flush() }
            return shard
        }

        mutating func flush() throws {
            guard !pending.items.isEmpty else { return }
            let file = String(format: "shard-%05d.safetensors", shards.count)
            let data = Safetensors.encode(pending)
            try AtomicFile.write(data, to: directory.appendingPathComponent(file))
            shards.append(Shard(file: file, bytes: data.count, hash: ZooContents.fnv1a(data)))
            pending = StateDict()
            pendingBytes = 0
        }
    }
}
