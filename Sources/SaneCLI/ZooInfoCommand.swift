import ArgumentParser
import Foundation
import Sane

/// `sane zoo info ZOO [--json]`
struct ZooInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Summarize a zoo: models, epochs, split sizes, test accuracy per epoch, unusable checkpoints."
    )

    @Argument(help: "Zoo directory (one folder per model).") var zoo: String
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let z = try Zoo(path: zoo)
        reportSkipped(z)
        let epochs = Set(z.models.flatMap(\.epochs)).sorted()
        let split = z.splitNames()
        // Test accuracy per epoch: (min, median, max) over models that recorded it.
        var perEpoch: [(epoch: Int, count: Int, min: Double, median: Double, max: Double)] = []
        for e in epochs {
            let accs = z.models.compactMap { $0.results[e]?.testAccuracy }.sorted()
            guard !accs.isEmpty else { continue }
            let median = accs.count % 2 == 1 ? accs[accs.count / 2] : (accs[accs.count / 2 - 1] + accs[accs.count / 2]) / 2
            perEpoch.append((e, accs.count, accs.first!, median, accs.last!))
        }
        let (kept, skipped) = try z.loadCheckpoints(of: z.models)
        let types = Set(z.models.compactMap(\.params.modelType)).sorted()
        if json {
            let value = JSONValue.object([
                JSONMember("directory", .string(z.directory.path)),
                JSONMember("models", .number(Double(z.models.count))),
                JSONMember("architectures", .array(types.map { .string($0) })),
                JSONMember("epochs", .array(epochs.map { .number(Double($0)) })),
                JSONMember("checkpoints", .number(Double(kept.count + skipped.count))),
                JSONMember("split", .object(ZooSplit.allCases.map { JSONMember($0.rawValue, .number(Double(split[$0]!.count))) })),
                JSONMember("test_acc", .array(perEpoch.map { .object([
                    JSONMember("epoch", .number(Double($0.epoch))), JSONMember("models", .number(Double($0.count))),
                    JSONMember("min", .number($0.min)), JSONMember("median", .number($0.median)), JSONMember("max", .number($0.max)),
                ]) })),
                JSONMember("skipped", .array(skipped.map { .string($0) })),
                JSONMember("skipped_entries", .array(z.skipped.map { .object([JSONMember("path", .string($0.path)), JSONMember("reason", .string($0.reason))]) })),
            ])
            print(value.jsonText)
            return
        }
        print("zoo \(z.directory.path)")
        print("  models       \(z.models.count) (\(types.joined(separator: ", ")))")
        print("  epochs       \(epochs.map(String.init).joined(separator: " "))")
        print("  checkpoints  \(kept.count + skipped.count), \(skipped.count) unusable")
        print("  split        train \(split[.train]!.count) / val \(split[.validation]!.count) / test \(split[.test]!.count) (seed 42, 70/15/15)")
        print("  test acc %   epoch  models    min  median    max")
        for r in perEpoch {
            print(String(format: "               %5d  %6d  %5.1f  %6.1f  %5.1f", r.epoch, r.count, 100 * r.min, 100 * r.median, 100 * r.max))
        }
        for s in skipped { diagnostic("warning: skipped checkpoint \(s)") }
    }
}
