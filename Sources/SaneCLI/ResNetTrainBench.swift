import ArgumentParser
import Foundation
import Sane

/// `sane bench resnet-train`: ResNet training throughput (SANE-SPEC §9: torchvision ResNet, CIFAR
/// stem) — forward, backward and an SGD-momentum step per batch of random CIFAR-shaped images
/// [B, 3, 32, 32], on `--threads` cores (BLAS and the parallel loops). Reports images/s by wall
/// time (and the process's CPU time, all threads), best of `--repeats` timed epochs after one
/// warm-up epoch. PyTorch counterpart: `python3 Scripts/bench/pytorch_resnet_train.py` with the
/// same options.
struct ResNetTrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resnet-train",
        abstract: "ResNet-18/34 training (batch, SGD momentum) in images/s.")
    @Option(help: "Resnet18 or Resnet34.") var architecture = "Resnet18"
    @Option(help: "Base channels (64 = the real ResNet; 8 or 16 for CPU zoos).") var width = 64
    @Option(help: "Images per batch.") var batch = 128
    @Option(help: "Batches per timed epoch.") var steps = 3
    @Option(help: "Timed epochs (best is reported).") var repeats = 2
    @Option(help: "Cores for BLAS and the parallel loops.") var threads = 2
    @Option(help: "Convolution algorithm: auto (the per-shape rule), rows, flat, im2col, winograd or strided (where a forced one does not apply, the rule decides).") var convolution = "auto"
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() throws {
        let forced = try forcedConvolution(convolution)
        try ConvolutionKernels.$forcedAlgorithm.withValue(forced) { try Parallel.$workers.withValue(threads) { try measure() } }
    }

    func measure() throws {
        let arch = try ZooArchitecture(named: architecture)
        guard arch.definition.defaultWidth != nil else { throw CommandError("--architecture must be Resnet18 or Resnet34") }
        guard width >= 1, batch >= 2, steps >= 1, repeats >= 1, threads >= 1 else {
            throw CommandError("--width, --steps, --repeats and --threads must be ≥ 1 and --batch ≥ 2")
        }
        var g = SeededGenerator(seed: 0)
        let n = steps * batch
        let data = ImageDataset(images: Tensor.uniform([n, 3, 32, 32], low: 0, high: 1, using: &g),
                                labels: (0..<n).map { _ in g.int(below: 10) })
        let net = ZooNetwork(ZooNetworkConfiguration(architecture: arch, channelsIn: 3, seed: 1, width: width))
        let optimizer = SGD(parameters: net.namedParameters(), learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
        let best = bestTrainingEpoch(net, optimizer, data: data, batch: batch, repeats: repeats, clock: processCPUSeconds)
        let result: [String: Any] = ["benchmark": "resnet-train", "implementation": "sane", "architecture": architecture, "width": width,
                                     "threads": threads, "convolution": convolution, "batch": batch, "steps": steps,
                                     "seconds_per_step": best.wall / Double(steps), "images_per_second": Double(n) / best.wall,
                                     "process_cpu_seconds_per_step": best.cpu / Double(steps), "images_per_cpu_second": Double(n) / best.cpu]
        if json { printJSON(result) } else {
            print(String(format: "Sane %@ width %d (SGD momentum), batch %d, %d threads: %.1f ms/step, %.1f images/s (wall); %.1f images per CPU second",
                         architecture, width, batch, threads, best.wall / Double(steps) * 1e3, Double(n) / best.wall, Double(n) / best.cpu))
        }
    }
}

