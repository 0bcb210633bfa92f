import Foundation

// Trains a population of zoo networks and writes it in the Model Zoos layout (SANE-SPEC §1):
//
//   OUT/<prefix>_<index:05>_seed=<seed>/params.json          keys as in the shared zoos
//   OUT/<...>/result.json                                    one JSON line per epoch 0…E
//   OUT/<...>/checkpoint_<E:06>/checkpoints.safetensors      weights after epoch E (0 = init)
//   OUT/<...>/done                                           written last
//
// Determinism: a model's files depend only on the configuration and its seed — not on --jobs,
// sharding, or interruptions — and contain no timings, so the same configuration gives a
// byte-identical zoo. BLAS runs single-threaded during training (one model per core).
// Resumption: a model directory with `done` is skipped; one without is deleted and trained
// again from scratch (same bytes as an uninterrupted run). Every file is written atomically.
// Concurrency: processes may train into one OUT (e.g. shards); OUT holds a shared lock per
// process and OUT/.locks/<model>.lock an exclusive one per model in training, so no model is
// trained twice at a time; a model locked by another process is left to it and reported.

/// A zoo-training configuration, read from JSON. Every hyperparameter may be one value or a list
/// of choices:
///
///     { "dataset": "mnist", "architecture": "CNN", "epochs": 10, "sampling": "grid",
///       "seeds": [1, 2, 3], "activation": ["tanh", "relu"], "init": "kaiming_uniform",
///       "optimizer": "adam", "lr": [1e-3, 3e-3], "weight_decay": 0, "dropout": 0,
///       "batch_size": 64, "prefix": "mnist_cnn" }
///
/// `sampling` "grid": one model per combination of all choices (seed varies fastest), "random":
/// `models` models with seeds first_seed, first_seed+1, … (first_seed = seeds[0]) and each
/// choice drawn from SeededGenerator(seed: 1000 + seed). Optional: `data_dir` (datasets root),
/// `width` (base channels of a ResNet; see `ZooArchitecture`), `train_size`/`test_size` (use the first N of a fixed seed-0 permutation of the
/// training images / N test images, see `testSubset`; `test_size` is recorded as `"dataset::test_size"`
/// so `zoo eval` re-evaluates on the same images), `validation_size` (held out from training, reported as val_loss/val_acc),
/// `train_eval_size` [10000], `momentum` [0.9, for sgd], `channels_in` [from the data],
/// `outputs` [10], `augment` [false: true trains on random crops of the 4-pixel zero-padded
/// images, mirrored with probability ½ — the usual CIFAR augmentation; recorded in params.json as
/// `"training::augment": "crop4_flip"`], `normalize` [none: `{"mean": [..], "std": [..]}` per
/// input channel; recorded as `"dataset::mean"` / `"dataset::std"` and applied by the network to
/// its input, so evaluation, sampling and fine-tuning normalize the same way].
public struct ZooTrainingConfiguration: Sendable {
    public enum Sampling: String, Sendable { case grid, random }

    public var dataset: String
    public var dataDirectory: String?
    public var architecture: ZooArchitecture
    public var epochs: Int
    public var sampling: Sampling = .grid
    public var models: Int?
    public var seeds: [Int] = [1]
    public var activations: [Activation] = [.tanh]
    public var initializations: [ZooInitialization] = [.kaimingUniform]
    /// "adam", "adamw" or "sgd".
    public var optimizers: [String] = ["adam"]
    public var learningRates: [Double] = [1e-3]
    public var weightDecays: [Double] = [0]
    public var dropouts: [Double] = [0]
    public var batchSizes: [Int] = [64]
    public var momentum: Double = 0.9
    public var prefix: String = "model"
    public var trainSize: Int?
    public var testSize: Int?
    public var validationSize: Int = 0
    public var trainEvaluationSize: Int = 10_000
    public var channelsIn: Int?
    public var outputs: Int = 10
    /// Random crop (4-pixel zero padding) + horizontal flip of every training batch.
    public var augment = false
    /// Per-channel input normalization (see `ZooModelFactory.inputNormalization`).
    public var inputMean: [Float]?
    public var inputStd: [Float]?
    /// `model::width` of width-scaled architectures (ResNets); nil = the architecture's default.
    public var width: Int?

    public init(dataset: String, architecture: ZooArchitecture = .cnn, epochs: Int) {
        self.dataset = dataset; self.architecture = architecture; self.epochs = epochs
    }

