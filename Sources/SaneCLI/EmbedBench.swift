import ArgumentParser
import Foundation
import Sane

/// `sane bench embed`: embedding throughput for whole models, the work `sane embed` does per
/// checkpoint (SANE-SPEC §6, §9): preprocess (align to the run's reference, standardize),
/// tokenize, encode in haloed windows, pool. Either a trained run on the checkpoints of a zoo
/// (`--run`, `--zoo`: load time included), or an untrained autoencoder of `--config` on random
/// ResNets of `--width` (timing only: the latents mean nothing; no standardization).
struct EmbedBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "embed",
        abstract: "Embedding whole models with haloed windows (as `sane embed`): tokens/s and seconds per checkpoint.",
        discussion: """
        Per checkpoint: load (zoo only), preprocess + tokenize (alignment to the reference, \
        standardization with a run), haloed encode (windows of --content tokens with --halo \
        context tokens each side; defaults: half and a quarter of the training window), mean \
        pooling. Tokens/s counts the checkpoint's N tokens (each encoded once as content; the \
        halo tokens are extra work, reported as "window tokens"). One warm-up checkpoint, then \
        --models checkpoints timed, best pass of --repeats.

        Without --run: the untrained autoencoder of --config (a preset, resnet-cpu = \
        Configs/resnet-cpu.json, or a file), its position tables grown to the ResNet's sequence, \
        embeds --models random ResNets (--architecture, --width; different seeds) aligned to \
        another random one.

        Examples:
          sane bench embed --width 8                                        # ResNet-18 w8 (CPU zoo size)
          sane bench embed --width 64 --models 1 --repeats 1                # the real ResNet-18: 44,104 tokens
          sane bench embed --run runs/resnet-half --zoo ZOO --epochs 25 --models 5
        """)
    @OptionGroup var options: BenchOptions
    @Option(help: "SANE sizes of the untrained autoencoder (preset, resnet-cpu, or a configuration file); not with --run.") var config = "resnet-cpu"
    @Option(help: "Architecture of the random models (Resnet18, Resnet34); not with --run.") var architecture = "Resnet18"
    @Option(help: "Base width of the random ResNets (64 = the real ResNet-18, 8 = the CPU zoo's); not with --run.") var width = 8
    @Option(help: "Checkpoints timed per pass.") var models = 3
    @Option(name: .customLong("run"), help: "A trained SANE run folder (the --out of `sane pretrain`): embed --zoo's checkpoints with it.") var runFolder: String?
    @Option(help: "With --run: a zoo, folder of checkpoint files or one file; the first --models checkpoints (+1 warm-up) are embedded.") var zoo: String?
    @Option(help: "With --zoo: epochs to use (0-5, 25, …); default all.") var epochs: String?
    @OptionGroup var encoderOptions: EncoderOptions

    func validate() throws {
        try check("--models", models, in: 1...100_000)
        try check("--width", width, in: 1...512)
        guard (runFolder == nil) == (zoo == nil) else { throw ValidationError("--run and --zoo go together (or neither: random ResNets)") }
        if let epochs { _ = try parseEpochs(epochs) }
    }

    func run() throws { try Parallel.$workers.withValue(options.threads) { try measure() } }

    /// One checkpoint: its state dict and the preprocessing (zoo index) it takes.
    typealias Item = (state: StateDict, zoo: Int, loadSeconds: Double)

    func measure() throws {
        let encoder: SANEEncoder
        var next: (Int) throws -> Item
        var source = ""
        if let runFolder, let zoo {
            encoder = try loadEncoder(runFolder, options: encoderOptions)
            let checkpoints = try checkpointSource(zoo)
            let list = try checkpoints.models(epochs: epochs.map { try parseEpochs($0) }, seed: encoder.splitSeed(for: checkpoints))
            var pending: [Item] = [], modelIndex = 0
            next = { _ in
                // Models one at a time (a trajectory is loaded whole, as `sane embed` does), their checkpoints one by one.
                while pending.isEmpty {
                    guard modelIndex < list.count else { throw CommandError("\(zoo) has fewer than \(models * options.repeats + 1) checkpoints (one warm-up + --models × --repeats)") }
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let loaded = try list[modelIndex].load().checkpoints
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 / Double(max(loaded.count, 1))
                    if let first = loaded.first {
                        let index = try encoder.preprocessingIndex(for: checkpoints, sample: first)
                        pending = loaded.map { ($0.stateDict, index, seconds) }
                    }
                    modelIndex += 1
                }
                return pending.removeFirst()
            }
            source = "run \(runFolder), \(zoo)"
        } else {
            let arch = try ZooArchitecture(named: architecture)
            let make = { (seed: UInt64) in
                ZooNetwork(ZooNetworkConfiguration(architecture: arch, channelsIn: 3, seed: seed, width: width)).stateDict()
            }
            var cfg = try loadConfig(config == "resnet-cpu" ? "cnn-cpu" : config)
            if config == "resnet-cpu" {   // Configs/resnet-cpu.json
                cfg.tokenSize = 288; cfg.windowSize = 256; cfg.batchSize = 8; cfg.maxTokens = 2560; cfg.maxLayers = 80
            }
            let reference = make(1000)
            cfg.growPositionTables(toFit: [try Tokenizer(TokenizerConfig(tokenSize: cfg.tokenSize)).layout(for: reference)])
            try validating { try cfg.validate(source: "of the benchmark") }
            encoder = SANEEncoder(untrained: cfg, reference: reference, spec: try arch.definition.permutationSpec(for: reference))
            encoder.halo = HaloWindows(content: encoderOptions.content ?? encoder.halo.content, halo: encoderOptions.halo ?? encoder.halo.halo)
            next = { i in (make(UInt64(i + 1)), 0, 0) }
            source = "untrained \(config) autoencoder, random \(architecture) width \(width)"
        }
        let cfg = encoder.model.config

        struct Times { var load = 0.0, prepare = 0.0, encode = 0.0, pool = 0.0, cpu = 0.0; var tokens = 0, windowTokens = 0, windows = 0
            var total: Double { load + prepare + encode + pool } }
        func embed(_ item: Item) throws -> Times {
            var t = Times(load: item.loadSeconds)
            let c0 = processCPUSeconds()
            var t0 = DispatchTime.now().uptimeNanoseconds
            func lap() -> Double { let t1 = DispatchTime.now().uptimeNanoseconds; defer { t0 = t1 }; return Double(t1 - t0) / 1e9 }
            let sequence = try encoder.tokenize(trajectory: [item.state], zoo: item.zoo)[0]
            t.prepare = lap()
            let latents = encoder.encode(sequence)                                   // (N, d_z)
            t.encode = lap()
            let pooled = SANEEncoder.pool(latents, positions: sequence.positions, .mean)
            t.pool = lap()
            precondition(pooled.count == cfg.latentDimensions && pooled.allSatisfy(\.isFinite), "embedding of \(pooled.count) values, not finite")
            t.cpu = processCPUSeconds() - c0
            let plan = encoder.halo.plan(tokens: sequence.count)
            (t.tokens, t.windows, t.windowTokens) = (sequence.count, plan.count, plan.reduce(0) { $0 + $1.window.count })
            return t
        }

        var index = 0
        _ = try embed(try next(index)); index += 1   // warm-up
        var best: (sum: Times, each: [Times])? = nil
        for _ in 0..<options.repeats {
            var each: [Times] = []
            for _ in 0..<models { each.append(try embed(try next(index % (models + 1)))); index += 1 }
            var sum = Times()
            for t in each {
                sum.load += t.load; sum.prepare += t.prepare; sum.encode += t.encode; sum.pool += t.pool; sum.cpu += t.cpu
                sum.tokens += t.tokens; sum.windowTokens += t.windowTokens; sum.windows += t.windows
            }
            if best == nil || sum.total < best!.sum.total { best = (sum, each) }
        }
        let s = best!.sum, m = Double(models)
        let result: [String: Any] = [
            "benchmark": "embed", "source": source, "threads": options.threads, "checkpoints": models,
            "d_model": cfg.modelDimensions, "blocks": "\(cfg.encoderBlocks)+\(cfg.decoderBlocks)", "window": cfg.windowSize,
            "token_size": cfg.tokenSize, "content": encoder.halo.content, "halo": encoder.halo.halo,
            "tokens_per_checkpoint": Double(s.tokens) / m, "windows_per_checkpoint": Double(s.windows) / m,
            "window_tokens_per_checkpoint": Double(s.windowTokens) / m,
            "seconds_per_checkpoint": s.total / m, "cpu_seconds_per_checkpoint": s.cpu / m,
            "load_seconds": s.load / m, "prepare_seconds": s.prepare / m, "encode_seconds": s.encode / m, "pool_seconds": s.pool / m,
            "tokens_per_second": Double(s.tokens) / s.total, "encode_tokens_per_second": Double(s.tokens) / s.encode,
            "peak_memory_mib": peakMemoryMiB()]
        if options.json { printJSON(result); return }
        print(String(format: "embed (%@; d %d, %d+%d blocks, d_t %d, content %d + halo %d): %.0f tokens/checkpoint in %.1f windows (%.0f window tokens), %d checkpoints, %d threads",
                     source, cfg.modelDimensions, cfg.encoderBlocks, cfg.decoderBlocks, cfg.tokenSize, encoder.halo.content, encoder.halo.halo,
                     Double(s.tokens) / m, Double(s.windows) / m, Double(s.windowTokens) / m, models, options.threads))
        print(String(format: "  %.3f s/checkpoint (CPU %.3f s): load %.3f, preprocess+tokenize %.3f, encode %.3f, pool %.4f; %.0f tokens/s overall, %.0f tokens/s encoding; peak %.0f MiB",
                     s.total / m, s.cpu / m, s.load / m, s.prepare / m, s.encode / m, s.pool / m,
                     Double(s.tokens) / s.total, Double(s.tokens) / s.encode, peakMemoryMiB()))
    }
}