/// `--convolution` of the benchmarks: nil for auto (the per-shape rule), else the forced algorithm.
func forcedConvolution(_ name: String) throws -> ConvolutionAlgorithm? {
    if name == "auto" { return nil }
    guard let forced = ConvolutionAlgorithm(rawValue: name) else {
        throw CommandError("unknown convolution algorithm '\(name)' (auto, \(ConvolutionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return forced
}

/// CPU time consumed by the whole process (all threads), in seconds.
func processCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// `sane bench conv`: one convolution layer's forward + backward (input and weight gradients) for
/// each of ResNet-18's layer shapes at `--width` (CIFAR stem, 32×32 input), or of the zoo CNN's or
/// CNN3's layers (`--network CNN|CNN3`), and each algorithm that applies — the measurement behind
/// the per-shape rule `ConvolutionKernels.algorithm(for:)`.
/// Reports the best of `--repeats` by wall time and by process CPU time (all threads), in ms.
struct ConvolutionBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conv",
        abstract: "ResNet-18 convolution layers, forward + backward per algorithm, in ms.")
    @Option(help: "Layers timed: ResNet-18 (at --width), CNN or CNN3 (the zoo CNNs, SANE-SPEC §1).") var network = "ResNet-18"
    @Option(help: "Base channels of the ResNet-18 whose layers are timed.") var width = 8
    @Option(help: "Images per batch.") var batch = 128
    @Option(help: "Timed calls per shape and algorithm (best is reported).") var repeats = 5
    @Option(help: "Cores for BLAS and the parallel loops.") var threads = 2

    func run() throws {
        guard width >= 1, batch >= 1, repeats >= 1, threads >= 1 else { throw CommandError("--width, --batch, --repeats and --threads must be ≥ 1") }
        try Parallel.$workers.withValue(threads) { try measure() }
    }

    func measure() throws {
        // (Ci, Co, input side, kernel, stride, padding) of ResNet-18 with the CIFAR stem
        var shapes = [(3, width, 32, 3, 1, 1)]
        for stage in 0..<4 {
            let c = width << stage, side = 32 >> stage
            if stage > 0 { shapes += [(c / 2, c, 2 * side, 3, 2, 1), (c / 2, c, 2 * side, 1, 2, 0)] }
            shapes.append((c, c, side, 3, 1, 1))
        }
        switch network.lowercased() {
        case "resnet-18", "resnet18", "resnet": break
        case "cnn": shapes = [(1, 8, 28, 5, 1, 0), (8, 6, 12, 5, 1, 0), (6, 4, 4, 2, 1, 0)]
        case "cnn3": shapes = [(3, 16, 32, 3, 1, 0), (16, 32, 15, 3, 1, 0), (32, 15, 6, 3, 1, 0)]
        default: throw CommandError("unknown --network '\(network)' (ResNet-18, CNN or CNN3)")
        }
        var g = SeededGenerator(seed: 0)
        print("Ci → Co, side, kernel/stride/pad   rule     algorithm  best wall ms  best CPU ms")
        for (ci, co, side, k, stride, pad) in shapes {
            let geo = ConvolutionGeometry(batch: batch, channels: ci, height: side, width: side, kernelHeight: k, kernelWidth: k,
                                          stride: stride, padding: pad)
            let rule = ConvolutionKernels.algorithm(for: geo)
            let x = Variable(Tensor.uniform([batch, ci, side, side], low: -1, high: 1, using: &g), requiresGrad: true)
            let w = Variable(Tensor.normal([co, ci, k, k], std: 0.1, using: &g), requiresGrad: true)
            let seed = Tensor.normal([batch, co, geo.outputHeight, geo.outputWidth], using: &g)
            for algorithm in ConvolutionAlgorithm.allCases {
                let timed: (wall: Double, cpu: Double)? = ConvolutionKernels.$forcedAlgorithm.withValue(algorithm) {
                    guard ConvolutionKernels.algorithm(for: geo) == algorithm else { return nil }
                    var best = (wall: Double.infinity, cpu: Double.infinity)
                    for r in 0...repeats {
                        let (c0, w0) = (processCPUSeconds(), DispatchTime.now().uptimeNanoseconds)
                        Variable.conv2d(x, weight: w, stride: stride, padding: pad).backward(seed: seed)
                        let (cpu, wall) = (processCPUSeconds() - c0, Double(DispatchTime.now().uptimeNanoseconds - w0) / 1e9)
                        x.grad = nil; w.grad = nil
                        if r > 0 { best = (min(best.wall, wall), min(best.cpu, cpu)) }   // r = 0 warms up
                    }
                    return best
                }
                guard let best = timed else { continue }
                print(String(format: "%4d → %-4d %3d  %d/%d/%d                 %-8@ %-9@  %12.2f  %11.2f", ci, co, side, k, stride, pad,
                             rule.rawValue as NSString, algorithm.rawValue as NSString, best.wall * 1e3, best.cpu * 1e3))
            }
        }
    }
}