    /// Parses the JSON configuration (see the type's documentation).
    public init(json: JSONValue) throws {
        func list<T>(_ key: String, _ convert: (JSONValue) -> T?) throws -> [T]? {
            guard let v = json[key] else { return nil }
            let items = v.arrayValue ?? [v]
            let out = items.compactMap(convert)
            guard out.count == items.count, !out.isEmpty else { throw SaneError("config key \"\(key)\" has an invalid value \(v.jsonText)") }
            return out
        }
        func enumList<E: RawRepresentable>(_ key: String, _: E.Type) throws -> [E]? where E.RawValue == String {
            try list(key) { $0.stringValue.flatMap(E.init(rawValue:)) }
        }
        guard let ds = json["dataset"]?.stringValue else { throw SaneError("config needs \"dataset\" (e.g. \"mnist\")") }
        guard let epochs = json["epochs"]?.intValue, epochs >= 0 else { throw SaneError("config needs \"epochs\" (a whole number)") }
        let archName = json["architecture"]?.stringValue ?? "CNN"
        guard let arch = ZooArchitecture(rawValue: archName) else {
            throw SaneError("unknown architecture \"\(archName)\"", hint: "known: \(ZooArchitecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.init(dataset: ds, architecture: arch, epochs: epochs)
        let known: Set<String> = ["dataset", "data_dir", "architecture", "epochs", "sampling", "models", "seeds", "activation", "init",
                                  "optimizer", "lr", "weight_decay", "dropout", "batch_size", "momentum", "prefix", "train_size",
                                  "test_size", "validation_size", "train_eval_size", "channels_in", "outputs", "augment", "normalize", "width"]
        if let unknown = json.objectMembers?.first(where: { !known.contains($0.key) }) {
            throw SaneError("unknown config key \"\(unknown.key)\"", hint: "known keys: \(known.sorted().joined(separator: ", "))")
        }
        dataDirectory = json["data_dir"]?.stringValue
        if let s = json["sampling"]?.stringValue {
            guard let m = Sampling(rawValue: s) else { throw SaneError("sampling must be \"grid\" or \"random\", got \"\(s)\"") }
            sampling = m
        }
        models = json["models"]?.intValue
        if sampling == .random && (models ?? 0) < 1 { throw SaneError("random sampling needs \"models\" ≥ 1") }
        seeds = try list("seeds") { $0.intValue } ?? seeds
        activations = try enumList("activation", Activation.self) ?? activations
        initializations = try enumList("init", ZooInitialization.self) ?? initializations
        optimizers = try list("optimizer") { v in v.stringValue.flatMap { ["adam", "adamw", "sgd"].contains($0) ? $0 : nil } } ?? optimizers
        learningRates = try list("lr") { $0.doubleValue } ?? learningRates
        weightDecays = try list("weight_decay") { $0.doubleValue } ?? weightDecays
        dropouts = try list("dropout") { $0.doubleValue.flatMap { $0 >= 0 && $0 < 1 ? $0 : nil } } ?? dropouts
        batchSizes = try list("batch_size") { $0.intValue.flatMap { $0 > 0 ? $0 : nil } } ?? batchSizes
        momentum = json["momentum"]?.doubleValue ?? momentum
        if let p = json["prefix"] {
            guard let text = p.stringValue else { throw SaneError("config key \"prefix\" must be a string, got \(p.jsonText)") }
            prefix = text
        }
        trainSize = json["train_size"]?.intValue
        testSize = json["test_size"]?.intValue
        validationSize = json["validation_size"]?.intValue ?? 0
        trainEvaluationSize = json["train_eval_size"]?.intValue ?? trainEvaluationSize
        channelsIn = json["channels_in"]?.intValue
        outputs = json["outputs"]?.intValue ?? outputs
        if let w = json["width"] {
            guard let n = w.intValue else { throw SaneError("config key \"width\" has an invalid value \(w.jsonText)", hint: "a whole number of base channels, e.g. 16") }
            width = try ZooModelFactory.checkedWidth(n, for: arch)
        }
        if let a = json["augment"] {
            guard let b = a.boolValue else { throw SaneError("config key \"augment\" must be true or false, got \(a.jsonText)") }
            augment = b
        }
        if let n = json["normalize"] {
            guard n["mean"] != nil || n["std"] != nil, let channels = n["mean"]?.arrayValue?.count else {
                throw SaneError("config key \"normalize\" must be {\"mean\": [..], \"std\": [..]}, got \(n.jsonText)")
            }
            (inputMean, inputStd) = try ZooModelFactory.inputNormalization(n["mean"], n["std"], channels: channelsIn ?? channels)
        }
        try validate()
    }

    /// Refuses a `prefix` that would put model folders anywhere but directly in the output
    /// folder, or hide them: it becomes part of a folder name, so it may hold letters, digits and
    /// `_ - . + = ,` only, must not start with `.`, and at most 200 characters.
    public static func checkPrefix(_ prefix: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+=,")
        guard !prefix.isEmpty, prefix.count <= 200, !prefix.hasPrefix("."), prefix.allSatisfy(allowed.contains) else {
            throw SaneError("config key \"prefix\" is \(JSONValue.string(prefix).jsonText); model folders are named <prefix>_<index>_seed=<seed> directly in --out",
                            hint: "use letters, digits and _ - . + = , only (no / and no leading .), e.g. \"mnist_cnn\"")
        }
    }

    /// Reads a JSON configuration file.
    public init(contentsOf url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw SaneError("cannot read config \(url.path)") }
        do { try self.init(json: JSONValue.parse(data)) } catch let e as SaneError { throw SaneError("\(e.message) in \(url.path)", hint: e.hint) }
    }
}

/// One model to train: its directory name and hyperparameters.
public struct ZooTrial: Sendable, Equatable {
    public var index: Int
    public var seed: Int
    public var activation: Activation
    public var initialization: ZooInitialization
    public var optimizer: String
    public var learningRate: Double
    public var weightDecay: Double
    public var dropout: Double
    public var batchSize: Int

