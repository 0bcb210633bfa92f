import Foundation
import SaneData
import SaneTensor

/// The on-disk form of a SANE run (see Documentation/RunFolder.md):
///
///     RUN/run.json                         format, version, SANEConfig, zoo selections, tokenizer
///     RUN/preprocessing/zoo-K/             per zoo: reference.safetensors (alignment reference),
///                                          spec.json (permutation groups), standardization.json
///     RUN/checkpoints/epoch-NNNN/          model.safetensors, optimizer.safetensors, state.json
///     RUN/latest.json                      {"checkpoint": "checkpoints/epoch-NNNN"} — the commit point
///     RUN/train_log.jsonl                  one EpochLog per line
///     RUN/preprocessing/zoo-K/zoo_contents.json   the zoo files the run was fitted on (fingerprint)
///     RUN/.sane.lock                       held by the process that trains the run (`lockForWriting`)
///
/// A checkpoint directory is written completely before `latest.json` is replaced (temp file +
/// rename): `latest.json` is the only commit point. Everything after it (the log, removing
/// superseded checkpoints) is derived from the committed state and redone by `tidy` when a
/// run resumes, so a run killed at any moment resumes to the uninterrupted result.
public struct RunFolder: Sendable {
    public static let format = "sane-run"
    public static let version = 1
    public let url: URL

    public init(path: String) { url = URL(fileURLWithPath: path) }

    /// What `run.json` holds.
    public struct Manifest: Codable, Sendable {
        public var format = RunFolder.format
        public var version = RunFolder.version
        public var config: SANEConfig
        public var zoos: [ZooSelection]
        public var tokenizer: TokenizerConfig
        public var createdBy = "sane \(saneVersion)"
        /// Number of data-parallel ranks of the latest invocation (absent: one process, or a run
        /// written before it was recorded). A run may resume with another number of ranks.
        public var worldSize: Int?

        public init(config: SANEConfig, zoos: [ZooSelection], tokenizer: TokenizerConfig) {
            self.config = config; self.zoos = zoos; self.tokenizer = tokenizer
        }
    }

    var manifestURL: URL { url.appendingPathComponent("run.json") }

    /// Takes the run's exclusive lock (creating the folder) and deletes temporary files left by
    /// a killed writer. Hold the returned lock while writing the run; releasing it removes the
    /// folder again if it created it and nothing was written (a run that failed to start).
    public func lockForWriting(purpose: String) throws -> FolderLock {
        let lock = try FolderLock(folder: url, purpose: purpose)
        lock.removesWhatItCreated = true
        AtomicFile.removeStaleTemporaries(in: url)
        return lock
    }

    /// Creates the folder, or checks that an existing one was made with the same settings.
    /// Only `epochs` may differ from an existing run: the run is then extended (or its end moved
    /// earlier) and the manifest rewritten; the one-cycle schedule is recomputed for the new
    /// length, so extending a finished run restarts from the middle of the new cycle.
    ///
    /// Every zoo of the manifest is fingerprinted (`ZooContents`). A new run stores the
    /// fingerprints; a resumed run compares them with the stored ones and refuses when a zoo
    /// changed, unless `refitChangedZoos`: then the changed zoos' preprocessing (alignment
    /// reference, standardization) is replaced by `preprocessing`, which must have been fitted
    /// on the zoos as they are now, and the new fingerprint is stored. (A run made before
    /// fingerprints were stored gets one.)
    public func prepare(manifest: Manifest, preprocessing: [ZooPreprocessing], refitChangedZoos: Bool = false) throws {
        let fm = FileManager.default
        let contents = try manifest.zoos.map { try ZooContents(zoo: Zoo(path: $0.path), selection: $0) }
        if fm.fileExists(atPath: manifestURL.path) {
            var existing = try loadManifest()
            let epochs = existing.config.epochs
            existing.config.epochs = manifest.config.epochs
            let worldSize = existing.worldSize
            existing.worldSize = manifest.worldSize
            // Zoo paths compare after resolving (a run made with a relative path resumes from anywhere it resolves).
            let canonical = { (zoos: [ZooSelection]) in zoos.map { var z = $0; z.path = z.canonicalPath; return z } }
            guard existing.config == manifest.config, canonical(existing.zoos) == canonical(manifest.zoos) else {
                throw SaneError("run folder \(url.path) holds a run with other settings",
                                hint: "use a new --out folder, or the same config and zoos to resume (only --epochs may change)")
            }
            for (k, current) in contents.enumerated() {
                let file = preprocessingDirectory(zoo: k).appendingPathComponent(ZooContents.fileName)
                guard fm.fileExists(atPath: file.path) else { try writeJSON(current, to: file); continue }
                let stored: ZooContents = try readJSON(file)
                guard let change = stored.difference(to: current) else { continue }
                guard refitChangedZoos else {
                    throw SaneError("zoo \(manifest.zoos[k].path) changed since run \(url.path) started: \(change)",
                                    hint: "restore the zoo, start a new --out run, or resume with --refit-changed-zoo to re-fit the preprocessing on the zoo as it is now")
                }
                try writePreprocessing(preprocessing[k], zoo: k)
                try writeJSON(current, to: file)   // last: a kill before it leaves the run refusing to resume unrefitted
            }
            if epochs != manifest.config.epochs || worldSize != manifest.worldSize { try writeJSON(existing, to: manifestURL) }
            return
        }
        try fm.createDirectory(at: url, withIntermediateDirectories: true)
        for (k, p) in preprocessing.enumerated() {
            try writePreprocessing(p, zoo: k)
            if k < contents.count { try writeJSON(contents[k], to: preprocessingDirectory(zoo: k).appendingPathComponent(ZooContents.fileName)) }
        }
        try writeJSON(manifest, to: manifestURL)   // last: its presence marks a prepared folder
    }

