import Foundation
import SaneData
import SaneTensor

/// A prompt model of `sane sample` / `sane finetune`: its weights, where they came from, its
/// network and (from params.json) dataset.
public struct PromptModel: Sendable {
    public var name: String
    /// The checkpoint file.
    public var path: String
    public var stateDict: StateDict
    public var network: ZooNetworkConfiguration
    public var dataset: String?
}

/// Which models are the prompts: from a zoo, a seeded choice of `count` models of `split` at one
/// epoch; from a folder of checkpoint files or one file (`CheckpointSource`), all of them.
public struct PromptSelection: Sendable {
    /// Zoo prompts: how many models (nil: every model of the split with a checkpoint at the
    /// epoch, as `--sampler kde30` needs), from which split, at which epoch (nil: `defaultEpoch`,
    /// else each model's last).
    public var count: Int?
    public var split: ZooSplit
    public var epoch: Int?

    public init(count: Int?, split: ZooSplit, epoch: Int?) {
        self.count = count; self.split = split; self.epoch = epoch
    }

    /// The prompts of `source` (`path` names it in messages). Zoo prompts: models taken in the
    /// order of a permutation seeded by `seed`, skipping those without a checkpoint at the
    /// epoch, until `count` are found (fewer is an error). Checkpoint files: every checkpoint
    /// (NaN/Inf or |w| > 100 ones left out, each passed to `warn`); their network is
    /// `SourceModel.network(of:settings:)` with `settings` the run's zoo's.
    public func load(_ source: CheckpointSource, path: String, defaultEpoch: Int?, seed: UInt64,
                     settings: ZooNetworkConfiguration?, warn: (String) -> Void) throws -> [PromptModel] {
        guard let zoo = source.zoo else {
            guard epoch == nil else {
                throw SaneError("--prompt-epoch selects zoo checkpoints; \(source) has no epochs")
            }
            return try source.models().flatMap { model in
                let loaded = try model.load()
                for skipped in loaded.skipped { warn("warning: prompt \(skipped): left out") }
                return try loaded.checkpoints.map { c in
                    PromptModel(name: c.model, path: c.file.path, stateDict: c.stateDict, network: try model.network(of: c, settings: settings),
                                dataset: model.params?.datasetName)
                }
            }
        }
        var g = SeededGenerator(seed: seed)
        let candidates = zoo.models(in: split)
        var chosen: [PromptModel] = []
        let wanted = count ?? candidates.count
        for i in g.permutation(candidates.count) where chosen.count < wanted {
            let m = candidates[i]
            guard let epoch = epoch ?? defaultEpoch ?? m.epochs.last, let file = m.checkpoints[epoch] else { continue }
            let stateDict = try m.loadCheckpoint(epoch: epoch)
            try Tokenizer.checkUnderstood(stateDict, source: file.path)
            chosen.append(PromptModel(name: "\(m.name)@\(epoch)", path: file.path, stateDict: stateDict,
                                      network: try ZooModelFactory.configuration(params: m.params), dataset: m.params.datasetName))
        }
        guard chosen.count == wanted || (count == nil && !chosen.isEmpty) else {
            throw SaneError("zoo \(path) has only \(chosen.count) \(split.rawValue)-split models with a checkpoint at epoch \((epoch ?? defaultEpoch).map(String.init) ?? "last"), asked for \(count.map(String.init) ?? "all")")
        }
        return chosen
    }
}