    /// `<prefix>_<index:05>_seed=<seed>`
    public func directoryName(prefix: String) -> String { "\(prefix)_\(String(format: "%05d", index))_seed=\(seed)" }
}

/// Progress of a zoo-training run, reported after every epoch.
public struct ZooTrainingProgress: Sendable {
    public var model: String
    public var epoch: Int
    public var testAccuracy: Double
    /// Epochs finished in this run / epochs this run has to do (excluding skipped models).
    public var completedEpochs: Int
    public var totalEpochs: Int
}

public enum ZooTrainer {
    /// The models a configuration describes, in order (see `ZooTrainingConfiguration`).
    public static func trials(_ c: ZooTrainingConfiguration) -> [ZooTrial] {
        switch c.sampling {
        case .grid:
            var out: [ZooTrial] = []
            for act in c.activations { for ini in c.initializations { for opt in c.optimizers { for lr in c.learningRates {
                for wd in c.weightDecays { for p in c.dropouts { for bs in c.batchSizes { for seed in c.seeds {
                    out.append(ZooTrial(index: out.count, seed: seed, activation: act, initialization: ini, optimizer: opt,
                                        learningRate: lr, weightDecay: wd, dropout: p, batchSize: bs))
                } } } } } } } }
            return out
        case .random:
            return (0..<(c.models ?? 0)).map { i in
                let seed = (c.seeds.first ?? 1) + i
                var g = SeededGenerator(seed: UInt64(truncatingIfNeeded: 1000 + seed))
                func pick<T>(_ xs: [T]) -> T { xs[g.int(below: xs.count)] }
                return ZooTrial(index: i, seed: seed, activation: pick(c.activations), initialization: pick(c.initializations),
                                optimizer: pick(c.optimizers), learningRate: pick(c.learningRates), weightDecay: pick(c.weightDecays),
                                dropout: pick(c.dropouts), batchSize: pick(c.batchSizes))
            }
        }
    }

    /// The data a run trains and evaluates on.
    struct Data {
        var train: ImageDataset, trainEvaluation: ImageDataset, validation: ImageDataset?, test: ImageDataset
    }

