import Foundation
import SaneData
import SaneNN
import SaneTensor

// The fine-tuning protocol of SANE-SPEC §7.6 (Schürholt et al., ICML 2024, Table 3): train
// every model of a group (SANE samples, the prompts, fresh initializations) on the target data
// with the zoo's recipe and record test accuracy after every epoch, plus the accuracy of the
// group's ensemble.
//
// Shape legend: M models in a group, n test examples, C classes, E epochs.

/// The recipe: Adam (lr 1e-3), batch 64, as the zoos were trained.
public struct FineTuningSettings: Codable, Equatable, Sendable {
    public var epochs = 5
    public var learningRate = 1e-3
    public var batchSize = 64
    public var weightDecay = 0.0
    /// Model i of a group shuffles its batches with SeededGenerator(seed + i).
    public var seed: UInt64 = 0
    /// Models trained at the same time, one per core (BLAS single-threaded). Results do not depend on it.
    public var jobs = ProcessInfo.processInfo.activeProcessorCount

    public init() {}
}

/// One model's test accuracy and loss after epochs 0 (as given), 1, …, E.
public struct FineTuningCurve: Codable, Equatable, Sendable {
    public var name: String
    public var testAccuracy: [Double]                                           // [E + 1]
    public var testLoss: [Double]                                               // [E + 1]
}

/// A group of models fine-tuned alike (e.g. "SANE samples").
public struct FineTuningGroup: Codable, Equatable, Sendable {
    public var name: String
    public var curves: [FineTuningCurve]
    /// Accuracy of the mean of the group's softmax outputs after each epoch.
    public var ensembleAccuracy: [Double]                                       // [E + 1]

    /// The M accuracies after `epoch`.
    public func accuracies(epoch: Int) -> [Double] { curves.map { $0.testAccuracy[epoch] } }
}

public enum FineTuning {
    /// Trains each of `initial` (name, weights) in a `target` network seeded `seed + i` (dropout
    /// masks) for `settings.epochs` epochs of Adam on `training`, evaluating on `test` before
    /// training and after each epoch. Deterministic: model i's result depends only on its weights,
    /// `settings` and i. `progress` gets (finished epochs, total epochs) over the group.
    public static func run(group name: String, initial: [(name: String, stateDict: StateDict)], target: ZooNetworkConfiguration,
                           training: ImageDataset, test: ImageDataset, settings: FineTuningSettings,
                           progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> FineTuningGroup {
        try training.checkFits(classes: target.outputs, channels: target.channelsIn, what: "the fine-tuning training data")
        try test.checkFits(classes: target.outputs, channels: target.channelsIn, what: "the fine-tuning test data")
        try settings.validate()
        for model in initial {
            try model.stateDict.checkFinite("model \(model.name) (\(name))", hint: "fine-tune only finite models; resample with a lower --bandwidth")
        }
        let networks = try initial.enumerated().map { i, model in
            let net = ZooNetwork(target.seeded(settings.seed &+ UInt64(i)))
            try net.load(model.stateDict)
            return net
        }
        let results = ResultSlots(models: networks.count, epochs: settings.epochs)
        let workers = max(1, min(settings.jobs, networks.count))
        Parallel.jobs(workers) { _ in
            while let i = results.nextModel() {
                let net = networks[i]
                let optimizer = Adam(parameters: net.namedParameters(), learningRate: settings.learningRate, weightDecay: settings.weightDecay)
                var shuffle = SeededGenerator(seed: settings.seed &+ UInt64(i))
                for epoch in 0...settings.epochs {
                    if epoch > 0 { net.trainEpoch(on: training, batchSize: settings.batchSize, optimizer: optimizer, shuffle: &shuffle, check: { _, _ in }) }
                    let done = results.store(model: i, epoch: epoch, probabilities: probabilities(of: net, on: test))
                    if epoch > 0 { progress?(done, networks.count * settings.epochs) }
                }
            }
        }
        let curves = initial.indices.map { i in
            let p = results.probabilities[i]
            return FineTuningCurve(name: initial[i].name, testAccuracy: p.map { accuracy($0, labels: test.labels) },
                                   testLoss: p.map { crossEntropy($0, labels: test.labels) })
        }
        let ensemble = (0...settings.epochs).map { e in ensembleAccuracy(results.probabilities.map { $0[e] }, labels: test.labels) }
        return FineTuningGroup(name: name, curves: curves, ensembleAccuracy: ensemble)
    }

    /// softmax(network(x)) in evaluation mode, [n, C], on one thread.
    public static func probabilities(of network: ZooNetwork, on data: ImageDataset, batchSize: Int = 500) -> Tensor {
        let wasTraining = network.isTraining
        network.train(false)
        defer { network.train(wasTraining) }
        let batches = stride(from: 0, to: data.count, by: batchSize).map { lo in
            let batch = data.batch(Array(lo..<min(data.count, lo + batchSize)))
            return network(Variable(batch.images)).softmax().value                             // [b, C]
        }
        return batches.isEmpty ? Tensor(zeros: [0, 0]) : Tensor.concatenated(batches)          // [n, C]
    }

    /// Fraction of rows whose largest probability (first on ties) is at the label.
    public static func accuracy(_ probabilities: Tensor, labels: [Int]) -> Double {
        let c = probabilities.shape[1]
        var correct = 0
        probabilities.withHostBuffer { p in
            for (r, label) in labels.enumerated() {
                var best = 0
                for j in 1..<c where p[r * c + j] > p[r * c + best] { best = j }
                if best == label { correct += 1 }
            }
        }
        return Double(correct) / Double(max(labels.count, 1))
    }

    /// Mean −log p[label] (probabilities clamped at 1e-12), in Float64.
    public static func crossEntropy(_ probabilities: Tensor, labels: [Int]) -> Double {
        let c = probabilities.shape[1]
        let total = probabilities.withHostBuffer { p in
            labels.enumerated().reduce(0.0) { $0 - Foundation.log(max(Double(p[$1.offset * c + $1.element]), 1e-12)) }
        }
        return total / Double(max(labels.count, 1))
    }

    /// Ensemble accuracy: accuracy of `(1/M) Σ_m softmax_m`, each [n, C].
    public static func ensembleAccuracy(_ probabilities: [Tensor], labels: [Int]) -> Double {
        guard let first = probabilities.first else { return .nan }
        let mean = Tensor(hostShape: first.shape) { m in
            m.initialize(repeating: 0)
            for p in probabilities { p.withHostBuffer { q in for j in 0..<first.count { m[j] += q[j] } } }
        }
        return accuracy(mean, labels: labels)                                   // argmax is unchanged by 1/M
    }

    /// Per-model, per-epoch test probabilities written by the worker threads.
    final class ResultSlots: @unchecked Sendable {
        private let lock = NSLock()
        private var next = 0, finishedEpochs = 0
        private let count: Int
        private(set) var probabilities: [[Tensor]]                              // [M][E + 1] of [n, C]

        init(models: Int, epochs: Int) {
            count = models
            probabilities = Array(repeating: Array(repeating: Tensor(zeros: [0]), count: epochs + 1), count: models)
        }

        func nextModel() -> Int? {
            lock.lock(); defer { lock.unlock() }
            guard next < count else { return nil }
            next += 1
            return next - 1
        }

        /// Stores a result; returns the number of trained epochs stored so far (all models).
        func store(model: Int, epoch: Int, probabilities p: Tensor) -> Int {
            lock.lock(); defer { lock.unlock() }
            probabilities[model][epoch] = p
            if epoch > 0 { finishedEpochs += 1 }
            return finishedEpochs
        }
    }
}
