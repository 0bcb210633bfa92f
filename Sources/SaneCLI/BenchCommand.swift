import ArgumentParser
import CFMAPeak
import Foundation
import Sane

/// `sane bench …`: the benchmark harness. Results go to stdout (and JSON with --json) together
/// with the machine and the command, for BENCHMARKS.md.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure GEMM throughput and SANE / zoo training speed on this machine.",
        subcommands: [PeakBench.self, GEMMBench.self, SANEStepBench.self, EmbedBench.self, CNNTrainBench.self, AllreduceBench.self, ResNetTrainBench.self, ConvolutionBench.self, AlignBench.self]
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
    @Option(help: "Cores to use (Parallel.workers: GEMM splits and parallel kernels; BLAS itself runs single-threaded).") var threads = 2
    @Option(help: "Timed repetitions (best is reported).") var repeats = 5
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        try check("--threads", threads, in: 1...1024)
        try check("--repeats", repeats, in: 1...1_000_000)
    }
}

struct GEMMBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm",
        abstract: "SGEMM GFLOP/s for transformer-sized shapes: OpenBLAS and Sane's own GEMM, alternating.",
        discussion: """
        Each shape is timed with every GEMM this CPU has (OpenBLAS; Sane's own on AVX-512 CPUs), \
        one call of each in turn per repetition, best of --repeats each, as `sgemm` runs it (split \
        over --threads cores), with beta = 0. The share is of the FMA peak (`sane bench peak`) \
        measured in the same run before and after. The default shapes are square products and \
        the largest products of the d-256 and d-1024 SANE steps (`sane bench sane-step --gemm-profile`).
        """)
    @OptionGroup var options: BenchOptions
    @Option(name: .customLong("shape"), help: ArgumentHelp("A product to time instead of the defaults, as [NN|NT|TN|TT:]MxNxK, op(A) op(B) m×n×k (repeatable).", valueName: "shape"))
    var shapes: [String] = []

    /// The largest products of the d-256 step (cnn-cpu at d 256, 2×32 windows × 48 tokens) and of
    /// the d-1024 step (cnn-paper, 2×4 windows × 64 tokens), by time spent; the projection head's
    /// small and ragged ones; squares.
    static let defaults = [
        "TN:256x1024x3072", "NN:3072x256x1024", "TN:1024x256x3072", "NT:3072x256x1024", "TN:768x256x3072",
        "NT:3072x1024x256", "NN:3072x1024x256", "NN:3072x256x768", "NT:3072x768x256", "NT:3072x256x256",
        "NN:512x1024x4096", "NN:512x4096x1024", "TN:1024x4096x512", "TN:4096x1024x512", "NT:512x1024x4096",
        "NT:512x4096x1024", "NT:512x3072x1024", "NN:512x1024x1024", "TN:1024x1024x512",
        "NT:512x289x1024", "TN:128x1024x512", "NN:64x6144x30", "NT:64x30x6144",
        "NN:2048x2048x2048", "NN:256x256x256", "NN:128x128x128", "NN:48x48x64",
    ]

    func run() throws { try Parallel.$workers.withValue(options.threads) { try measure() } }

    func measure() throws {
        var g = SeededGenerator(seed: 0)
        let products = try (shapes.isEmpty ? Self.defaults : shapes).map(Self.parse)
        let backends: [GEMMBackend] = BLAS.ownGEMMAvailable ? [.openblas, .own] : [.openblas]
        var peak = (0..<3).map { _ in measurePeakGFLOPs(threads: options.threads) }.max()!
        var rows: [(String, [Double], String)] = []
        for (ta, tb, m, n, k) in products {
            let a = ta ? Tensor.normal([k, m], using: &g) : Tensor.normal([m, k], using: &g)
            let b = tb ? Tensor.normal([n, k], using: &g) : Tensor.normal([k, n], using: &g)
            var c = Tensor(zeros: [m, n])
            let cp = c.writePointer()
            func call() {
                sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, a: a.readPointer, lda: ta ? m : k,
                      b: b.readPointer, ldb: tb ? k : n, c: cp, ldc: n)
            }
            var best = [Double](repeating: .infinity, count: backends.count)
            for backend in backends { BLAS.$backend.withValue(backend) { call() } }   // warm-up
            for _ in 0..<options.repeats {
                for (i, backend) in backends.enumerated() {
                    BLAS.$backend.withValue(backend) {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        call()
                        best[i] = min(best[i], Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                    }
                }
            }
            let name = "\(ta ? "T" : "N")\(tb ? "T" : "N") \(m)×\(n)×\(k)"
            let auto = BLAS.$backend.withValue(.auto) { BLAS.usesOwnGEMM(m: m, n: n, k: k) }
            rows.append((name, best.map { 2 * Double(m * n * k) / $0 / 1e9 }, auto ? "own" : "openblas"))
        }
        peak = max(peak, (0..<3).map { _ in measurePeakGFLOPs(threads: options.threads) }.max()!)
        if options.json {
            printJSON(["benchmark": "gemm", "threads": options.threads, "peak_gflops_measured": peak,
                       "results": rows.map { r in
                           var o: [String: Any] = ["shape": r.0, "auto": r.2]
                           for (i, backend) in backends.enumerated() { o["\(backend.rawValue)_gflops"] = r.1[i] }
                           return o
                       }])
            return
        }
        print(String(format: "FMA peak %.1f GFLOP/s (%d threads, %d-lane FMAs, best before/after). GFLOP/s (share of peak):", peak, options.threads, Int(sane_fma_lanes())))
        print("  shape                  " + backends.map { $0.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0) }.joined() + (backends.count > 1 ? "own/openblas  auto" : ""))
        for (name, gflops, auto) in rows {
            let cells = gflops.map { String(format: "%7.1f (%3.0f %%)    ", $0, 100 * $0 / peak) }.joined()
            let ratio = gflops.count > 1 ? String(format: "%6.2f×       %@", gflops[1] / gflops[0], auto) : ""
            print("  " + name.padding(toLength: 23, withPad: " ", startingAt: 0) + cells + ratio)
        }
    }

    /// "NT:3072x768x256" (or "3072x768x256", NN) → (transposeA, transposeB, m, n, k).
    static func parse(_ s: String) throws -> (Bool, Bool, Int, Int, Int) {
        var ops = "NN", dims = Substring(s)
        if let colon = s.firstIndex(of: ":") { ops = s[..<colon].uppercased(); dims = s[s.index(after: colon)...] }
        let parts = dims.split(separator: "x").compactMap { Int($0) }
        guard ["NN", "NT", "TN", "TT"].contains(ops), parts.count == 3, parts.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--shape '\(s)' is not [NN|NT|TN|TT:]MxNxK with positive integers (e.g. NT:512x4096x1024)")
        }
        return (ops == "TN" || ops == "TT", ops == "NT" || ops == "TT", parts[0], parts[1], parts[2])
    }
}