    /// Loads the dataset, resized to the architecture's input side (e.g. 8×8 digits → 28×28),
    /// and carves the fixed subsets (seed-0 permutation of the training set: validation first,
    /// then training; the train-evaluation subset is the first `train_eval_size` of the latter).
    static func loadData(_ c: ZooTrainingConfiguration) throws -> Data {
        func fit(_ d: ImageDataset) -> ImageDataset {
            let side = c.architecture.inputSize
            return d.height == side && d.width == side ? d : d.resized(to: side)
        }
        var full = fit(try ImageDataset.load(c.dataset, split: .train, dataDirectory: c.dataDirectory))
        var test = fit(try ImageDataset.load(c.dataset, split: .test, dataDirectory: c.dataDirectory))
        try c.validate(train: full, test: test)
        if let n = c.testSize { test = testSubset(test, count: n) }
        var g = SeededGenerator(seed: 0)
        var order = g.permutation(full.count)
        let nVal = min(c.validationSize, full.count - 1)
        let validation = nVal > 0 ? full.subset(Array(order[..<nVal])) : nil
        order.removeFirst(nVal)
        if let n = c.trainSize, n < order.count { order = Array(order[..<n]) }
        full = full.subset(order)
        let evaluation = full.subset(Array(0..<min(c.trainEvaluationSize, full.count)))
        return Data(train: full, trainEvaluation: evaluation, validation: validation, test: test)
    }

    /// The `test_size` images a zoo is tested on: the first `count` of a fixed seed-1 permutation,
    /// in dataset order. Not the first `count` images: a dataset stored by class (the CIFAR-10
    /// archive) would be tested on one class.
    public static func testSubset(_ test: ImageDataset, count: Int) -> ImageDataset {
        guard count < test.count else { return test }
        var g = SeededGenerator(seed: 1)
        return test.subset(g.permutation(test.count)[..<count].sorted())
    }

    /// Trains the models of `configuration` whose index i satisfies i % shard.count == shard.index
    /// into `output`, `jobs` models at a time. Models already `done` are skipped; partial ones
    /// continue after their last finished epoch (`ResumeState`), or restart when it is missing. `epochLimit` stops the run after that many trained epochs in this
    /// call (it simulates an interruption; the stopped model stays partial).
    /// Returns the number of models finished by this call.
    @discardableResult
    public static func train(_ configuration: ZooTrainingConfiguration, output: URL, shard: (index: Int, count: Int) = (0, 1),
                             jobs: Int = 2, epochLimit: Int? = nil,
                             progress: (@Sendable (ZooTrainingProgress) -> Void)? = nil) throws -> Int {
        guard shard.count >= 1 && shard.index >= 0 && shard.index < shard.count else {
            throw SaneError("invalid shard \(shard.index)/\(shard.count)", hint: "use i/n with 0 ≤ i < n")
        }
        try configuration.validate()
        let fm = FileManager.default
        // Shared: other processes may train other models (shards) into the same folder; each
        // model is trained under its own exclusive lock, OUTPUT/.locks/<model>.lock.
        let folderLock = try FolderLock(folder: output, mode: .shared, purpose: "sane zoo train")
        defer { folderLock.release() }
        let mine = trials(configuration).filter { $0.index % shard.count == shard.index }
        let todo = mine.filter { !fm.fileExists(atPath: output.appendingPathComponent($0.directoryName(prefix: configuration.prefix)).appendingPathComponent("done").path) }
        guard !todo.isEmpty else { return 0 }
        let data = try loadData(configuration)
        let state = RunState(totalEpochs: todo.count * configuration.epochs, limit: epochLimit)
        let workers = max(1, min(jobs, todo.count))
        let locks = output.appendingPathComponent(".locks")
        Parallel.jobs(workers) { _ in
            while let trial = state.nextTrial(todo) {
                do {
                    let name = trial.directoryName(prefix: configuration.prefix)
                    let modelLock: FolderLock
                    do { modelLock = try FolderLock(folder: locks, purpose: "sane zoo train", name: name + ".lock") } catch {
                        state.busy("\(name) (\((error as? SaneError)?.message ?? "\(error)"))"); continue
                    }
                    defer { modelLock.release() }
                    // Another process may have finished it since the listing.
                    if fm.fileExists(atPath: output.appendingPathComponent(name).appendingPathComponent("done").path) { continue }
                    if try trainModel(trial, configuration, data, output: output, state: state, progress: progress) { state.finished() }
                } catch {
                    state.fail(error)
                }
            }
        }
        if let error = state.error { throw error }
        if !state.busyModels.isEmpty {
            throw SaneError("\(state.busyModels.count) model(s) were left to another process training into \(output.path): \(state.busyModels.sorted().joined(separator: "; "))",
                            hint: "run the command again after that process has finished; finished models are kept")
        }
        return state.finishedModels
    }

