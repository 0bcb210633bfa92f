import ArgumentParser
import Foundation
import Sane

/// `sane bench resnet-train`: ResNet training throughput (SANE-SPEC §9: torchvision ResNet, CIFAR
/// stem) — forward, backward and an SGD-momentum step per batch of random CIFAR-shaped images
/// [B, 3, 32, 32], on `--threads` cores (BLAS and the parallel loops). Reports images/s by wall
/// time, best of `--repeats` timed epochs after one warm-up epoch. PyTorch counterpart:
/// `python3 Scripts/bench/pytorch_resnet_train.py` with the same options.
struct ResNetTrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resnet-train",
        abstract: "ResNet-18/34 training (batch, SGD momentum) in images/s.")
    @Option(help: "Resnet18 or Resnet34.") var architecture = "Resnet18"
    @Option(help: "Base channels (64 = the real ResNet; 8 or 16 for CPU zoos).") var width = 64
    @Option(help: "Images per batch.") var batch = 128
    @Option(help: "Batches per timed epoch.") var steps = 3
    @Option(help: "Timed epochs (best is reported).") var repeats = 2
    @Option(help: "Cores for BLAS and the parallel loops.") var threads = 2
    @Flag(help: "Print one JSON object instead of text.") var json = false

    func run() throws { try Parallel.$workers.withValue(threads) { try measure() } }

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
        let best = bestTrainingEpoch(net, optimizer, data: data, batch: batch, repeats: repeats).wall
        let result: [String: Any] = ["benchmark": "resnet-train", "implementation": "sane", "architecture": architecture, "width": width,
                                     "threads": threads, "batch": batch, "steps": steps, "seconds_per_step": best / Double(steps),
                                     "images_per_second": Double(n) / best]
        if json { printJSON(result) } else {
            print(String(format: "Sane %@ width %d (SGD momentum), batch %d, %d threads: %.1f ms/step, %.1f images/s (wall)",
                         architecture, width, batch, threads, best / Double(steps) * 1e3, Double(n) / best))
        }
    }
}