struct SANEStepBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sane-step",
        abstract: "One SANE training step (both views: forward, backward, AdamW) in tokens/s.",
        discussion: """
        Tokens/s counts the tokens of both views, 2 × --batch × --window per step, over the wall \
        time of the fastest of --repeats steps (after one warm-up); the process's CPU time (all \
        threads) of the step with the least is reported too.

        Presets: tiny, cnn-cpu (d 256 here, the benchmark's width), cnn-paper (the SANE presets: \
        d_t 289, tokens at positions [t, t mod 5, t mod 8]); resnet-cpu (Configs/resnet-cpu.json: \
        d_t 288, d 128, 4 heads, 4+4 blocks, 8 windows × 256 tokens per view) and resnet-paper \
        (the paper's ResNet-18 SANE, SANE-SPEC §9 / Table 8: d 2048, 8 heads, 8+8 blocks, window \
        256), whose windows are cut from the token sequence of a random ResNet-18 of \
        --resnet-width (8 and 64 by default) at evenly spread starts, with the position tables \
        sized to that sequence (as `sane pretrain` sizes them to the zoo). A configuration file \
        (as `sane pretrain --config`) works as well. PyTorch counterpart: \
        Scripts/bench/pytorch_sane_step.py with the same --config and sizes.

        Under mpirun (MPI build) the step is data-parallel: the --batch windows are split over the \
        ranks, the gradients summed in one allreduce (timed separately) and rank 0 reports, e.g. \
        `mpirun -n 2 .build/mpi/release/sane bench sane-step --threads 1` vs `sane bench sane-step --threads 2`.
        """)
    @OptionGroup var options: BenchOptions
    @Option(help: "Preset the sizes start from (tiny, cnn-cpu, cnn-paper, resnet-cpu, resnet-paper) or a configuration file.") var config = "cnn-cpu"
    @Option(help: "d_model (default: the preset's; for cnn-cpu 256, the benchmark's size, wider than the training preset's 128).") var dModel: Int?
    @Option(help: "Attention heads (default: the preset's).") var heads: Int?
    @Option(help: "Encoder blocks = decoder blocks (default: the preset's).") var blocks: Int?
    @Option(help: "Windows per view in the batch (default: the preset's for resnet-*, else 32).") var batch: Int?
    @Option(help: "Window length in tokens (default: the preset's for resnet-*, else 48).") var window: Int?
    @Option(help: "Token size d_t (default: the preset's; 288 for resnet-*).") var tokenSize: Int?
    @Option(help: "Cut the windows from a random ResNet-18 of this base width (tables sized to it); 0: positions [t, t mod 5, t mod 8]. Default 8 for resnet-cpu, 64 for resnet-paper, else 0.")
    var resnetWidth: Int?
    @Flag(help: "Time one more step's GEMMs by shape (calls outside parallel regions; attention's per-head products are not listed).")
    var gemmProfile = false

    func validate() throws {
        try check("--batch", batch, in: 1...1 << 20)
        try check("--window", window, in: 1...1 << 20)
        try check("--resnet-width", resnetWidth, in: 0...512)
        try check("--token-size", tokenSize, in: 1...1 << 16)
        _ = try configuration()
    }

    /// The ResNet presets of the benchmark: (sizes, ResNet-18 width whose sequence gives the positions).
    static func resnetPreset(_ name: String) -> (SANEConfig, Int)? {
        guard name == "resnet-cpu" || name == "resnet-paper", var c = SANEConfig.preset("cnn-cpu") else { return nil }
        c.tokenSize = 288; c.windowSize = 256
        if name == "resnet-cpu" {   // Configs/resnet-cpu.json
            c.batchSize = 8; c.maxTokens = 2560; c.maxLayers = 80
            return (c, 8)
        }
        c.modelDimensions = 2048; c.heads = 8; c.encoderBlocks = 8; c.decoderBlocks = 8; c.latentDimensions = 128
        c.batchSize = 8
        return (c, 64)
    }

    /// The preset with the command line's sizes, validated, and the ResNet width of the positions (0: synthetic).
    func configuration() throws -> (SANEConfig, Int) {
        var cfg: SANEConfig, width = 0
        if let (c, w) = Self.resnetPreset(config) { (cfg, width) = (c, w) } else {
            cfg = try loadConfig(config)
            cfg.windowSize = 48; cfg.batchSize = 32
        }
        if let window { cfg.windowSize = window }
        if let batch { cfg.batchSize = batch }
        if config == "cnn-cpu" { cfg.modelDimensions = 256 }   // the CPU benchmark's width; the cnn-cpu training preset uses 128
        if let dModel { cfg.modelDimensions = dModel }
        if let heads { cfg.heads = heads }
        if let blocks { cfg.encoderBlocks = blocks; cfg.decoderBlocks = blocks }
        if let tokenSize { cfg.tokenSize = tokenSize }
        width = resnetWidth ?? width
        if width > 0 {
            let layout = try Self.resnetLayout(width: width, tokenSize: cfg.tokenSize)
            cfg.growPositionTables(toFit: [layout])
            guard layout.tokenCount >= cfg.windowSize else {
                throw ValidationError("a ResNet-18 of width \(width) has \(layout.tokenCount) tokens of \(cfg.tokenSize), fewer than the window of \(cfg.windowSize)")
            }
        } else {
            cfg.maxTokens = max(cfg.maxTokens, cfg.windowSize)   // the benchmark's positions count up to the window length
        }
        try validating { try cfg.validate(source: "of the benchmark") }
        return (cfg, width)
    }

    /// The token layout of a random ResNet-18 (CIFAR stem) of base width `width`.
    static func resnetLayout(width: Int, tokenSize: Int) throws -> TokenLayout {
        let net = ZooNetwork(ZooNetworkConfiguration(architecture: .resnet18, channelsIn: 3, seed: 1, width: width))
        return try Tokenizer(TokenizerConfig(tokenSize: tokenSize)).layout(for: net.stateDict())
    }

    /// Positions (B·ws·3) of the batch: windows of the ResNet sequence at evenly spread starts, or synthetic.
    static func positions(batch: Int, window: Int, layout: TokenLayout?) -> [Int32] {
        guard let layout else { return (0..<batch).flatMap { _ in (0..<window).flatMap { [Int32($0), Int32($0 % 5), Int32($0 % 8)] } } }
        let all = layout.positions(), n = layout.tokenCount
        return (0..<batch).flatMap { b -> ArraySlice<Int32> in
            let start = batch > 1 ? b * (n - window) / (batch - 1) : 0
            return all[(3 * start)..<(3 * (start + window))]
        }
    }

    func run() throws { try Parallel.$workers.withValue(options.threads) { try measure() } }

    func measure() throws {
        let (cfg, width) = try configuration()
        let (batch, window) = (cfg.batchSize, cfg.windowSize)
        var g = SeededGenerator(seed: 0)
        let model = SANEModel(config: cfg, using: &g)
        let optimizer = AdamW(parameters: model.namedParameters(), learningRate: Double(cfg.learningRate), weightDecay: Double(cfg.weightDecay))
        let shape = [batch, window, cfg.tokenSize]
        let positions = Self.positions(batch: batch, window: window, layout: width > 0 ? try Self.resnetLayout(width: width, tokenSize: cfg.tokenSize) : nil)
        let data = ViewBatch(tokens1: Tensor.normal(shape, using: &g), tokens2: Tensor.normal(shape, using: &g),
                             mask1: Tensor(shape: shape, repeating: 1), mask2: Tensor(shape: shape, repeating: 1),
                             positions1: positions, positions2: positions)
        let gradients = world.size > 1 ? model.flatParameters() : nil
        var allreduceTime = 0.0, waitTime = 0.0
        /// One step: (seconds, forward seconds, GEMM FLOP); the seconds spent waiting for the
        /// slowest rank's backward (a barrier) and in the allreduce itself go to `waitTime`, `allreduceTime`.
        var cpu = Double.infinity
        func step() -> (Double, Double, Int) {
            world.barrier()
            let c0 = processCPUSeconds()
            let (t0, f0) = (DispatchTime.now().uptimeNanoseconds, BLAS.flops)
            let l = gradients == nil ? model.losses(data) : model.dataParallelLosses(data, over: world)
            let t1 = DispatchTime.now().uptimeNanoseconds
            model.zeroGradients()
            if l.total.requiresGrad { l.total.backward() }
            let tw = DispatchTime.now().uptimeNanoseconds
            if gradients != nil { world.barrier() }
            let ta = DispatchTime.now().uptimeNanoseconds
            waitTime = Double(ta - tw) / 1e9
            gradients?.allreduceGradients(over: world)
            allreduceTime = Double(DispatchTime.now().uptimeNanoseconds - ta) / 1e9
            optimizer.step()
            let t2 = DispatchTime.now().uptimeNanoseconds
            cpu = min(cpu, processCPUSeconds() - c0)
            return (Double(t2 - t0) / 1e9, Double(t1 - t0) / 1e9, BLAS.flops - f0)
        }
        // The peak is measured before and after the steps and the highest reading kept: a reading
        // taken while the VM was slowed would overstate the step's share.
        var peak = (0..<3).map { _ in measurePeakGFLOPs(threads: options.threads) }.max()!
        _ = step()   // warm-up
        cpu = .infinity
        var (t, forwardTime, flops) = step()
        var allreduceSeconds = allreduceTime, waitSeconds = waitTime
        for _ in 1..<max(options.repeats, 1) {
            let s = step()
            if s.0 < t { (t, forwardTime, flops) = s; allreduceSeconds = allreduceTime; waitSeconds = waitTime }
        }
        var profileRows: [[String: Any]] = []
        var profileLines: [String] = []
        if gemmProfile {
            let profile = GEMMProfile()
            let (seconds, _, _) = BLAS.$profile.withValue(profile) { step() }
            var gemmSeconds = 0.0
            for (shape, e) in profile.sorted {
                let ms = Double(e.nanoseconds) / 1e6
                gemmSeconds += ms / 1e3
                profileRows.append(["shape": shape.description, "calls": e.calls, "milliseconds": ms, "gflops": Double(e.flops) / Double(e.nanoseconds)])
                profileLines.append(String(format: "  %-20@ %5d calls  %8.2f ms  %6.1f GFLOP/s", shape.description, e.calls, ms, Double(e.flops) / Double(e.nanoseconds)))
            }
            profileLines.append(String(format: "  GEMM outside parallel regions: %.1f ms of this %.1f ms step (%.0f %%)", gemmSeconds * 1e3, seconds * 1e3, 100 * gemmSeconds / seconds))
            profileRows.append(["shape": "total", "milliseconds": gemmSeconds * 1e3, "step_milliseconds": seconds * 1e3])
        }
        peak = max(peak, (0..<3).map { _ in measurePeakGFLOPs(threads: options.threads) }.max()!)
        let gflops = Double(flops) / t / 1e9
        let tokens = 2 * batch * window
        var result: [String: Any] = ["benchmark": "sane-step", "config": config, "d_model": cfg.modelDimensions,
                                     "blocks": "\(cfg.encoderBlocks)+\(cfg.decoderBlocks)", "batch": batch, "window": window,
                                     "heads": cfg.heads, "token_size": cfg.tokenSize, "resnet_width": width,
                                     "position_tables": [cfg.maxTokens, cfg.maxLayers, cfg.maxRows], "cpu_seconds_per_step": cpu,
                                     "threads": options.threads, "seconds_per_step": t, "forward_seconds": forwardTime,
                                     "tokens_per_second": Double(tokens) / t, "parameters": model.parameterCount,
                                     "gemm_gflop_per_step": Double(flops) / 1e9, "gflops": gflops,
                                     "peak_gflops_measured": peak, "fraction_of_peak": gflops / peak,
                                     "peak_memory_mib": peakMemoryMiB()]
        if gemmProfile { result["gemm_profile"] = profileRows }
        if let gradients {
            result["ranks"] = world.size; result["allreduce_seconds"] = allreduceSeconds
            result["allreduce_share"] = allreduceSeconds / t; result["allreduce_bytes"] = gradients.allreduceByteCount
            result["wait_seconds"] = waitSeconds
        }
        guard world.isRoot else { return }
        if options.json { printJSON(result) } else {
            print(String(format: "SANE step %@ (d_t %d, d %d, %d heads, %d+%d blocks, tables %d/%d/%d, %d params), 2×%d windows × %d tokens: %.1f ms/step (forward %.1f ms, CPU %.1f ms), %.0f tokens/s, peak %.0f MiB",
                         config, cfg.tokenSize, cfg.modelDimensions, cfg.heads, cfg.encoderBlocks, cfg.decoderBlocks, cfg.maxTokens, cfg.maxLayers, cfg.maxRows,
                         model.parameterCount, batch, window, t * 1e3, forwardTime * 1e3, cpu * 1e3, Double(tokens) / t, peakMemoryMiB()))
            print(String(format: "GEMM work %.1f GFLOP/step → %.1f GFLOP/s = %.1f %% of the %.1f GFLOP/s FMA peak measured in this run (sane bench peak, %d threads, %d-lane FMAs)",
                         Double(flops) / 1e9, gflops, 100 * gflops / peak, peak, options.threads, Int(sane_fma_lanes())))
            if let gradients {
                print(String(format: "%d ranks × %d threads: allreduce of %.1f MB took %.1f ms = %.1f %% of the step, after %.1f ms waiting for the slowest rank (rank 0's fastest step)",
                             world.size, options.threads, Double(gradients.allreduceByteCount) / 1e6, allreduceSeconds * 1e3, 100 * allreduceSeconds / t, waitSeconds * 1e3))
            }
            if gemmProfile { print("GEMM by shape, one more step (op(A) op(B) m×n×k):"); profileLines.forEach { print($0) } }
        }
    }
}

