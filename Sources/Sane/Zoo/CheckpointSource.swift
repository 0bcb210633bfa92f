// Where a command's checkpoints come from. `--zoo` of embed and probe, `--predict` of probe and
// `--prompts` of sample all take a path that is one of
//
//   a zoo      ZOO/<trial-dir>/params.json + checkpoint_<E>/checkpoints[.safetensors] (SaneData's
//              `Zoo`: models, model-level splits, epochs, result.json targets);
//   a folder   DIR/*.safetensors, *.pt, *.pth: every file is a model of one checkpoint, sorted by
//              name; DIR/params.json, if present, configures them all;
//   a file     one checkpoint (safetensors or a PyTorch zip, told apart by content); a
//              params.json beside it, if present, configures it.
//
// A folder holding a model folder (a sub-folder with params.json) is a zoo. Checkpoint files have
// no split, epoch or recorded accuracy; what needs those (fitting a probe) asks for a zoo
// (`requireZoo`). Every checkpoint read is checked to be understood by the tokenizer
// (`Tokenizer.checkUnderstood`), so an unknown key set is an error naming the file, never 0 tokens.

import Foundation
import SaneData
import SaneTensor

/// One checkpoint read from a `CheckpointSource`.
public struct SourceCheckpoint: Sendable {
    /// The model: the zoo's trial directory name, or the checkpoint file's name.
    public var model: String
    /// The file it was read from.
    public var file: URL
    /// `training_iteration` of a zoo checkpoint; nil for a checkpoint file.
    public var epoch: Int?
    public var stateDict: StateDict
    /// The zoo's result.json line for `epoch`; nil when there is none.
    public var result: EpochResult?
}

/// One model of a `CheckpointSource`: a zoo model (its checkpoints at the selected epochs) or one
/// checkpoint file.
public struct SourceModel: Sendable {
    public let name: String
    /// The model's zoo split; nil for a checkpoint file (files have none).
    public let split: ZooSplit?
    /// The trial's params.json, or the one beside the checkpoint files; nil when there is none.
    public let params: ZooParams?
    private let zooModel: ZooModel?
    private let file: URL?
    private let epochs: [Int]?

    init(zooModel: ZooModel, split: ZooSplit, epochs: [Int]?) {
        name = zooModel.name; self.split = split; params = zooModel.params
        self.zooModel = zooModel; file = nil; self.epochs = epochs
    }

    init(file: URL, params: ZooParams?) {
        name = file.lastPathComponent; split = nil; self.params = params
        zooModel = nil; self.file = file; epochs = nil
    }

    /// Reads the model's checkpoints (epochs ascending), leaving out those `filter` rejects
    /// (NaN/Inf, |w| > 100) with a description each. Throws when a checkpoint cannot be read or
    /// has keys the tokenizer does not understand (the error names the file).
    public func load(filter: CheckpointFilter = CheckpointFilter()) throws -> (checkpoints: [SourceCheckpoint], skipped: [String]) {
        var kept: [SourceCheckpoint] = [], skipped: [String] = []
        func take(_ url: URL, epoch: Int?, result: EpochResult?) throws {
            let stateDict = try StateDict(contentsOf: url)
            try Tokenizer.checkUnderstood(stateDict, source: url.path)
            if let reason = filter.rejection(stateDict) {
                skipped.append("\(name)\(epoch.map { " epoch \($0)" } ?? ""): \(reason)")
            } else {
                kept.append(SourceCheckpoint(model: name, file: url, epoch: epoch, stateDict: stateDict, result: result))
            }
        }
        if let zooModel {
            for epoch in epochs ?? zooModel.epochs {
                if let url = zooModel.checkpoints[epoch] { try take(url, epoch: epoch, result: zooModel.results[epoch]) }
            }
        } else if let file {
            try take(file, epoch: nil, result: nil)
        }
        return (kept, skipped)
    }

    /// The network of `checkpoint` (one of this model's): from the model's params.json when it
    /// has one; else told from its keys and shapes by the architecture registry
    /// (`ZooArchitecture.identify`), with what weights do not hold (activation, dropout,
    /// initialization, input normalization) from `settings` — e.g. the SANE run's zoo — which must
    /// be of the same architecture. Otherwise a one-line error says what was found and how to
    /// specify it.
    public func network(of checkpoint: SourceCheckpoint, settings: ZooNetworkConfiguration?) throws -> ZooNetworkConfiguration {
        if let params { return try ZooModelFactory.configuration(params: params) }
        let beside = "put a params.json beside it with model::type (\(ZooArchitecture.allCases.map(\.rawValue).joined(separator: ", "))), model::nlin, model::channels_in, model::o_dim"
        guard let found = ZooArchitecture.identify(checkpoint.stateDict, settings: settings) else {
            let keys = checkpoint.stateDict.items.prefix(4).map { "\($0.0) \($0.1.shape)" }.joined(separator: ", ")
            throw SaneError("\(checkpoint.file.path): its keys and shapes (\(checkpoint.stateDict.count) entries: \(keys)\(checkpoint.stateDict.count > 4 ? ", …" : "")) match no registered architecture",
                            hint: beside)
        }
        guard let settings, settings.architecture == found.architecture else {
            throw SaneError("\(checkpoint.file.path) is a \(found.architecture) (told from its keys and shapes), but its activation, dropout and initialization are not in the weights\(settings.map { " and the run's zoo is a \($0.architecture)" } ?? "")",
                            hint: beside)
        }
        return found
    }
}

