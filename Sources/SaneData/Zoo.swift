// Model zoos in the published "Model Zoos" layout (SANE-SPEC §1):
//
//   ZOO/<trial-dir>/params.json                     training configuration
//   ZOO/<trial-dir>/result.json                     JSON lines, one per epoch (training_iteration)
//   ZOO/<trial-dir>/checkpoint_<E:06>/checkpoints   torch.save(state_dict) after epoch E, or
//   ZOO/<trial-dir>/checkpoint_<E:06>/checkpoints.safetensors
//
// A `Zoo` lists its models (directories sorted by name) with their configuration and per-epoch
// results; checkpoints are read only when asked for.

import Foundation
import SaneTensor

/// A model's `params.json`, kept whole, with typed accessors for the keys Sane uses.
public struct ZooParams: Sendable {
    /// Every key of `params.json` (e.g. "model::type", "optim::lr").
    public var values: [String: JSONValue]

    public init(values: [String: JSONValue]) { self.values = values }

    /// Reads a `params.json` file (a JSON object).
    public init(contentsOf url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw SaneError("cannot read \(url.path)", hint: "params.json must be a readable file")
        }
        let params: JSONValue
        do { params = try JSONValue.parse(data) } catch let e as SaneError {
            throw SaneError("\(e.message) in \(url.path)")
        }
        guard let members = params.objectMembers else { throw SaneError("\(url.path) is not a JSON object") }
        values = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    public subscript(key: String) -> JSONValue? { values[key] }

    public var modelType: String? { values["model::type"]?.stringValue }
    /// Activation ("tanh", "relu", "gelu", "sigmoid", ...).
    public var nonlinearity: String? { values["model::nlin"]?.stringValue }
    public var initType: String? { values["model::init_type"]?.stringValue }
    public var channelsIn: Int? { values["model::channels_in"]?.intValue }
    public var outputDim: Int? { values["model::o_dim"]?.intValue }
    public var dropout: Double? { values["model::dropout"]?.doubleValue }
    /// Base channels of a width-scaled architecture (ResNets; 64 = the real models).
    public var width: Int? { values["model::width"]?.intValue }
    public var optimizer: String? { values["optim::optimizer"]?.stringValue }
    public var learningRate: Double? { values["optim::lr"]?.doubleValue }
    public var weightDecay: Double? { values["optim::wd"]?.doubleValue }
    public var seed: Int? { values["seed"]?.intValue }
    public var batchSize: Int? { values["training::batchsize"]?.intValue }
    public var datasetName: String? { values["dataset::name"]?.stringValue }
    /// `dataset::test_size`: the model was tested on the first N images of a fixed seed-1
    /// permutation of the test split (`ZooTrainer.testSubset`), not on all of it. Written by
    /// `sane zoo train` for a configuration with `test_size`; absent = the whole test split.
    public var testSize: Int? { values["dataset::test_size"]?.intValue }
}

/// One line of `result.json`: the model's measured properties after an epoch.
public struct EpochResult: Sendable {
    /// The line's `training_iteration`: the epoch it describes.
    public var epoch: Int
    public var trainLoss: Double?
    public var trainAccuracy: Double?
    public var testLoss: Double?
    public var testAccuracy: Double?
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    /// Every key of the line.
    public var values: [String: JSONValue]

    /// Generalization gap `train_acc − test_acc`.
    public var ggap: Double? {
        guard let train = trainAccuracy, let test = testAccuracy else { return nil }
        return train - test
    }

    init(values: [String: JSONValue], epoch: Int) {
        self.values = values
        self.epoch = epoch
        trainLoss = values["train_loss"]?.doubleValue
        trainAccuracy = values["train_acc"]?.doubleValue
        testLoss = values["test_loss"]?.doubleValue
        testAccuracy = values["test_acc"]?.doubleValue
        validationLoss = values["val_loss"]?.doubleValue
        validationAccuracy = values["val_acc"]?.doubleValue
    }
}

/// One trained model of a zoo: configuration, results and checkpoint files per epoch.
public struct ZooModel: Sendable {
    /// The trial directory's name.
    public let name: String
    public let directory: URL
    public let params: ZooParams
    /// Results by epoch (`training_iteration`), never by line number.
    public let results: [Int: EpochResult]
    /// Checkpoint files by epoch (from the `checkpoint_<E>` directory name).
    public let checkpoints: [Int: URL]
    /// `checkpoint_*` entries left out, with the reason (no file, a dangling link, a directory
    /// or FIFO where the file should be, a name without an epoch).
    public let skippedCheckpoints: [ZooSkip]

