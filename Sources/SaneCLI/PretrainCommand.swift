import ArgumentParser
import Foundation
import Sane

/// `sane pretrain`: train the SANE autoencoder on one or more zoos (SANE-SPEC §2–§5).
struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Train SANE on model zoos (tokenize, align, standardize, train, checkpoint).",
        discussion: """
        Each checkpoint of the zoo's train split becomes a token sequence; SANE trains on random \
        windows of two augmented views (aligned and randomly permuted, both with multiplicative \
        noise). Every epoch writes a checkpoint into --out; running the same command again \
        resumes where it stopped.

        Data-parallel on several processes with the MPI build (`make mpi`): \
        `mpirun -n N .build/mpi/release/sane pretrain ...` splits every batch over the N ranks and \
        reproduces the single-process run up to float rounding; rank 0 writes the run folder. \
        A run may resume with another N (Documentation/Distributed.md).

        Presets: tiny (tests, seconds), cnn-cpu (the CNN zoos on 2 CPU cores), cnn-paper \
        (the paper's 1024-wide 8+8-block model). A JSON file of SANEConfig fields overrides a preset.

        Examples:
          sane pretrain --zoo ../shared/zoos/mnist-cnn-seed --config cnn-cpu --out runs/seed
          sane pretrain --zoo ZOO --config cnn-cpu --max-epoch 5 --out runs/half   # paper protocol
          sane pretrain --zoo ZOO_A --zoo ZOO_B --normalization lossNormalization --out runs/multi
        """
    )

    @Option(name: .customLong("zoo"), help: "Zoo directory (repeat for multi-zoo training).") var zoos: [String]
    @Option(help: "Preset name or JSON file of SANEConfig fields.") var config = "cnn-cpu"
    @Option(help: "Run folder (created, or resumed if it exists).") var out: String
    @Option(help: "Override the number of epochs.") var epochs: Int?
    @Option(help: "Use only checkpoints of epochs ≤ this (the paper pretrains on the first half).") var maxEpoch: Int?
    @Option(help: "standardize (per-layer, SANE) or lossNormalization (MultiZoo).") var normalization: String?
    @Flag(help: "Skip weight-matching alignment (ablation). Works for any architecture: a model type with no known permutation symmetry (unregistered, not a sequential chain) then also gets no permutation augmentation.") var noAlign = false
    @Option(help: "Random seed.") var seed: UInt64?
    @Option(help: "Also keep the checkpoint of every epoch divisible by N (default: only the latest); probe one with --run-epoch.")
    var keepEvery: Int?
    @Option(help: "Stop after this epoch (checkpointed; e.g. to fit a cluster job's time limit); run again to continue.")
    var stopAfter: Int?
    @Flag(help: "Print one JSON line per epoch on stdout.") var json = false
    @Option(help: "Token store folder: the zoo tokenized once (safetensors shards + index.json), read memory-mapped one window at a time. Reused by later runs with the same zoo files and preprocessing settings (share one between runs). Default: OUT/token-store.")
    var tokenStore: String?
    @Flag(help: "Tokenize the zoo again into --token-store even if a store is there (a stale or damaged store is otherwise refused).")
    var rebuildTokenStore = false
    @Flag(help: "Resume even though a zoo's files changed since the run started: re-fit the preprocessing (alignment reference, standardization) on the zoo as it is now. Without it such a resume is refused.")
    var refitChangedZoo = false

    func validate() throws {
        try check("--keep-every", keepEvery, in: 1...Int.max)
        try check("--max-epoch", maxEpoch, in: 0...epochLimit)
        try check("--epochs", epochs, in: 1...100_000)
        _ = try configuration()
        try check("--stop-after", stopAfter, in: 1...Int.max)
    }

    /// The configuration (preset or file) with the command line's overrides, validated.
    func configuration() throws -> SANEConfig {
        var cfg = try loadConfig(config)
        if let epochs { cfg.epochs = epochs }
        if let seed { cfg.seed = seed }
        if let normalization {
            guard let n = SANEConfig.Normalization(rawValue: normalization) else {
                throw ValidationError("unknown --normalization '\(normalization)' (use standardize or lossNormalization)")
            }
            cfg.normalization = n
        } else if zoos.count > 1 { cfg.normalization = .lossNormalization }
        if noAlign { cfg.align = false }
        try validating { try cfg.validate(source: SANEConfig.preset(config) == nil ? config : "preset \(config)") }
        return cfg
    }

    func run() throws {
        var cfg = try configuration()
        let selections = zoos.map { ZooSelection(path: URL(fileURLWithPath: $0).standardizedFileURL.path, epochs: maxEpoch.map { Array(0...$0) }) }
        let tokenizer = TokenizerConfig(tokenSize: cfg.tokenSize)
        try FolderPaths.checkOutput(out, inputs: zoos.map { ("zoo", $0, false) })
        let run = RunFolder(path: out)
        let root = world.isRoot
        // Rank 0 alone writes the run folder, so it alone holds the lock.
        let lock = try root ? run.lockForWriting(purpose: "sane pretrain") : nil
        defer { lock?.release() }

        let storeURL = URL(fileURLWithPath: tokenStore ?? URL(fileURLWithPath: out).appendingPathComponent("token-store").path)
        let loading = ProgressBar("tokenizing zoo into \(storeURL.path)", total: 1)
        loading.quiet = !root
        let data = try WeightSpaceData(selections: selections, tokenizer: Tokenizer(tokenizer),
                                       standardize: cfg.normalization == .standardize, align: cfg.align,
                                       permutations: cfg.permutationsPerModel, seed: cfg.seed,
                                       store: storeURL, rebuild: rebuildTokenStore || refitChangedZoo) { done, total in
            loading.total = total
            loading.update(done, detail: "models")
        }
        loading.finish()
        if root && !data.built { diagnostic("token store: reusing \(storeURL.path)") }
        if root { data.zoos.forEach { reportSkipped($0) } }
        for (k, prep) in data.preprocessing.enumerated() where root && !cfg.align && prep.spec.groups.isEmpty {
            diagnostic("zoo \(k): no permutation symmetry known for its models (--no-align): not aligned, windows not permuted (noise augmentation only)")
        }
        if root && !data.skipped.isEmpty { diagnostic("warning: skipped \(data.skipped.count) checkpoints (NaN/Inf or |w| > 100), e.g. \(data.skipped[0])") }
        if root { diagnostic("data: \(data.train.count) train / \(data.validation.count) validation / \(data.test.count) test checkpoints, \(data.train.first?.tokens ?? 0) tokens each") }
        // The position tables grow to the zoo's longest sequence, layer count and largest layer.
        let grown = cfg.growPositionTables(toFit: data.layouts)
        if root && grown.contains(where: { !$0.hasPrefix("maxTokens") }) { diagnostic("position tables sized to the zoo: \(grown.joined(separator: ", "))") }

        var manifest = RunFolder.Manifest(config: cfg, zoos: selections, tokenizer: tokenizer)
        manifest.worldSize = world.size
        world.onRoot("preparing run folder \(out)") {
            try run.prepare(manifest: manifest, preprocessing: data.preprocessing, refitChangedZoos: refitChangedZoo)
        }
        let trainer = try SANETrainer(run: run, config: cfg, data: data, communicator: world)
        trainer.keepEvery = keepEvery
        if root && world.size > 1 {
            let small = cfg.batchSize / world.size, large = (cfg.batchSize + world.size - 1) / world.size
            diagnostic("data-parallel over \(world.size) ranks: \(cfg.batchSize) windows per step, \(small == large ? "\(small)" : "\(small)–\(large)") per rank"
                       + (small == 0 ? " (ranks without windows idle: use fewer ranks or a larger batchSize)" : ""))
        }
        if root && !trainer.log.isEmpty { diagnostic("resuming after epoch \(trainer.log.count) of \(cfg.epochs)") }
        // The bar counts this invocation's steps only, so a resumed run shows a true rate and ETA.
        let firstStep = trainer.log.count * trainer.batchesPerEpoch
        let bar = ProgressBar("pretrain", total: cfg.epochs * trainer.batchesPerEpoch - firstStep)
        bar.quiet = json || !root
        trainer.onBatch = { epoch, b, batches, loss in
            bar.update((epoch - 1) * batches + b - firstStep, detail: String(format: "epoch %d/%d loss %.4f", epoch, cfg.epochs, loss))
        }
        trainer.onEpoch = { log in
            // The report is refreshed after every epoch for a look while training runs; a failure
            // here must not stop training (the final report below is written with errors).
            do { _ = try RunReport.write(run: run) } catch { diagnostic("warning: epoch \(log.epoch): report not refreshed: \(error)") }
            if json { printJSONLine(log) } else {
                bar.finish()
                print(String(format: "epoch %3d  train %.4f (recon %.4f, contrast %.3f)  val %.4f (recon %.4f)  R² train %.3f val %.3f  %.0f tok/s  %.1fs",
                             log.epoch, log.trainLoss, log.trainReconstruction, log.trainContrastive, log.validationLoss,
                             log.validationReconstruction, log.trainSequenceR2 ?? .nan, log.validationSequenceR2,
                             log.tokensPerSecond, log.seconds))
            }
        }
        try injectedFailure()
        try trainer.train(until: stopAfter)
        guard root else { return }
        // Test numbers: once, after the last epoch (the epoch logs hold train and validation only).
        if trainer.log.count == cfg.epochs, !data.test.isEmpty {
            let test = trainer.testReconstruction()
            try run.writeFinalTest(.init(epoch: cfg.epochs, testSequenceMSE: test.mse, testSequenceR2: test.r2))
            if !json { print(String(format: "final test reconstruction (computed once, after training): MSE %.4f, R² %.3f", test.mse, test.r2)) }
        }
        let report = try RunReport.write(run: run)
        if !json { print("run saved in \(out); report: \(report.path)") }
    }
}