/// `sane bench allreduce`: the sum-allreduce of one Float32 buffer, as the data-parallel step
/// does it, under mpirun (MPI build). Bus bandwidth = 2(N−1)/N · bytes / seconds, the bytes each
/// rank sends and receives in a ring allreduce per second (NCCL's definition), comparable across N.
struct AllreduceBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allreduce",
        abstract: "Allreduce (sum) bandwidth of Float32 buffers between the ranks of mpirun.",
        discussion: "Example: mpirun -n 2 .build/mpi/release/sane bench allreduce --megabytes 4 --megabytes 64")
    @Option(help: "Buffer size in MB (repeatable).") var megabytes: [Double] = [1, 8, 64, 256]
    @Option(help: "Timed repetitions per size (best is reported).") var repeats = 5
    @Flag(help: "Print one JSON object per size.") var json = false

    func run() throws {
        let n = world.size
        for mb in megabytes {
            let count = max(1, Int(mb * 1e6) / 4)
            var buffer = [Float](repeating: 1, count: count)
            var best = Double.infinity
            for _ in 0...max(repeats, 1) {   // the first call warms up
                world.barrier()
                let t0 = DispatchTime.now().uptimeNanoseconds
                buffer.withUnsafeMutableBufferPointer { world.allreduceSum($0) }
                let t = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                best = min(best, t)
            }
            var worst = [best]
            world.allreduce(&worst, .max)   // the collective ends when its slowest rank does
            let bytes = Double(count * 4), seconds = worst[0]
            let bus = n > 1 ? 2 * Double(n - 1) / Double(n) * bytes / seconds : 0
            guard world.isRoot else { continue }
            if json { printJSON(["benchmark": "allreduce", "ranks": n, "bytes": bytes, "seconds": seconds, "bus_gb_per_s": bus / 1e9]) } else {
                print(String(format: "allreduce %8.1f MB over %d ranks: %8.3f ms, bus bandwidth %.2f GB/s", bytes / 1e6, n, seconds * 1e3, bus / 1e9))
            }
        }
    }
}