    /// Epochs that have a checkpoint, ascending.
    public var epochs: [Int] { checkpoints.keys.sorted() }

    /// Reads the weights after `epoch`.
    public func loadCheckpoint(epoch: Int) throws -> StateDict {
        guard let url = checkpoints[epoch] else {
            throw SaneError("model \(name) has no checkpoint for epoch \(epoch) in \(directory.path)",
                            hint: "available epochs: \(epochs.map(String.init).joined(separator: ", "))")
        }
        return try StateDict(contentsOf: url)
    }

    /// Reads `dir`'s params.json, result.json and checkpoint list.
    init(directory dir: URL) throws {
        directory = dir
        name = dir.lastPathComponent
        let fm = FileManager.default

        let paramsURL = dir.appendingPathComponent("params.json")
        guard fm.fileExists(atPath: paramsURL.path) else {
            throw SaneError("missing \(paramsURL.path)", hint: "every trial directory of a zoo needs params.json")
        }
        params = try ZooParams(contentsOf: paramsURL)

        var results: [Int: EpochResult] = [:]
        let resultURL = dir.appendingPathComponent("result.json")
        if let data = fm.contents(atPath: resultURL.path) {
            for (n, line) in data.split(separator: 0x0A).enumerated() where line.contains(where: { $0 > 0x20 }) {
                let value: JSONValue
                do { value = try JSONValue.parse(line) } catch let e as SaneError {
                    throw SaneError("\(e.message) on line \(n + 1) of \(resultURL.path)")
                }
                guard let m = value.objectMembers, let epoch = value["training_iteration"]?.intValue else {
                    throw SaneError("line \(n + 1) of \(resultURL.path) has no training_iteration",
                                    hint: "result.json lines are matched to checkpoints by training_iteration")
                }
                results[epoch] = EpochResult(values: Dictionary(m.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }),
                                             epoch: epoch)
            }
        }
        self.results = results

        var checkpoints: [Int: URL] = [:]
        var skipped: [ZooSkip] = []
        for entry in DirectoryEntry.list(dir) where entry.name?.hasPrefix("checkpoint_") == true {
            let name = entry.name!
            let folder = dir.appendingPathComponent(name)
            let path = "\(self.name)/\(name)"
            guard let epoch = Int(name.dropFirst("checkpoint_".count)), epoch >= 0 else {
                skipped.append(ZooSkip(path: path, reason: "not a checkpoint_<epoch> name")); continue
            }
            guard FileKind(folder) == .directory else {
                skipped.append(ZooSkip(path: path, reason: "\(FileKind(folder).description), not a folder")); continue
            }
            var problem = "no checkpoints or checkpoints.safetensors file"
            for file in ["checkpoints", "checkpoints.safetensors"] {
                let url = folder.appendingPathComponent(file)
                let kind = FileKind(url)
                if kind == .regular { checkpoints[epoch] = url; break }
                if kind != .missing { problem = "\(file) is \(kind.description)"; break }
            }
            if checkpoints[epoch] == nil { skipped.append(ZooSkip(path: path, reason: problem)) }
        }
        skippedCheckpoints = skipped.sorted { $0.path < $1.path }
        self.checkpoints = checkpoints
    }
}

/// Which part of a zoo's model-level split.
public enum ZooSplit: String, CaseIterable, Sendable {
    case train, validation, test
}

/// Rejects checkpoints whose weights are unusable: NaN, ±Inf, or any |w| > `threshold` in an
/// entry that `checks` selects — by default every entry but BatchNorm running statistics and
/// `num_batches_tracked`, which SANE does not tokenize by default; pretraining passes the
/// tokenizer's own rule (`Tokenizer.tokenizes`).
public struct CheckpointFilter: Sendable {
    public var threshold: Float
    /// Whether an entry (by state-dict key) is checked.
    public var checks: @Sendable (String) -> Bool

    public init(threshold: Float = 100, checks: @escaping @Sendable (String) -> Bool = CheckpointFilter.learnedEntries) {
        self.threshold = threshold
        self.checks = checks
    }

    /// Every entry except `*running_mean`, `*running_var` and `*num_batches_tracked`.
    public static let learnedEntries: @Sendable (String) -> Bool = {
        !($0.hasSuffix("running_mean") || $0.hasSuffix("running_var") || $0.hasSuffix("num_batches_tracked"))
    }