    /// Shared bookkeeping of the worker threads.
    final class RunState: @unchecked Sendable {
        private let lock = NSLock()
        private var next = 0
        private(set) var completedEpochs = 0
        private(set) var finishedModels = 0
        private(set) var error: Error?
        private(set) var stopped = false
        let totalEpochs: Int
        let limit: Int?

        init(totalEpochs: Int, limit: Int?) { self.totalEpochs = totalEpochs; self.limit = limit }

        func nextTrial(_ trials: [ZooTrial]) -> ZooTrial? {
            lock.lock(); defer { lock.unlock() }
            guard !stopped, error == nil, next < trials.count else { return nil }
            next += 1
            return trials[next - 1]
        }

        /// Counts an epoch; false when the run must stop (epoch limit reached or an error).
        func epochDone() -> (count: Int, proceed: Bool) {
            lock.lock(); defer { lock.unlock() }
            completedEpochs += 1
            if let limit, completedEpochs >= limit { stopped = true }
            return (completedEpochs, !stopped && error == nil)
        }

        private(set) var busyModels: [String] = []

        func finished() { lock.lock(); finishedModels += 1; lock.unlock() }
        func busy(_ model: String) { lock.lock(); busyModels.append(model); lock.unlock() }
        func fail(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
    }

    /// The params.json of a trial, with the shared zoos' keys and order, plus `dataset::test_size`
    /// when the test accuracy is measured on a subset (so `zoo eval` re-evaluates on the same images).
    static func params(_ t: ZooTrial, _ c: ZooTrainingConfiguration, channelsIn: Int) -> JSONValue {
        .object([JSONMember("model::type", .string(c.architecture.rawValue))]
            + (c.width.map { [JSONMember("model::width", .number(Double($0)))] } ?? []) + [
            JSONMember("model::channels_in", .number(Double(channelsIn))),
            JSONMember("model::o_dim", .number(Double(c.outputs))),
            JSONMember("model::nlin", .string(t.activation.rawValue)),
            JSONMember("model::dropout", .number(t.dropout)),
            JSONMember("model::init_type", .string(t.initialization.rawValue)),
            JSONMember("optim::optimizer", .string(t.optimizer)),
            JSONMember("optim::lr", .number(t.learningRate)),
            JSONMember("optim::wd", .number(t.weightDecay)),
            JSONMember("seed", .number(Double(t.seed))),
            JSONMember("training::batchsize", .number(Double(t.batchSize))),
            JSONMember("training::epochs_train", .number(Double(c.epochs))),
            JSONMember("dataset::name", .string(c.dataset)),
        ] + (c.testSize.map { [JSONMember("dataset::test_size", .number(Double($0)))] } ?? [])
          + (c.augment ? [JSONMember("training::augment", .string("crop4_flip"))] : [])
          + (c.inputMean.map { m in [JSONMember("dataset::mean", .array(m.map(shortNumber))),
                                     JSONMember("dataset::std", .array((c.inputStd ?? []).map(shortNumber)))] } ?? []))
    }

    /// A Float as the JSON number with its shortest decimal form (0.4914, not 0.49140000343322754).
    static func shortNumber(_ x: Float) -> JSONValue { .number(Double("\(x)") ?? Double(x)) }