/// `sane bench peak`: the machine's FP32 FMA throughput, the ceiling GEMM work is measured against.
struct PeakBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "peak",
        abstract: "FP32 peak: GFLOP/s of independent fused multiply-adds on every core, at the CPU's widest vectors.",
        discussion: """
        Each thread runs 12 independent chains of fused multiply-adds (more than FMA latency × issue \
        width, so the FMA units never wait), the most a GEMM micro-kernel can do, on the widest \
        vectors the CPU has: 16 lanes with AVX-512F (which OpenBLAS's kernels use there), 8 with \
        AVX2. The VM's clock drifts, so `sane bench sane-step` measures this again in the same run \
        and reports its share.
        """)
    @OptionGroup var options: BenchOptions

    func run() throws { try Parallel.$workers.withValue(options.threads) { try measure() } }

    func measure() throws {
        let best = (0..<max(options.repeats, 1)).map { _ in measurePeakGFLOPs(threads: options.threads) }.max() ?? 0
        let lanes = Int(sane_fma_lanes())
        if options.json { printJSON(["benchmark": "peak", "threads": options.threads, "gflops": best, "fma_lanes": lanes]) } else {
            print(String(format: "FP32 FMA peak, %d threads, %d-lane FMAs: %.1f GFLOP/s", options.threads, lanes, best))
        }
    }
}

/// GFLOP/s of 12 independent FMA chains (`sane_fma_chains`, at the CPU's widest vectors) on
/// `threads` cores at once (≈ 0.1 s); `threads` ≤ `Parallel.workers`.
func measurePeakGFLOPs(threads: Int) -> Double {
    let iterations = 10_000_000
    let flopPerIteration = 24 * Int(sane_fma_lanes())
    var sink = [Float](repeating: 0, count: threads)
    let t0 = DispatchTime.now().uptimeNanoseconds
    sink.withUnsafeMutableBufferPointer { s in
        let p = s.baseAddress!
        Parallel.jobs(threads) { i in p[i] = sane_fma_chains(iterations, Float(i)) }
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    precondition(sink.allSatisfy { $0.isFinite })
    return Double(threads * iterations * flopPerIteration) / seconds / 1e9
}

func printJSON(_ object: Any) {
    if let d = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
       let s = String(data: d, encoding: .utf8) { print(s) }
}