    /// Why `stateDict` is rejected, or nil if it is usable.
    public func rejection(_ stateDict: StateDict) -> String? {
        for (name, t) in stateDict.items where checks(name) {
            if t.hasNonFinite { return "\(name) has NaN or Inf" }
            let m = t.maxAbs
            if m > threshold { return "\(name) has |w| = \(m) > \(threshold)" }
        }
        return nil
    }
}

/// One loaded checkpoint of a zoo.
public struct ZooCheckpoint: Sendable {
    public let model: String
    public let epoch: Int
    public let stateDict: StateDict
    /// The result line with `training_iteration == epoch`, if the model has one.
    public let result: EpochResult?
}

/// A model zoo on disk.
public struct Zoo: Sendable {
    public let directory: URL
    /// Models sorted by directory name (never in file-system order).
    public let models: [ZooModel]
    /// Entries left out of `models` and checkpoints left out of them, with the reason.
    public let skipped: [ZooSkip]

    /// Lists the zoo at `directory`: every sub-folder with a params.json is a model. Reported in
    /// `skipped` instead: a folder without params.json, a name that is not UTF-8, a dangling
    /// link, a second name (symbolic link) for a model folder already listed — each model
    /// counts once, under its real folder's name if the zoo holds it, else its first name — and
    /// each model's unusable checkpoint entries. Files and hidden entries (`.name`: locks,
    /// temporaries) are not candidates.
    public init(directory: URL) throws {
        self.directory = directory
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw SaneError("zoo directory \(directory.path) does not exist",
                            hint: "pass the folder that holds one directory per model (e.g. ../shared/zoos/mnist-cnn-seed)")
        }
        var skipped: [ZooSkip] = []
        var candidates: [(name: String, url: URL, real: String, isLink: Bool)] = []
        for entry in DirectoryEntry.list(directory) {
            guard let name = entry.name else {
                if entry.isDirectory { skipped.append(ZooSkip(path: entry.printableName, reason: "name is not valid UTF-8")) }
                continue
            }
            let url = directory.appendingPathComponent(name)
            let kind = FileKind(url)
            let params = FileKind(url.appendingPathComponent("params.json"))
            if name.hasPrefix(".") && params != .regular { continue }
            switch kind {
            case .directory: break
            case .danglingLink: skipped.append(ZooSkip(path: name, reason: kind.description)); continue
            default: continue
            }
            guard params == .regular else {
                skipped.append(ZooSkip(path: name, reason: params == .missing ? "no params.json" : "params.json is \(params.description)"))
                continue
            }
            candidates.append((name, url, realPath(url), isSymbolicLink(url)))
        }
        candidates.sort { $0.name < $1.name }
        var keeper: [String: String] = [:]   // real path → the name that represents it
        for c in candidates where keeper[c.real] == nil {
            keeper[c.real] = (candidates.first { $0.real == c.real && !$0.isLink } ?? c).name
        }
        var kept: [URL] = []
        for c in candidates {
            if keeper[c.real] == c.name { kept.append(c.url) } else {
                skipped.append(ZooSkip(path: c.name, reason: "same model folder as \(keeper[c.real]!) (a symbolic link)"))
            }
        }
        models = try kept.map { try ZooModel(directory: $0) }
        self.skipped = skipped.sorted { $0.path < $1.path } + models.flatMap(\.skippedCheckpoints)
        guard !models.isEmpty, models.contains(where: { !$0.checkpoints.isEmpty }) else {
            let left = self.skipped.isEmpty ? "" : " (\(self.skipped.count) entries skipped, e.g. \(self.skipped[0]))"
            throw SaneError("zoo \(directory.path) has no models with checkpoints\(left)",
                            hint: "expected <trial-dir>/params.json and <trial-dir>/checkpoint_000001/checkpoints")
        }
    }

    public init(path: String) throws { try self.init(directory: URL(fileURLWithPath: path)) }

    /// Model names of a split by model: sort the names, shuffle them with CPython's
    /// `random.Random(seed).shuffle`, then the first `Int(n·train)` are train, the next
    /// `Int(n·validation)` validation, the rest test — the Model Zoos reference split.
    public func splitNames(seed: Int = 42, train: Double = 0.7, validation: Double = 0.15) -> [ZooSplit: [String]] {
        var names = models.map(\.name).sorted()
        var rng = PythonRandom(seed: seed)
        rng.shuffle(&names)
        let nTrain = Int(Double(names.count) * train)
        let nVal = min(Int(Double(names.count) * validation), names.count - nTrain)
        return [.train: Array(names[..<nTrain]),
                .validation: Array(names[nTrain..<nTrain + nVal]),
                .test: Array(names[(nTrain + nVal)...])]
    }

    /// The models of one split, in split (shuffled) order.
    public func models(in split: ZooSplit, seed: Int = 42, train: Double = 0.7, validation: Double = 0.15) -> [ZooModel] {
        let byName = Dictionary(uniqueKeysWithValues: models.map { ($0.name, $0) })
        return splitNames(seed: seed, train: train, validation: validation)[split]!.map { byName[$0]! }
    }

    /// Loads the checkpoints of `models` at `epochs` (nil = every epoch each model has),
    /// skipping unusable ones. Returns the kept checkpoints (model order, then epoch order) and
    /// a description of each skipped one, so callers can warn with a count.
    public func loadCheckpoints(of models: [ZooModel], epochs: [Int]? = nil,
                                filter: CheckpointFilter = CheckpointFilter()) throws -> (checkpoints: [ZooCheckpoint], skipped: [String]) {
        var kept: [ZooCheckpoint] = [], skipped: [String] = []
        for model in models {
            for epoch in (epochs ?? model.epochs) where model.checkpoints[epoch] != nil {
                let sd = try model.loadCheckpoint(epoch: epoch)
                if let reason = filter.rejection(sd) {
                    skipped.append("\(model.name) epoch \(epoch): \(reason)")
                } else {
                    kept.append(ZooCheckpoint(model: model.name, epoch: epoch, stateDict: sd, result: model.results[epoch]))
                }
            }
        }
        return (kept, skipped)
    }
}

