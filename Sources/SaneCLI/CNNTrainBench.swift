import ArgumentParser
import Foundation
import Sane

/// `sane bench cnn-train`: zoo-training throughput of the zoo `CNN` (MNIST-shaped [B,1,28,28]) or
/// `CNN3` (CIFAR-shaped [B,3,32,32], dropout 0) of SANE-SPEC §1, tanh — forward, backward and Adam
/// step per batch, BLAS on one thread, exactly the loop of `ZooTrainer`. Reports images/s from
/// the thread's CPU time (robust on a loaded machine) and from wall time. PyTorch counterpart:
/// `python3 Scripts/bench/pytorch_cnn_train.py --threads 1 [--arch CNN3]`.
struct CNNTrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cnn-train",
        abstract: "Zoo CNN / CNN3 training (batch, Adam, one thread) in images/s.")
    @Option(help: "Architecture: CNN (MNIST-shaped data) or CNN3 (CIFAR-shaped data).") var architecture = "CNN"
    @Option(help: "Images per batch.") var batch = 64
    @Option(help: "Batches per timed epoch.") var steps = 100
    @Option(help: "Timed epochs (best is reported).") var repeats = 3
    @Option(help: "Activation (tanh, relu, sigmoid, gelu, silu, leakyrelu).") var activation = "tanh"
    @Option(name: [.customLong("data"), .customLong("data-dir")],
            help: "Datasets root; MNIST (CNN) or CIFAR-10 (CNN3) is used when found there (or in the default places), else random images.")
    var dataDir: String?
    @Flag(help: "Use random images of the dataset's shape even when the dataset is available.") var synthetic = false
    @Option(help: "Convolution algorithm: auto (the per-shape rule), rows, flat, im2col, winograd or strided (where a forced one does not apply, the rule decides).")
    var convolution = "auto"
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func validate() throws {
        try check("--batch", batch, in: 1...65_536)
        try check("--steps", steps, in: 1...65_536)
        try check("--repeats", repeats, in: 1...1_000_000)
    }

    func run() throws {
        let forced = try forcedConvolution(convolution)
        try ConvolutionKernels.$forcedAlgorithm.withValue(forced) { try Parallel.$workers.withValue(1) { try measure() } }
    }

    func measure() throws {
        guard let act = Activation(rawValue: activation) else { throw CommandError("unknown activation '\(activation)'") }
        guard let arch = ZooArchitecture(rawValue: architecture) else { throw CommandError("unknown architecture '\(architecture)' (CNN or CNN3)") }
        var g = SeededGenerator(seed: 0)
        // images [steps·batch, c, S, S], labels [steps·batch]: MNIST 1×28×28 for CNN, CIFAR-10 3×32×32 for CNN3
        let (name, c, side) = arch == .cnn ? ("mnist", 1, 28) : ("cifar10", 3, 32)
        let n = steps * batch
        let data: ImageDataset, source: String
        if !synthetic, let real = try? ImageDataset.load(name, split: .train, dataDirectory: dataDir), real.count >= n,
           real.height == side, real.width == side, real.channels == c {
            var order = SeededGenerator(seed: 3)   // CIFAR-10 files are grouped by class
            data = real.subset(Array(order.permutation(real.count).prefix(n))); source = name
        } else {
            data = ImageDataset(images: Tensor.uniform([n, c, side, side], low: 0, high: 1, using: &g),
                                labels: (0..<n).map { _ in g.int(below: 10) })
            source = "random"
        }
        let net = ZooNetwork(ZooNetworkConfiguration(architecture: arch, channelsIn: c, activation: act, seed: 1))
        let optimizer = Adam(parameters: net.namedParameters(), learningRate: 1e-3)
        let (bestCPU, bestWall) = bestTrainingEpoch(net, optimizer, data: data, batch: batch, repeats: repeats)
        let result: [String: Any] = ["benchmark": "cnn-train", "implementation": "sane", "architecture": arch.rawValue,
                                     "data": source, "activation": activation,
                                     "threads": 1, "convolution": convolution, "batch": batch, "steps": steps, "cpu_seconds_per_step": bestCPU / Double(steps),
                                     "images_per_cpu_second": Double(n) / bestCPU, "images_per_second": Double(n) / bestWall]
        if json { printJSON(result) } else {
            print(String(format: "Sane zoo %@ (%@, Adam) on %@ data, batch %d, 1 thread: %.3f ms/step CPU, %.0f images/s (CPU time), %.0f images/s (wall)",
                         arch.rawValue, activation, source, batch, bestCPU / Double(steps) * 1e3, Double(n) / bestCPU, Double(n) / bestWall))
        }
    }
}

/// The best of `repeats` timed training epochs over `data`, after one warm-up epoch, as
/// `ZooTrainer` trains: shuffled batches of `batch` images, forward, cross-entropy, backward,
/// `optimizer` step. Returns the calling thread's CPU seconds and the wall seconds, each the
/// minimum over the timed epochs.
func bestTrainingEpoch(_ net: ZooNetwork, _ optimizer: Optimizer, data: ImageDataset, batch: Int, repeats: Int,
                       clock: () -> Double = threadCPUSeconds) -> (cpu: Double, wall: Double) {
    var shuffle = SeededGenerator(seed: 2)
    func epoch() {
        for b in data.shuffledBatches(size: batch, using: &shuffle) {
            net.zeroGradients()
            Variable.crossEntropy(logits: net(Variable(b.images)), labels: b.labels).backward()
            optimizer.step()
        }
    }
    epoch()   // warm-up
    var best = (cpu: Double.infinity, wall: Double.infinity)
    for _ in 0..<repeats {
        let (c0, w0) = (clock(), DispatchTime.now().uptimeNanoseconds)
        epoch()
        best.cpu = min(best.cpu, clock() - c0)
        best.wall = min(best.wall, Double(DispatchTime.now().uptimeNanoseconds - w0) / 1e9)
    }
    return best
}

/// CPU time consumed by the calling thread, in seconds.
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
