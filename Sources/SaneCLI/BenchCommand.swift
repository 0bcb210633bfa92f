import ArgumentParser
import Foundation
import Sane

/// `sane bench …`: the benchmark harness. Results go to stdout (and JSON with --json) together
/// with the machine and the command, for BENCHMARKS.md.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure GEMM throughput and SANE / zoo training speed on this machine.",
        subcommands: [GEMMBench.self, SANEStepBench.self, CNNTrainBench.self]
    )
}

/// Wall-clock seconds of `body`, best of `repeats` after one warm-up.
func bestTime(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return best
}

/// Peak resident memory of this process in MiB (Linux: VmHWM).
func peakMemoryMiB() -> Double {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return .nan }
    let kb = Double(line.split(separator: " ").dropFirst().first.map(String.init) ?? "") ?? .nan
    return kb / 1024
}

struct BenchOptions: ParsableArguments {
    @Option(help: "BLAS threads (and worker threads).") var threads = 2
    @Option(help: "Timed repetitions (best is reported).") var repeats = 5
    @Flag(help: "Print one JSON object instead of text.") var json = false
}

struct GEMMBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "SGEMM GFLOP/s for transformer-sized shapes.")
    @OptionGroup var options: BenchOptions

    func run() throws {
        BLAS.setThreads(options.threads)
        var g = SeededGenerator(seed: 0)
        var results: [[String: Any]] = []
        for (m, n, k) in [(3072, 768, 256), (3072, 1024, 256), (3072, 256, 1024), (3072, 3072, 1024), (48, 48, 64), (2048, 2048, 2048)] {
            let a = Tensor.normal([m, k], using: &g), b = Tensor.normal([k, n], using: &g)
            var c = Tensor(zeros: [m, n])
            let cp = c.writePointer()
            let t = bestTime(repeats: options.repeats) {
                sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k, a: a.readPointer, lda: k, b: b.readPointer, ldb: n, c: cp, ldc: n)
            }
            let gflops = 2 * Double(m * n * k) / t / 1e9
            results.append(["m": m, "n": n, "k": k, "seconds": t, "gflops": gflops])
            if !options.json { print(String(format: "sgemm %5d×%5d×%5d  %8.3f ms  %7.1f GFLOP/s", m, n, k, t * 1e3, gflops)) }
        }
        if options.json { printJSON(["benchmark": "gemm", "threads": options.threads, "results": results]) }
    }
}

struct SANEStepBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sane-step",
        abstract: "One SANE training step (both views: forward, backward, AdamW) in tokens/s.")
    @OptionGroup var options: BenchOptions
    @Option(help: "Preset the sizes start from (tiny, cnn-cpu, cnn-paper).") var config = "cnn-cpu"
    @Option(help: "d_model (the issue's CPU benchmark: 256).") var dModel: Int? = 256
    @Option(help: "Attention heads.") var heads: Int? = 4
    @Option(help: "Encoder blocks = decoder blocks.") var blocks: Int? = 4
    @Option(help: "Windows per view in the batch.") var batch = 32
    @Option(help: "Window length in tokens.") var window = 48

    func run() throws {
        BLAS.setThreads(options.threads)
        Parallel.workers = options.threads
        guard var cfg = SANEConfig.preset(config) else { throw CommandError("unknown preset '\(config)'") }
        cfg.windowSize = window; cfg.batchSize = batch
        if let dModel { cfg.modelDimensions = dModel }
        if let heads { cfg.heads = heads }
        if let blocks { cfg.encoderBlocks = blocks; cfg.decoderBlocks = blocks }
        if config == "cnn-paper" { cfg.modelDimensions = 1024; cfg.heads = 8; cfg.encoderBlocks = 8; cfg.decoderBlocks = 8 }
        var g = SeededGenerator(seed: 0)
        let model = SANEModel(config: cfg, using: &g)
        let optimizer = AdamW(parameters: model.namedParameters(), learningRate: Double(cfg.learningRate), weightDecay: Double(cfg.weightDecay))
        let shape = [batch, window, cfg.tokenSize]
        let positions = (0..<batch).flatMap { _ in (0..<window).flatMap { [Int32($0), Int32($0 % 5), Int32($0 % 8)] } }
        let data = ViewBatch(tokens1: Tensor.normal(shape, using: &g), tokens2: Tensor.normal(shape, using: &g),
                             mask1: Tensor(shape: shape, repeating: 1), mask2: Tensor(shape: shape, repeating: 1),
                             positions1: positions, positions2: positions)
        var forwardTime = 0.0
        let t = bestTime(repeats: options.repeats) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let l = model.losses(data)
            forwardTime = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            model.zeroGradients()
            l.total.backward()
            optimizer.step()
        }
        let tokens = 2 * batch * window
        let result: [String: Any] = ["benchmark": "sane-step", "config": config, "d_model": cfg.modelDimensions,
                                     "blocks": "\(cfg.encoderBlocks)+\(cfg.decoderBlocks)", "batch": batch, "window": window,
                                     "threads": options.threads, "seconds_per_step": t, "forward_seconds": forwardTime,
                                     "tokens_per_second": Double(tokens) / t, "parameters": model.parameterCount,
                                     "peak_memory_mib": peakMemoryMiB()]
        if options.json { printJSON(result) } else {
            print(String(format: "SANE step %@ (d %d, %d+%d blocks, %d params), 2×%d windows × %d tokens: %.1f ms/step (forward %.1f ms), %.0f tokens/s, peak %.0f MiB",
                         config, cfg.modelDimensions, cfg.encoderBlocks, cfg.decoderBlocks, model.parameterCount, batch, window,
                         t * 1e3, forwardTime * 1e3, Double(tokens) / t, peakMemoryMiB()))
        }
    }
}

func printJSON(_ object: Any) {
    if let d = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
       let s = String(data: d, encoding: .utf8) { print(s) }
}
