import ArgumentParser
import Foundation
import Sane

/// `sane zoo train --config FILE.json --out ZOO [--shard i/n] [--jobs 2]`
struct ZooTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a population of models (CNNs, ResNets) from a JSON config and write it in the Model Zoos layout.",
        discussion: """
        The config names the dataset (mnist, fashion-mnist, digits8x8, cifar10), architecture (CNN, CNN3, \
        Resnet18, Resnet34 with a "width" of base channels), epochs and the choices of \
        activation, init, optimizer (adam, adamw, sgd), lr, weight_decay, dropout, batch_size, \
        augment (CIFAR crop + flip), train_size / train_eval_size / test_size subsets and seeds, \
        sampled as a grid or at random (see ZooTrainingConfiguration; examples in Configs/zoos). Each model gets \
        params.json, result.json and checkpoint_NNNNNN/checkpoints.safetensors for epochs 0…E. \
        The same config gives a byte-identical zoo. Re-running skips finished models (marked \
        'done') and continues unfinished ones after their last finished epoch (from the model's \
        resume.safetensors: optimizer and random-generator states), so an interrupted run can \
        simply be restarted and still gives the same bytes.
        """
    )

    @Option(help: "Training configuration (JSON).") var config: String
    @Option(help: "Output zoo directory.") var out: String
    @Option(help: "Data root holding one folder per dataset (e.g. ../shared/data); overrides the config's data_dir.") var data: String?
    @Option(help: "Train only models with index % n == i (0-based), e.g. 0/2 and 1/2 on two machines.") var shard: String = "0/1"
    @Option(help: "Models trained at the same time (one per core).") var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    func parsedShard() throws -> (index: Int, count: Int) {
        let parts = shard.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, parts[0] >= 0, parts[0] < parts[1] else {
            throw ValidationError("--shard must be i/n with 0 ≤ i < n, got \(shard)")
        }
        return (parts[0], parts[1])
    }

    func validate() throws {
        _ = try parsedShard()
        try check("--jobs", jobs, in: 1...1024)
    }

    func run() throws {
        var configuration = try ZooTrainingConfiguration(contentsOf: URL(fileURLWithPath: config))
        if let data { configuration.dataDirectory = data }
        let trials = ZooTrainer.trials(configuration)
        // Under mpirun the ranks split the shard further: rank r of N takes the models with
        // index % (n·N) == i + n·r, so the N ranks together train exactly shard i/n. Each model is
        // written to its own folder by the rank that trains it; models do not depend on the split.
        let given = try parsedShard()
        if let dataDirectory = configuration.dataDirectory {
            try FolderPaths.checkOutput(out, inputs: [("data folder (data_dir)", dataDirectory, false)])
        }
        let shard = (index: given.index + given.count * world.rank, count: given.count * world.size)
        if world.size > 1 && !world.isRoot {
            let finished = try ZooTrainer.train(configuration, output: URL(fileURLWithPath: out), shard: shard, jobs: jobs)
            _ = world.gather(Array("\(finished)".utf8), root: 0)
            return
        }
        diagnostic("zoo train: \(trials.count) models × \(configuration.epochs) epochs (\(configuration.architecture.rawValue) on \(configuration.dataset)), shard \(given.index)/\(given.count)\(world.size > 1 ? " over \(world.size) ranks" : ""), \(jobs) jobs → \(out)")
        // Shared with the training threads' progress callback, which holds `lock` for every use.
        nonisolated(unsafe) let bar = ProgressBar("training", total: 1)
        let lock = NSLock()
        let finished = try ZooTrainer.train(configuration, output: URL(fileURLWithPath: out), shard: shard, jobs: jobs) { p in
            lock.lock(); defer { lock.unlock() }
            bar.total = p.totalEpochs
            bar.update(p.completedEpochs, detail: String(format: "%@ epoch %d test acc %.4f", p.model, p.epoch, p.testAccuracy))
        }
        bar.finish()
        let perRank = world.gather(Array("\(finished)".utf8), root: 0)?.compactMap { Int(String(decoding: $0, as: UTF8.self)) } ?? [finished]
        diagnostic("zoo train: \(perRank.reduce(0, +)) models finished in this run" + (world.size > 1 ? " by \(world.size) ranks (\(perRank.map(String.init).joined(separator: " + ")))" : ""))
    }
}