    func preprocessingDirectory(zoo k: Int) -> URL { url.appendingPathComponent("preprocessing/zoo-\(k)") }

    func writePreprocessing(_ p: ZooPreprocessing, zoo k: Int) throws {
        let dir = preprocessingDirectory(zoo: k)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Safetensors.write(p.reference, to: dir.appendingPathComponent("reference.safetensors"))
        try writeJSON(p.spec, to: dir.appendingPathComponent("spec.json"))
        let standardization = dir.appendingPathComponent("standardization.json")
        if let s = p.standardization { try writeJSON(s, to: standardization) } else { try? FileManager.default.removeItem(at: standardization) }
    }

    public func loadManifest() throws -> Manifest {
        guard let data = FileManager.default.contents(atPath: manifestURL.path) else {
            // `prepare` writes run.json last: preprocessing/ without it is a run killed while it was prepared.
            let unprepared = FileManager.default.fileExists(atPath: url.appendingPathComponent("preprocessing").path)
            throw SaneError("\(url.path) is not a SANE run folder (no run.json)",
                            hint: unprepared ? "it was stopped before its run was prepared: run the same `sane pretrain` again to start it"
                                             : "pass the --out folder of `sane pretrain`")
        }
        let m: Manifest
        do { m = try SaneJSON.decoder().decode(Manifest.self, from: data) } catch {
            throw SaneError("\(manifestURL.path) is not a readable run manifest: \(error)")
        }
        guard m.format == RunFolder.format, m.version <= RunFolder.version else {
            throw SaneError("\(manifestURL.path) has format \(m.format) version \(m.version); this sane reads \(RunFolder.format) ≤ \(RunFolder.version)",
                            hint: "upgrade sane")
        }
        try m.config.validate(source: manifestURL.path)
        for (k, zoo) in m.zoos.enumerated() where zoo.epochs?.isEmpty == true {
            throw SaneError("\(manifestURL.path): zoo \(k) (\(zoo.path)) selects no epochs",
                            hint: "a run selects some epochs of each zoo, or all (no \"epochs\" field); was run.json edited?")
        }
        return m
    }

    /// The preprocessing stored for zoo `k` of the run.
    public func loadPreprocessing(zoo k: Int, tokenizer: TokenizerConfig, align: Bool) throws -> ZooPreprocessing {
        let dir = preprocessingDirectory(zoo: k)
        let reference = try Safetensors.read(dir.appendingPathComponent("reference.safetensors"))
        let spec: PermutationSpec = try readJSON(dir.appendingPathComponent("spec.json"))
        let standardizationURL = dir.appendingPathComponent("standardization.json")
        let standardization: LayerStandardization? = FileManager.default.fileExists(atPath: standardizationURL.path)
            ? try readJSON(standardizationURL) : nil
        return ZooPreprocessing(tokenizer: Tokenizer(tokenizer), spec: spec, reference: reference,
                                standardization: standardization, align: align)
    }

    // MARK: training checkpoints

    struct Latest: Codable { var checkpoint: String }

    /// The checkpoint folder of epoch `epoch`, relative to the run.
    static func checkpointName(epoch: Int) -> String { String(format: "checkpoints/epoch-%04d", epoch) }

    /// The epoch of a folder in checkpoints/ ("epoch-0035" → 35), nil for anything else.
    static func checkpointEpoch(folder: String) -> Int? {
        folder.hasPrefix("epoch-") ? Int(folder.dropFirst("epoch-".count)) : nil
    }

