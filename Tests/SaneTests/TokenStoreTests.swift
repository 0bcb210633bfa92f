import Foundation
import XCTest
@testable import Sane
import SaneData
import SaneTensor

/// The on-disk token store and the streaming windows (issue 14 item 1): the store holds exactly
/// the tokens the in-memory pipeline made, windows are permuted on the fly exactly as the
/// permuted state dict tokenizes, coverage windows tile every checkpoint, batches are a
/// function of the seed, and a damaged or stale store is refused in one line with a hint.
final class TokenStoreTests: ScratchFolderTestCase {
    func makeZoo(models: Int = 6, epochs: Int = 2) throws -> URL {
        let zoo = scratch.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo, models: models, epochs: epochs)
        return zoo
    }

    func data(_ zoo: URL, tokenSize: Int = 289, seed: UInt64 = 3, store: URL? = nil, rebuild: Bool = false,
              shardBytes: Int = TokenStore.defaultShardBytes) throws -> WeightSpaceData {
        try WeightSpaceData(selections: [ZooSelection(path: zoo.path)], tokenizer: Tokenizer(TokenizerConfig(tokenSize: tokenSize)),
                            standardize: true, align: true, permutations: 3, seed: seed, store: store, rebuild: rebuild, shardBytes: shardBytes)
    }

    func assertEqual(_ a: TokenSequence, _ b: TokenSequence, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.tokens.shape, b.tokens.shape, what, file: file, line: line)
        XCTAssertEqual(a.tokens.scalars, b.tokens.scalars, "\(what): tokens", file: file, line: line)
        XCTAssertEqual(a.mask.scalars, b.mask.scalars, "\(what): mask", file: file, line: line)
        XCTAssertEqual(a.positions, b.positions, "\(what): positions", file: file, line: line)
    }

    /// The store's sequences, whole and windowed, plain and under each stored permutation, equal
    /// the in-memory pipeline's (align, standardize, permute the state dict, tokenize) bit for bit
    /// — with one token per row (d_t 289) and with rows split over many tokens (d_t 7), and with
    /// shards small enough that the zoo spans several.
    func testStoreRoundTripEqualsInMemoryTokens() throws {
        let zoo = try makeZoo()
        for tokenSize in [289, 7] {
            let d = try data(zoo, tokenSize: tokenSize, shardBytes: 20_000)
            XCTAssertGreaterThan(d.store.shards.count, 2, "the test should span several shards")
            let tokenizer = Tokenizer(TokenizerConfig(tokenSize: tokenSize))
            let z = try Zoo(path: zoo.path)
            let models = [ZooSplit.train, .validation, .test].map { z.models(in: $0, seed: 42) }
            let raw = try models[0].flatMap { try z.loadCheckpoints(of: [$0]).checkpoints.map(\.stateDict) }
            let prep = d.preprocessing[0]
            XCTAssertEqual(prep.standardization, try LayerStandardization(fittingTo: raw, tokenizer: tokenizer))
            // The in-memory pipeline, in the store's order (split, model), with the store's generator.
            var g = SeededGenerator(seed: 3)
            var expected: [(TokenSequence, [TokenSequence])] = []
            for list in models {
                for model in list {
                    let kept = try z.loadCheckpoints(of: [model]).checkpoints
                    let states = try prep.prepare(trajectory: kept.map(\.stateDict), using: &g)
                    let perms = (0..<3).map { _ in prep.spec.randomPermutation(using: &g) }
                    for state in states {
                        expected.append((try tokenizer.tokenize(state), try perms.map { try tokenizer.tokenize(prep.spec.apply($0, to: state)) }))
                    }
                }
            }
            let samples = d.train + d.validation + d.test
            XCTAssertEqual(samples.count, expected.count)
            for (sample, (sequence, permuted)) in zip(samples, expected) {
                let what = "d_t \(tokenSize) \(sample.model) epoch \(sample.epoch)"
                assertEqual(d.store.sequence(sample), sequence, what)
                for (p, view) in permuted.enumerated() {
                    assertEqual(d.store.permutedSequence(sample, permutation: p), view, "\(what) permutation \(p)")
                    for start in [0, 5, sequence.count - 3] {
                        assertEqual(d.store.window(sample, start: start, length: 9, permutation: p), view.window(start: start, length: 9), "\(what) permutation \(p) window at \(start)")
                    }
                }
                XCTAssertNotEqual(permuted[0].tokens.scalars, sequence.tokens.scalars, "a random permutation should move something")
                XCTAssertEqual(d.result(of: sample)?.epoch, sample.epoch)
            }
        }
    }

    /// Reading windows, plain and permuted, and whole sequences leaves none of the store's file
    /// pages mapped in the process: each read drops what it mapped (the checkpoint's and the
    /// permutation's pages, widened to the blocks a fault maps), so the resident set does not grow
    /// with the shards a run has read (BENCHMARKS.md "Streaming training data: peak memory").
    func testReadsLeaveNoShardPagesResident() throws {
        #if os(Linux)
        let d = try data(try makeZoo(), tokenSize: 7, shardBytes: 20_000)
        for sample in d.train + d.validation + d.test {
            _ = d.store.window(sample, start: 0, length: 9)
            _ = d.store.window(sample, start: 3, length: 9, permutation: 1)
            _ = d.store.sequence(sample)
        }
        XCTAssertGreaterThan(d.store.shards.count, 2)
        for shard in d.store.shards { XCTAssertEqual(shard.residentBytes, 0, "\(shard.url.lastPathComponent) resident") }
        #endif
    }

    /// Coverage mode: ceil(N/ws) windows per checkpoint per epoch whose union is every token,
    /// inside the sequence; the tiling varies between epochs; one-per-model batches hold no model
    /// twice and together every planned window once.
    func testWindowsCoverEveryTokenOverAnEpoch() {
        var config = SANEConfig.preset("tiny")!
        config.windowsPerCheckpoint = 0; config.windowSize = 16; config.batchSize = 4
        let lengths = [5, 16, 17, 48, 100, 3882]
        let samples = lengths.enumerated().flatMap { i, n in
            (0..<3).map { e in WeightSample(zoo: 0, model: "m\(i)", epoch: e, modelIndex: i, tokens: n, shard: 0) }
        }
        var g = SeededGenerator(seed: 7)
        var tilings = Set<[Int]>()
        for onePerModel in [false, true] {
            config.onePerModelPerBatch = onePerModel
            for _ in 0..<10 {
                let batches = WindowPlan.epoch(samples, config: config, using: &g)
                let windows = batches.flatMap { $0 }
                XCTAssertEqual(windows.count, WindowPlan.windowsPerEpoch(samples, config: config))
                for (i, s) in samples.enumerated() {
                    let starts = windows.filter { $0.sample == i }.map { $0.start! }.sorted()
                    XCTAssertEqual(starts.count, (s.tokens + 15) / 16)
                    var covered = [Bool](repeating: false, count: s.tokens)
                    for start in starts {
                        XCTAssertTrue(start >= 0 && start <= max(0, s.tokens - 16), "start \(start) of N \(s.tokens)")
                        for t in start..<min(s.tokens, start + 16) { covered[t] = true }
                    }
                    XCTAssertTrue(covered.allSatisfy { $0 }, "N \(s.tokens): windows at \(starts) leave tokens out")
                    if s.tokens == 100 { tilings.insert(starts) }
                }
                if onePerModel {
                    for batch in batches {
                        let models = batch.map { samples[$0.sample].model }
                        XCTAssertEqual(Set(models).count, models.count, "a model twice in a batch: \(models)")
                    }
                    XCTAssertLessThan(batches.count, WindowPlan.windowsPerEpoch(samples, config: config), "batches should hold several models")
                } else {
                    XCTAssertTrue(batches.dropLast().allSatisfy { $0.count == 4 })
                }
            }
        }
        XCTAssertGreaterThan(tilings.count, 3, "the overlap should fall at random junctions")
    }

    /// Same seed → same store bytes, same batches, same training; another seed → other batches.
    func testDeterminism() throws {
        let zoo = try makeZoo()
        let a = try data(zoo, store: scratch.appendingPathComponent("a")), b = try data(zoo, store: scratch.appendingPathComponent("b"))
        XCTAssertEqual(a.train, b.train)
        for shard in a.store.index.shards {
            XCTAssertEqual(FileManager.default.contents(atPath: scratch.appendingPathComponent("a/\(shard.file)").path),
                           FileManager.default.contents(atPath: scratch.appendingPathComponent("b/\(shard.file)").path), shard.file)
        }
        var config = SANEConfig.preset("tiny")!
        config.windowsPerCheckpoint = 0; config.windowSize = 16; config.onePerModelPerBatch = true; config.erasingProbability = 0.5
        config.epochs = 2; config.batchSize = 4
        func batches(_ d: WeightSpaceData, seed: UInt64) throws -> [[Float]] {
            let run = RunFolder(path: scratch.appendingPathComponent("run-\(UUID().uuidString)").path)
            let trainer = try SANETrainer(run: run, config: config, data: d)
            var g = SeededGenerator(seed: seed)
            return WindowPlan.epoch(d.train, config: config, using: &g).prefix(3).map { planned in
                let batch = trainer.makeBatch(planned.map { (d.train[$0.sample], $0.start) }, using: &g)
                return batch.tokens1.scalars + batch.tokens2.scalars + (batch.inputs1?.scalars ?? []) + (batch.inputs2?.scalars ?? [])
            }
        }
        XCTAssertEqual(try batches(a, seed: 1), try batches(b, seed: 1))
        XCTAssertNotEqual(try batches(a, seed: 1), try batches(a, seed: 2))
        func train(_ d: WeightSpaceData, _ name: String) throws -> [Double] {
            let run = RunFolder(path: scratch.appendingPathComponent(name).path)
            try run.prepare(manifest: .init(config: config, zoos: [ZooSelection(path: zoo.path)], tokenizer: TokenizerConfig(tokenSize: 289)), preprocessing: d.preprocessing)
            let t = try SANETrainer(run: run, config: config, data: d)
            try t.train()
            return t.log.map(\.trainLoss)
        }
        let losses = try train(a, "ra")
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        XCTAssertEqual(losses, try train(b, "rb"))
    }

    /// A store is reused when nothing changed; a truncated shard, a flipped byte, an unreadable
    /// index, other settings or a changed zoo are refused with one line and the rebuild hint;
    /// `rebuild` tokenizes again.
    func testDamagedOrStaleStoreIsRefused() throws {
        let zoo = try makeZoo(models: 4, epochs: 1)
        let dir = scratch.appendingPathComponent("store")
        let first = try data(zoo, store: dir)
        XCTAssertTrue(first.built)
        let again = try data(zoo, store: dir)
        XCTAssertFalse(again.built)
        XCTAssertEqual(again.train, first.train)

        func assertRefused(_ expected: String, seed: UInt64 = 3, line: UInt = #line) {
            XCTAssertThrowsError(try data(zoo, seed: seed, store: dir), line: line) { e in
                let text = "\(e)"
                XCTAssertTrue(text.contains(expected), text, line: line)
                XCTAssertTrue(text.contains("--rebuild-token-store"), text, line: line)
                XCTAssertFalse(text.contains("\n"), "one line: \(text)", line: line)
            }
        }
        let shard = dir.appendingPathComponent("shard-00000.safetensors")
        let bytes = try Data(contentsOf: shard)
        try bytes.prefix(bytes.count - 100).write(to: shard)
        assertRefused("truncated")
        var flipped = bytes
        flipped[bytes.count - 5] ^= 0x40
        try flipped.write(to: shard)
        assertRefused("does not match its hash")
        try bytes.write(to: shard)
        XCTAssertFalse(try data(zoo, store: dir).built, "restored shard reads again")
        assertRefused("other settings (seed 3 vs 4)", seed: 4)
        let index = dir.appendingPathComponent(TokenStore.indexName)
        let indexBytes = try Data(contentsOf: index)
        try Data("{\"settings\": 1".utf8).write(to: index)
        assertRefused("unreadable")
        try indexBytes.write(to: index)
        // A changed checkpoint makes the store stale.
        let model = try Zoo(path: zoo.path).models[0]
        let file = model.checkpoints[1]!
        var sd = try StateDict(contentsOf: file)
        let key = sd.items[0].0, t = sd[key]!
        sd[key] = Tensor(shape: t.shape, scalars: t.scalars.map { $0 + 0.5 })
        try Safetensors.write(sd, to: file)
        assertRefused("changed since token store")
        let rebuilt = try data(zoo, store: dir, rebuild: true)
        XCTAssertTrue(rebuilt.built)
        XCTAssertFalse(try data(zoo, store: dir).built)
        // A folder of other files is not taken over.
        let other = scratch.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: other.appendingPathComponent("notes.txt"))
        XCTAssertThrowsError(try data(zoo, store: other)) { e in XCTAssertTrue("\(e)".contains("holds other files"), "\(e)") }
    }

    /// Random erasing: erases with probability p (binomial bounds), a block of 2–33 % of the
    /// window, nothing and no draw at p = 0; in a batch only the encoder input is erased, the
    /// reconstruction target keeps its values.
    func testErasingProbability() throws {
        var g = SeededGenerator(seed: 11)
        let n = 4000
        for p: Float in [0.25, 0.5, 1] {
            var erased = 0
            for _ in 0..<n {
                guard let block = RandomErasing(probability: p).block(rows: 64, columns: 288, using: &g) else { continue }
                erased += 1
                let fraction = Float(block.rows.count * block.columns.count) / Float(64 * 288)
                XCTAssertTrue(fraction > 0.015 && fraction < 0.345, "block fraction \(fraction)")
                XCTAssertTrue(block.rows.upperBound <= 64 && block.columns.upperBound <= 288)
            }
            let sd = (Double(n) * Double(p) * (1 - Double(p))).squareRoot()
            XCTAssertEqual(Double(erased), Double(n) * Double(p), accuracy: max(5 * sd, 0.01 * Double(n)), "p \(p): \(erased) of \(n) erased")
        }
        let before = g.stateWords
        XCTAssertNil(RandomErasing(probability: 0).block(rows: 64, columns: 288, using: &g))
        XCTAssertEqual(g.stateWords, before, "p = 0 draws nothing (runs without erasing keep their random stream)")

        let zoo = try makeZoo(models: 4, epochs: 1)
        let d = try data(zoo)
        var config = SANEConfig.preset("tiny")!
        config.erasingProbability = 1; config.windowSize = 48
        let trainer = try SANETrainer(run: RunFolder(path: scratch.appendingPathComponent("run").path), config: config, data: d)
        config.erasingProbability = 0
        let plain = try SANETrainer(run: RunFolder(path: scratch.appendingPathComponent("run0").path), config: config, data: d)
        var g1 = SeededGenerator(seed: 5), g2 = SeededGenerator(seed: 5)
        let items = d.train.prefix(4).map { ($0, Int?.none) }
        let batch = trainer.makeBatch(items, using: &g1), reference = plain.makeBatch(items, using: &g2)
        XCTAssertNil(reference.inputs1)
        XCTAssertEqual(batch.tokens1.scalars, reference.tokens1.scalars, "targets are not erased")
        let input = try XCTUnwrap(batch.inputs1).scalars, target = batch.tokens1.scalars
        let changed = zip(input, target).filter { $0 != $1 }
        XCTAssertFalse(changed.isEmpty)
        XCTAssertTrue(changed.allSatisfy { $0.0 == 0 }, "erased values are 0")
    }
}