/// A zoo, a folder of checkpoint files, or one checkpoint file (see the top of this file).
public struct CheckpointSource: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case zoo, folder, file
    }

    public let kind: Kind
    /// The path given.
    public let url: URL
    /// The zoo, when `kind` is `.zoo`.
    public let zoo: Zoo?
    /// The checkpoint files, sorted by name, when `kind` is `.folder` or `.file`.
    public let files: [URL]
    /// params.json beside the checkpoint files, if any.
    public let params: ZooParams?

    /// File name endings of checkpoint files in a folder.
    public static let checkpointExtensions = [".safetensors", ".pt", ".pth"]

    /// The source at `path`: a file is a checkpoint file; a folder with a model folder (a
    /// sub-folder holding params.json) is a zoo; a folder with checkpoint files is a folder of
    /// checkpoints. Anything else is a one-line error saying what was found.
    public init(path: String) throws {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        self.url = url
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw SaneError("\(path) does not exist", hint: "pass a zoo folder (e.g. ../shared/zoos/mnist-cnn-seed), a folder of checkpoint files (*.safetensors, *.pt, *.pth) or one checkpoint file")
        }
        let beside = (isDirectory.boolValue ? url : url.deletingLastPathComponent()).appendingPathComponent("params.json")
        guard isDirectory.boolValue else {
            kind = .file; zoo = nil; files = [url]
            params = fm.fileExists(atPath: beside.path) ? try ZooParams(contentsOf: beside) : nil
            return
        }
        let entries = ((try? fm.contentsOfDirectory(atPath: url.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        let hasModelFolder = entries.contains { fm.fileExists(atPath: url.appendingPathComponent($0).appendingPathComponent("params.json").path) }
        let checkpointFiles = entries.filter { name in Self.checkpointExtensions.contains(where: name.hasSuffix) }.map { url.appendingPathComponent($0) }
            .filter { var d: ObjCBool = false; return fm.fileExists(atPath: $0.path, isDirectory: &d) && !d.boolValue }
        if hasModelFolder {
            kind = .zoo; zoo = try Zoo(directory: url); files = []; params = nil
        } else if !checkpointFiles.isEmpty {
            kind = .folder; zoo = nil; files = checkpointFiles
            params = fm.fileExists(atPath: beside.path) ? try ZooParams(contentsOf: beside) : nil
        } else {
            let found = entries.isEmpty ? "nothing" : "\(entries.count) entries, e.g. \(entries.prefix(3).joined(separator: ", "))"
            let hint = entries.contains("params.json")
                ? "this looks like one model folder of a zoo: pass the zoo (its parent folder) or one of its checkpoint_<E>/checkpoints files"
                : "a zoo holds <trial-dir>/params.json and <trial-dir>/checkpoint_<E>/checkpoints; a folder of checkpoints holds *.safetensors, *.pt or *.pth files; or pass one checkpoint file"
            throw SaneError("\(path) is neither a zoo nor a folder of checkpoint files (found \(found))", hint: hint)
        }
    }

    /// A zoo already listed.
    public init(zoo: Zoo) {
        kind = .zoo; url = zoo.directory; self.zoo = zoo; files = []; params = nil
    }

    /// "zoo PATH", "folder PATH (N checkpoint files)" or "checkpoint file PATH".
    public var description: String {
        switch kind {
        case .zoo: "zoo \(url.path)"
        case .folder: "folder \(url.path) (\(files.count) checkpoint file\(files.count == 1 ? "" : "s"))"
        case .file: "checkpoint file \(url.path)"
        }
    }

    /// Entries of a zoo left out (no params.json, unusable checkpoint entries, …); none for files.
    public var skipped: [ZooSkip] { zoo?.skipped ?? [] }

    /// The zoo, or a one-line error saying that `purpose` needs a zoo and this is checkpoint files.
    public func requireZoo(for purpose: String, hint: String) throws -> Zoo {
        guard let zoo else {
            throw SaneError("\(purpose) needs a zoo (model-level splits and recorded test_acc/train_acc/epochs in result.json), but \(self) holds bare checkpoints without them",
                            hint: hint)
        }
        return zoo
    }

    /// The models of `splits` (a zoo's model-level split with `seed`: split order, then the models
    /// in split order) with their checkpoints at `epochs` (nil = all), or every checkpoint file.
    /// Checkpoint files have neither split nor epoch: asking for a part of the splits or for
    /// epochs is an error for them.
    public func models(splits: [ZooSplit] = ZooSplit.allCases, epochs: [Int]? = nil, seed: Int = 42) throws -> [SourceModel] {
        if let zoo {
            return splits.flatMap { split in zoo.models(in: split, seed: seed).map { SourceModel(zooModel: $0, split: split, epochs: epochs) } }
        }
        guard Set(splits) == Set(ZooSplit.allCases) else {
            throw SaneError("\(self) has no model-level split (asked for \(splits.map(\.rawValue).joined(separator: ", ")))",
                            hint: "splits are a zoo's; leave out --split for checkpoint files")
        }
        guard epochs == nil else {
            throw SaneError("\(self) has no epochs to select (asked for \(epochs!.map(String.init).joined(separator: ",")))",
                            hint: "epochs select a zoo's checkpoints; leave out --epochs for checkpoint files")
        }
        return files.map { SourceModel(file: $0, params: params) }
    }
}