    /// Trains one model into its directory; true when it finished (false: the run was stopped).
    static func trainModel(_ trial: ZooTrial, _ c: ZooTrainingConfiguration, _ data: Data, output: URL, state: RunState,
                           progress: (@Sendable (ZooTrainingProgress) -> Void)?) throws -> Bool {
        let fm = FileManager.default
        let name = trial.directoryName(prefix: c.prefix)
        let dir = output.appendingPathComponent(name)
        let channels = c.channelsIn ?? data.train.channels
        if let m = c.inputMean, m.count != channels {
            throw SaneError("\"normalize\" gives \(m.count) channel means, the data has \(channels) channels", hint: "one mean and std per input channel")
        }
        let paramsText = params(trial, c, channelsIn: channels).prettyText + "\n"
        // A partial model continues after its last finished epoch when its resume state is intact
        // and was written for the same params.json; otherwise it restarts from scratch.
        let resumed = ResumeState.read(dir, params: paramsText)
        if resumed != nil {
            AtomicFile.removeStaleTemporaries(in: dir)   // a killed writer's; the caller holds the model's lock
        } else {
            if fm.fileExists(atPath: dir.path) { try fm.removeItem(at: dir) }
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            try AtomicFile.write(Foundation.Data(paramsText.utf8), to: dir.appendingPathComponent("params.json"))
        }

        var g = SeededGenerator(seed: UInt64(truncatingIfNeeded: trial.seed))
        var networkConfiguration = ZooNetworkConfiguration(architecture: c.architecture, channelsIn: channels, outputs: c.outputs,
                                                           activation: trial.activation, dropout: Float(trial.dropout),
                                                           initialization: trial.initialization, seed: g.next(), width: c.width)
        (networkConfiguration.inputMean, networkConfiguration.inputStd) = (c.inputMean, c.inputStd)
        let net = ZooNetwork(networkConfiguration)
        let named = net.namedParameters()
        let optimizer: Optimizer
        switch trial.optimizer {
        case "sgd": optimizer = SGD(parameters: named, learningRate: trial.learningRate, momentum: c.momentum, weightDecay: trial.weightDecay)
        case "adamw": optimizer = AdamW(parameters: named, learningRate: trial.learningRate, weightDecay: trial.weightDecay)
        default: optimizer = Adam(parameters: named, learningRate: trial.learningRate, weightDecay: trial.weightDecay)
        }
        var shuffle = g.fork()
        var augmentation = g.fork()
        let dropouts = net.modules(of: Dropout.self)
        var lines: [String] = []
        var epochLosses: [Double] = []
        var firstEpoch = 0
        if let r = resumed {
            try net.load(try Safetensors.read(dir.appendingPathComponent(String(format: "checkpoint_%06d", r.epoch)).appendingPathComponent("checkpoints.safetensors")))
            try optimizer.load(r.optimizer)
            guard r.dropoutGenerators.count == dropouts.count else { throw SaneError("resume state of \(name) has \(r.dropoutGenerators.count) dropout generators, the model \(dropouts.count)", hint: "delete \(dir.path) to retrain it") }
            shuffle = r.shuffle; augmentation = r.augmentation
            for (layer, generator) in zip(dropouts, r.dropoutGenerators) { layer.generator = generator }
            lines = r.lines; epochLosses = r.epochLosses; firstEpoch = r.epoch + 1
        }
        var divergence = DivergenceGuard(subject: "model \(name)", learningRate: trial.learningRate, floor: max(1, log(Double(c.outputs))),
                                         epochLosses: epochLosses)
        for epoch in firstEpoch...c.epochs {
            if epoch > 0 {
                let loss = try net.trainEpoch(on: data.train, batchSize: trial.batchSize, optimizer: optimizer, shuffle: &shuffle,
                                              transform: { c.augment ? ImageTransforms.randomCropFlip($0, padding: 4, using: &augmentation) : $0 },
                                              check: { try divergence.check(loss: $0, epoch: epoch, batch: $1) })
                divergence.finished(epochLoss: loss)
                epochLosses.append(loss)
                try divergence.checkFinite([("the weights", net.stateDict()), ("the optimizer state", optimizer.stateDict())], epoch: epoch)
            }
            // Evaluate, then write the checkpoint and the result line.
            let train = ZooEvaluation.evaluate(net, on: data.trainEvaluation, parallel: false)
            let test = ZooEvaluation.evaluate(net, on: data.test, parallel: false)
            var members = [JSONMember("train_loss", .number(train.loss)), JSONMember("train_acc", .number(train.accuracy)),
                           JSONMember("test_loss", .number(test.loss)), JSONMember("test_acc", .number(test.accuracy))]
            if let v = data.validation {
                let val = ZooEvaluation.evaluate(net, on: v, parallel: false)
                members += [JSONMember("val_loss", .number(val.loss)), JSONMember("val_acc", .number(val.accuracy))]
            }
            members += [JSONMember("training_iteration", .number(Double(epoch))), JSONMember("trial_id", .string(name))]
            lines.append(JSONValue.object(members).jsonText)
            let checkpoint = dir.appendingPathComponent(String(format: "checkpoint_%06d", epoch))
            try fm.createDirectory(at: checkpoint, withIntermediateDirectories: true)
            try Safetensors.write(net.stateDict(), to: checkpoint.appendingPathComponent("checkpoints.safetensors"))
            try AtomicFile.write(Foundation.Data((lines.joined(separator: "\n") + "\n").utf8), to: dir.appendingPathComponent("result.json"))
            if epoch < c.epochs {
                try ResumeState(epoch: epoch, params: paramsText, optimizer: optimizer.stateDict(), shuffle: shuffle, augmentation: augmentation,
                                dropoutGenerators: dropouts.map(\.generator), lines: lines, epochLosses: epochLosses).write(dir)
            }
            if epoch > 0 {
                let (count, proceed) = state.epochDone()
                progress?(ZooTrainingProgress(model: name, epoch: epoch, testAccuracy: test.accuracy, completedEpochs: count, totalEpochs: state.totalEpochs))
                if !proceed && epoch < c.epochs { return false }
            }
        }
        // Without its resume state a model killed here restarts, so no finished model keeps one.
        try? fm.removeItem(at: dir.appendingPathComponent(ResumeState.fileName))
        try AtomicFile.write(Foundation.Data(), to: dir.appendingPathComponent("done"))
        return true
    }

