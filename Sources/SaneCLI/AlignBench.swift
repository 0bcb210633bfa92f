import ArgumentParser
import Foundation
import Sane

/// `sane bench align`: weight matching (`WeightMatching.align`, SANE-SPEC §3) between pairs of
/// models — the last checkpoints of a zoo's models aligned to its first model, or two random
/// initializations of a registered architecture at `--width` — on `--threads` cores. Per pair:
/// the L2 distance between the two models' weights before (identity) and after alignment
/// (every entry except `num_batches_tracked`), wall and process CPU seconds of the alignment (best
/// of `--repeats`; every repeat must find the same permutation), and a checksum of the permutation
/// (FNV-1a of its indices) to compare results across builds. Then the
/// linear assignment alone (`LinearAssignment.maximize`) on a random profit matrix of the largest
/// group's size, for the share of the time it takes.
struct AlignBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "align",
        abstract: "Weight matching between model pairs: distance before/after and seconds per alignment.",
        discussion: """
        Examples:
          sane bench align --zoo ../zoos/cifar10-resnet18-w8-cpu --models 4
          sane bench align --architecture Resnet18 --width 64 --repeats 1
        """)
    @OptionGroup var options: BenchOptions
    @Option(help: "Zoo directory: the last checkpoints of models 2…--models are aligned to model 1's.") var zoo: String?
    @Option(help: "Models of the zoo taken (the first is the reference).") var models = 2
    @Option(help: "Without --zoo: the architecture of the two random initializations (seeds 1 and 2).") var architecture = "Resnet18"
    @Option(help: "Without --zoo: base channels (64 = the real ResNet).") var width = 8
    @Option(help: "Seed of the alignment's group order.") var seed: UInt64 = 0

    func validate() throws {
        try check("--models", models, in: 2...100_000)
        try check("--width", width, in: 1...512)
    }

    func run() throws {
        try Parallel.$workers.withValue(options.threads) { try measure() }
    }

    func measure() throws {
        var pairs: [(name: String, model: StateDict, reference: StateDict, spec: PermutationSpec)] = []
        if let zoo {
            let z = try Zoo(path: zoo)
            guard z.models.count >= models else { throw CommandError("--models \(models): the zoo \(zoo) has \(z.models.count) models") }
            func last(_ m: ZooModel) throws -> StateDict {
                guard let epoch = m.epochs.last else { throw CommandError("model \(m.name) of \(zoo) has no checkpoints") }
                return try m.loadCheckpoint(epoch: epoch)
            }
            let reference = try last(z.models[0])
            let spec = try PermutationSpec(modelType: z.models[0].params.modelType, reference: reference)
            for m in z.models[1..<models] { pairs.append(("\(m.name) → \(z.models[0].name)", try last(m), reference, spec)) }
        } else {
            let arch = try ZooArchitecture(named: architecture)
            let configuration = ZooNetworkConfiguration(architecture: arch, channelsIn: 3,
                                                        width: arch.definition.defaultWidth == nil ? nil : width)
            let reference = ZooNetwork(configuration.seeded(1)).stateDict()
            pairs.append(("\(architecture) w\(width) seed 2 → seed 1", ZooNetwork(configuration.seeded(2)).stateDict(), reference,
                          try PermutationSpec(modelType: architecture, reference: reference)))
        }
        var rows: [[String: Any]] = []
        for pair in pairs {
            // Best of --repeats (wall and CPU each); the same seed must give the same permutation every time.
            var permutation: Permutation?
            var (cpu, wall) = (Double.infinity, Double.infinity)
            for _ in 0..<options.repeats {
                var g = SeededGenerator(seed: seed)
                let (c0, w0) = (processCPUSeconds(), DispatchTime.now().uptimeNanoseconds)
                let found = try WeightMatching.align(pair.model, to: pair.reference, spec: pair.spec, using: &g)
                cpu = min(cpu, processCPUSeconds() - c0)
                wall = min(wall, Double(DispatchTime.now().uptimeNanoseconds - w0) / 1e9)
                if let permutation, permutation != found {
                    throw CommandError("\(pair.name): two alignments with seed \(seed) found different permutations (nondeterministic weight matching)")
                }
                permutation = found
            }
            let aligned = try pair.spec.apply(permutation!, to: pair.model)
            let before = distance(pair.model, pair.reference), after = distance(aligned, pair.reference)
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for group in permutation!.groups { for i in group { hash = (hash ^ UInt64(i)) &* 0x100_0000_01b3 } }
            let row: [String: Any] = ["pair": pair.name, "parameters": pair.model.parameterCount, "groups": pair.spec.groups.count,
                                      "largest_group": pair.spec.groups.map(\.size).max() ?? 0,
                                      "distance_identity": before, "distance_aligned": after, "reference_norm": norm(pair.reference),
                                      "seconds": wall, "process_cpu_seconds": cpu, "permutation_fnv1a": String(hash, radix: 16)]
            rows.append(row)
            if !options.json {
                print(String(format: "%@: %d parameters, %d groups (largest %d): L2 distance %.4f identity → %.4f aligned (%.1f %% less; ‖reference‖ %.4f); %.2f s wall, %.2f s CPU (best of %d); permutation %@",
                             pair.name, pair.model.parameterCount, pair.spec.groups.count, row["largest_group"] as! Int, before, after,
                             100 * (1 - after / before), row["reference_norm"] as! Double, wall, cpu, options.repeats, row["permutation_fnv1a"] as! String))
            }
        }
        // The linear assignment alone, at the largest group's size.
        let n = pairs.flatMap { $0.spec.groups.map(\.size) }.max() ?? 1
        var g = SeededGenerator(seed: seed)
        let profit = (0..<(n * n)).map { _ in g.uniformDouble() }
        let c0 = processCPUSeconds()
        _ = LinearAssignment.maximize(profit, size: n)
        let lap = processCPUSeconds() - c0
        if options.json {
            printJSON(["benchmark": "align", "threads": options.threads, "repeats": options.repeats, "pairs": rows, "assignment_size": n, "assignment_cpu_seconds": lap])
        } else {
            print(String(format: "linear assignment alone, %d × %d random profits: %.3f s CPU", n, n, lap))
        }
    }

    /// ‖a − b‖₂ over every entry but the `num_batches_tracked` counters, in Float64.
    func distance(_ a: StateDict, _ b: StateDict) -> Double {
        var sum = 0.0
        for key in b.keys where !key.hasSuffix("num_batches_tracked") {
            for (x, y) in zip(a[key]!.scalars, b[key]!.scalars) { sum += Double(x - y) * Double(x - y) }
        }
        return sum.squareRoot()
    }

    func norm(_ a: StateDict) -> Double {
        a.keys.filter { !$0.hasSuffix("num_batches_tracked") }.reduce(0.0) { s, key in
            a[key]!.scalars.reduce(s) { $0 + Double($1) * Double($1) }
        }.squareRoot()
    }
}