    /// Writes the checkpoint of `state.completedEpochs`, commits it (points latest.json at it),
    /// then `tidy`s: rewrites the log and removes superseded checkpoints.
    func saveTrainingState(model: StateDict, optimizer: StateDict, state: TrainerState, keepEvery: Int? = nil) throws {
        let fm = FileManager.default
        let name = RunFolder.checkpointName(epoch: state.completedEpochs)
        let dir = url.appendingPathComponent(name)
        try? fm.removeItem(at: dir)
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        try Safetensors.write(model, to: dir.appendingPathComponent("model.safetensors"))
        try Safetensors.write(optimizer, to: dir.appendingPathComponent("optimizer.safetensors"))
        try writeJSON(state, to: dir.appendingPathComponent("state.json"))
        try writeJSON(Latest(checkpoint: name), to: url.appendingPathComponent("latest.json"))   // the commit
        try tidy(state: state, keepEvery: keepEvery)
    }

    /// Brings everything derived from the committed `state` up to date: `train_log.jsonl`
    /// (rebuilt from the state, so a resumed run never duplicates or misses lines) and the
    /// checkpoints/ folder (epochs after the committed one are unfinished writes, earlier ones
    /// are superseded unless their epoch is divisible by `keepEvery`). Run after every commit
    /// and when a run resumes, which completes the work of a process killed after its commit.
    func tidy(state: TrainerState, keepEvery: Int?) throws {
        let fm = FileManager.default
        if !state.log.isEmpty {
            let lines = try state.log.map { String(decoding: try SaneJSON.encode($0, pretty: false), as: UTF8.self) }
            let text = Data((lines.joined(separator: "\n") + "\n").utf8)
            let logURL = url.appendingPathComponent("train_log.jsonl")
            if fm.contents(atPath: logURL.path) != text { try AtomicFile.write(text, to: logURL) }
        }
        let committed = state.completedEpochs
        for other in (try? fm.contentsOfDirectory(atPath: url.appendingPathComponent("checkpoints").path)) ?? [] {
            guard let epoch = RunFolder.checkpointEpoch(folder: other), epoch != committed else { continue }
            if epoch < committed, let keepEvery, epoch % keepEvery == 0 { continue }
            try? fm.removeItem(at: url.appendingPathComponent("checkpoints/" + other))
            KillPoint.hit("removed:checkpoints/" + other)
        }
    }

    func loadTrainingState() throws -> (model: StateDict, optimizer: StateDict, state: TrainerState)? {
        let latestURL = url.appendingPathComponent("latest.json")
        guard FileManager.default.fileExists(atPath: latestURL.path) else { return nil }
        let latest: Latest = try readJSON(latestURL)
        let dir = url.appendingPathComponent(latest.checkpoint)
        return (try Safetensors.read(dir.appendingPathComponent("model.safetensors")),
                try Safetensors.read(dir.appendingPathComponent("optimizer.safetensors")),
                try readJSON(dir.appendingPathComponent("state.json")))
    }

    /// Epochs whose checkpoints the run holds, ascending.
    public func checkpointEpochs() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.appendingPathComponent("checkpoints").path)) ?? []
        return names.compactMap(RunFolder.checkpointEpoch(folder:)).sorted()
    }

    /// The trained model of the latest checkpoint (or of epoch `epoch`, a checkpoint kept with
    /// `keepEvery`), with its configuration.
    public func loadModel(epoch: Int? = nil) throws -> SANEModel {
        let manifest = try loadManifest()
        let weights: StateDict
        if let epoch {
            let file = url.appendingPathComponent(RunFolder.checkpointName(epoch: epoch) + "/model.safetensors")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw SaneError("run \(url.path) has no checkpoint of epoch \(epoch); it has epochs \(checkpointEpochs().map(String.init).joined(separator: ", "))",
                                hint: "keep more with `sane pretrain --keep-every N`")
            }
            weights = try Safetensors.read(file)
        } else {
            guard let saved = try loadTrainingState() else {
                throw SaneError("run \(url.path) has no checkpoint yet", hint: "train it with `sane pretrain` first")
            }
            weights = saved.model
        }
        var g = SeededGenerator(seed: 0)
        let model = SANEModel(config: manifest.config, using: &g)
        try model.load(weights)
        model.train(false)
        return model
    }

    /// Epoch logs of the run so far.
    public func loadLog() throws -> [EpochLog] { try loadTrainingState()?.state.log ?? [] }
}

func writeJSON<T: Encodable>(_ value: T, to url: URL) throws { try SaneJSON.write(value, to: url) }

func readJSON<T: Decodable>(_ url: URL) throws -> T {
    guard let data = FileManager.default.contents(atPath: url.path) else {
        throw SaneError("missing file \(url.path)", hint: "is this a complete run folder?")
    }
    do {
        return try SaneJSON.decoder().decode(T.self, from: data)
    } catch {
        throw SaneError("\(url.path) could not be decoded: \(error)")
    }
}