    /// What a partial model needs to continue after its last finished epoch exactly as an
    /// uninterrupted run would: the optimizer's state, the generators' states, the result lines
    /// and the epoch losses (for `DivergenceGuard`). The weights are the epoch's checkpoint.
    /// One file, `resume.safetensors` in the model's folder (the optimizer tensors, the rest in
    /// the metadata), written atomically after the epoch's checkpoint and result line, so it never
    /// names an epoch whose checkpoint is missing; removed just before the model is marked done.
    struct ResumeState {
        static let fileName = "resume.safetensors"
        var epoch: Int
        var params: String
        var optimizer: StateDict
        var shuffle: SeededGenerator, augmentation: SeededGenerator
        var dropoutGenerators: [SeededGenerator]
        var lines: [String]
        var epochLosses: [Double]

        func write(_ dir: URL) throws {
            func words(_ g: SeededGenerator) -> JSONValue { .array(g.stateWords.map { .string(String($0)) }) }
            let meta = JSONValue.object([
                JSONMember("epoch", .number(Double(epoch))),
                JSONMember("shuffle", words(shuffle)), JSONMember("augmentation", words(augmentation)),
                JSONMember("dropout", .array(dropoutGenerators.map(words))),
                JSONMember("epoch_losses", .array(epochLosses.map { .string(String($0)) })),
            ])
            var state = optimizer
            state.metadata = ["resume": meta.jsonText, "params": params, "lines": lines.joined(separator: "\n")]
            try Safetensors.write(state, to: dir.appendingPathComponent(ResumeState.fileName))
        }

        /// The resume state in `dir`, or nil (none, unreadable, or written for other params).
        static func read(_ dir: URL, params: String) -> ResumeState? {
            let url = dir.appendingPathComponent(fileName)
            guard FileManager.default.fileExists(atPath: url.path), var state = try? Safetensors.read(url),
                  state.metadata["params"] == params, let text = state.metadata["resume"], let linesText = state.metadata["lines"],
                  let meta = try? JSONValue.parse(text), let epoch = meta["epoch"]?.intValue else { return nil }
            func generator(_ v: JSONValue?) -> SeededGenerator? {
                guard let w = v?.arrayValue?.compactMap({ $0.stringValue.flatMap { UInt64($0) } }), w.count == 4 else { return nil }
                return SeededGenerator(stateWords: w)
            }
            guard let shuffle = generator(meta["shuffle"]), let augmentation = generator(meta["augmentation"]),
                  let dropout = meta["dropout"]?.arrayValue, let losses = meta["epoch_losses"]?.arrayValue else { return nil }
            let dropoutGenerators = dropout.compactMap(generator)
            let epochLosses = losses.compactMap { $0.stringValue.flatMap(Double.init) }
            let lines = linesText.split(separator: "\n").map(String.init)
            guard dropoutGenerators.count == dropout.count, epochLosses.count == epoch, lines.count == epoch + 1 else { return nil }
            state.metadata = [:]
            return ResumeState(epoch: epoch, params: params, optimizer: state, shuffle: shuffle, augmentation: augmentation,
                               dropoutGenerators: dropoutGenerators, lines: lines, epochLosses: epochLosses)
        }
    }

}

extension JSONValue {
    /// An object as indented JSON with one member per line (like Python's `json.dump(indent=2)`
    /// for flat objects); other values as compact text.
    var prettyText: String {
        guard let members = objectMembers else { return jsonText }
        return "{\n" + members.map { "  \(JSONValue.quoted($0.key)): \($0.value.jsonText)" }.joined(separator: ",\n") + "\n}"
    }
}