/// Something in a zoo folder that was left out, and why.
public struct ZooSkip: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Relative to the zoo folder.
    public var path: String
    public var reason: String

    public init(path: String, reason: String) { self.path = path; self.reason = reason }

    public var description: String { "\(path): \(reason)" }
}

/// What is at a path, following symbolic links (a link to nothing is `danglingLink`).
enum FileKind: Equatable, CustomStringConvertible {
    case missing, danglingLink, regular, directory, fifo, other

    init(_ url: URL) {
        var st = stat()
        if stat(url.path, &st) != 0 {
            var l = stat()
            self = lstat(url.path, &l) == 0 && (l.st_mode & S_IFMT) == S_IFLNK ? .danglingLink : .missing
            return
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        default: self = .other
        }
    }

    var description: String {
        switch self {
        case .missing: return "missing"
        case .danglingLink: return "a dangling symbolic link"
        case .regular: return "a file"
        case .directory: return "a directory"
        case .fifo: return "a FIFO"
        case .other: return "not a regular file"
        }
    }
}

func isSymbolicLink(_ url: URL) -> Bool {
    var l = stat()
    return lstat(url.path, &l) == 0 && (l.st_mode & S_IFMT) == S_IFLNK
}

func realPath(_ url: URL) -> String {
    guard let p = realpath(url.path, nil) else { return url.path }
    defer { free(p) }
    return String(cString: p)
}

/// A directory entry with its raw name bytes (FileManager drops or mangles names that are not
/// UTF-8; readdir does not).
struct DirectoryEntry {
    var bytes: [UInt8]
    var isDirectory: Bool
    /// The name, nil when it is not valid UTF-8.
    var name: String? { String(validating: bytes, as: UTF8.self) }
    /// The name with invalid bytes written as \xNN.
    var printableName: String {
        bytes.map { $0 >= 0x20 && $0 < 0x7f ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0) }.joined()
    }

    /// The entries of `dir` except . and .. (empty when it cannot be read).
    static func list(_ dir: URL) -> [DirectoryEntry] {
        guard let d = opendir(dir.path) else { return [] }
        defer { closedir(d) }
        var out: [DirectoryEntry] = []
        while let e = readdir(d) {
            let bytes = withUnsafeBytes(of: e.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if bytes == [0x2E] || bytes == [0x2E, 0x2E] { continue }
            var st = stat()
            let path = dir.path.utf8CString.dropLast() + [0x2F] + bytes.map { CChar(bitPattern: $0) } + [0]
            let isDir = path.withUnsafeBufferPointer { stat($0.baseAddress!, &st) } == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            out.append(DirectoryEntry(bytes: bytes, isDirectory: isDir))
        }
        return out
    }
}