/// A preset name or a JSON file with SANEConfig fields.
func loadConfig(_ nameOrPath: String) throws -> SANEConfig {
    if let preset = SANEConfig.preset(nameOrPath) { return preset }
    guard let data = FileManager.default.contents(atPath: nameOrPath) else {
        throw CommandError("--config '\(nameOrPath)' is neither a preset (\(SANEConfig.presetNames.joined(separator: ", "))) nor a readable file")
    }
    do { return try SaneJSON.decoder().decode(SANEConfig.self, from: data) } catch let error as DecodingError {
        let (path, what): ([CodingKey], String)
        switch error {
        case .dataCorrupted(let c): (path, what) = (c.codingPath, c.debugDescription)
        case .typeMismatch(let type, let c): (path, what) = (c.codingPath, "expected \(type)")
        case .valueNotFound(let type, let c): (path, what) = (c.codingPath, "expected \(type), found null")
        case .keyNotFound(let key, let c): (path, what) = (c.codingPath + [key], "missing")
        @unknown default: (path, what) = ([], "\(error)")
        }
        let at = path.isEmpty ? "" : " at \"\(path.map(\.stringValue).joined(separator: "."))\""
        throw CommandError("\(nameOrPath): not a SANE config\(at): \(what)")
    } catch {
        throw CommandError("\(nameOrPath): not a SANE config: \(error)")
    }
}

func printJSONLine<T: Encodable>(_ value: T) {
    if let d = try? SaneJSON.encode(value, pretty: false), let s = String(data: d, encoding: .utf8) { print(s) }
}
