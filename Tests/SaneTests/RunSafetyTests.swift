import XCTest
import Foundation
@testable import Sane

/// Run and zoo folders: what a resume finds after a kill, a changed zoo, a hostile prefix, a
/// model another process is training.
final class RunSafetyTests: ScratchFolderTestCase {
    func tinyConfig(epochs: Int) -> SANEConfig {
        var c = SANEConfig.preset("tiny")!
        c.epochs = epochs; c.batchSize = 4; c.windowSize = 16; c.modelDimensions = 16; c.latentDimensions = 8
        return c
    }

    func trainer(zoo: URL, run: URL, config: SANEConfig, refit: Bool = false) throws -> SANETrainer {
        let d = try WeightSpaceData(selections: [ZooSelection(path: zoo.path)], tokenizer: Tokenizer(TokenizerConfig(tokenSize: config.tokenSize)),
                                    standardize: true, align: true, permutations: 2, seed: config.seed)
        let folder = RunFolder(path: run.path)
        try folder.prepare(manifest: .init(config: config, zoos: [ZooSelection(path: zoo.path)], tokenizer: TokenizerConfig(tokenSize: config.tokenSize)),
                           preprocessing: d.preprocessing, refitChangedZoos: refit)
        return try SANETrainer(run: folder, config: config, data: d)
    }

    /// What a kill after the last epoch's commit left (log a line short, the previous epoch's
    /// checkpoint, an unfinished later one, temporaries) is repaired by the resume, which has
    /// nothing left to train.
    func testResumeCompletesAnUnfinishedCommit() throws {
        let zoo = scratch.appendingPathComponent("zoo"), run = scratch.appendingPathComponent("run")
        try SyntheticZoo.write(to: zoo, models: 6, epochs: 1)
        try trainer(zoo: zoo, run: run, config: tinyConfig(epochs: 2)).train()
        let logURL = run.appendingPathComponent("train_log.jsonl")
        let fullLog = try Data(contentsOf: logURL)
        let lines = String(decoding: fullLog, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        try (lines[0] + "\n").write(to: logURL, atomically: false, encoding: .utf8)
        let fm = FileManager.default
        for stale in ["checkpoints/epoch-0001", "checkpoints/epoch-0003"] {
            try fm.createDirectory(at: run.appendingPathComponent(stale), withIntermediateDirectories: true)
            try Data([1]).write(to: run.appendingPathComponent(stale + "/model.safetensors"))
        }
        try Data([1]).write(to: run.appendingPathComponent(".latest.json.tmp-1-2"))
        try Data([1]).write(to: run.appendingPathComponent("checkpoints/epoch-0002/.state.json.tmp-1-2"))

        let lock = try RunFolder(path: run.path).lockForWriting(purpose: "test")
        let resumed = try trainer(zoo: zoo, run: run, config: tinyConfig(epochs: 2))
        try resumed.train()
        lock.release()
        XCTAssertEqual(try Data(contentsOf: logURL), fullLog, "the log was not completed")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path).sorted(), ["epoch-0002"])
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints/epoch-0002").path).sorted(),
                       ["model.safetensors", "optimizer.safetensors", "state.json"])
        XCTAssertFalse(fm.fileExists(atPath: run.appendingPathComponent(".latest.json.tmp-1-2").path))
    }

    /// A resume after the zoo's files changed is refused with what changed; with the refit flag
    /// it re-fits the preprocessing and records the new fingerprint.
    func testResumeRefusesAChangedZoo() throws {
        let zoo = scratch.appendingPathComponent("zoo"), run = scratch.appendingPathComponent("run")
        try SyntheticZoo.write(to: zoo, models: 6, epochs: 1)
        try trainer(zoo: zoo, run: run, config: tinyConfig(epochs: 1)).train()
        let contents = run.appendingPathComponent("preprocessing/zoo-0/zoo_contents.json")
        let stored = try Data(contentsOf: contents)
        let files = try JSONDecoder().decode(ZooContents.self, from: stored).files.map(\.path)
        XCTAssertTrue(files.contains("synthetic_000/checkpoint_000001/checkpoints.safetensors") && files.contains("synthetic_005/params.json"), "\(files)")
        // Same bytes, new modification times (a copy): still resumes.
        let checkpoint = zoo.appendingPathComponent("synthetic_003/checkpoint_000001/checkpoints.safetensors")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1e9)], ofItemAtPath: checkpoint.path)
        XCTAssertNoThrow(try trainer(zoo: zoo, run: run, config: tinyConfig(epochs: 2)))
        // Other bytes of the same size: refused, naming the file.
        var sd = try Safetensors.read(checkpoint)
        let key = sd.keys.first!
        sd[key] = Tensor(shape: sd[key]!.shape, scalars: sd[key]!.scalars.map { $0 * 2 + 0.5 })
        try Safetensors.write(sd, to: checkpoint)
        XCTAssertThrowsError(try trainer(zoo: zoo, run: run, config: tinyConfig(epochs: 2))) { e in
            XCTAssertTrue("\(e)".contains("changed since") && "\(e)".contains("synthetic_003/checkpoint_000001") && "\(e)".contains("--refit-changed-zoo"), "\(e)")
        }
        let reference = try Data(contentsOf: run.appendingPathComponent("preprocessing/zoo-0/standardization.json"))
        let refitted = try trainer(zoo: zoo, run: run, config: tinyConfig(epochs: 2), refit: true)
        XCTAssertNotEqual(try Data(contentsOf: contents), stored)
        XCTAssertNotEqual(try Data(contentsOf: run.appendingPathComponent("preprocessing/zoo-0/standardization.json")), reference,
                          "standardization not re-fitted")
        try refitted.train()
        XCTAssertNoThrow(try trainer(zoo: zoo, run: run, config: tinyConfig(epochs: 2)), "the refitted fingerprint was not stored")
    }

    /// A prefix that would leave --out (or hide the models) is refused, from JSON and from code,
    /// before anything is written.
    func testPrefixStaysInsideTheOutput() throws {
        for bad in ["../x", "/tmp/abs", "a/b", ".hidden", "", "a\u{0}b", String(repeating: "a", count: 201)] {
            XCTAssertThrowsError(try ZooTrainingConfiguration(json: .object([
                JSONMember("dataset", .string("mnist")), JSONMember("epochs", .number(1)), JSONMember("prefix", .string(bad)),
            ])), "prefix \(bad.debugDescription) accepted") { e in XCTAssertTrue("\(e)".contains("prefix"), "\(e)") }
        }
        XCTAssertThrowsError(try ZooTrainingConfiguration(json: JSONValue.parse(#"{"dataset": "mnist", "epochs": 1, "prefix": 3}"#)))
        XCTAssertNoThrow(try ZooTrainingConfiguration(json: JSONValue.parse(#"{"dataset": "mnist", "epochs": 1, "prefix": "mnist_cnn-2.v1"}"#)))
        var c = ZooTrainingConfiguration(dataset: "mnist", epochs: 1)
        c.prefix = "../escaped"
        let out = scratch.appendingPathComponent("out")
        XCTAssertThrowsError(try ZooTrainer.train(c, output: out))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), [], "something was written")
    }

    /// A model another process is training (its lock held) is left to it: the others are
    /// trained, and the call ends with an error naming the model and the holder's PID.
    func testZooTrainLeavesALockedModelToItsHolder() throws {
        let data = ZooModelTests.shared.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: data.appendingPathComponent("mnist").path) else {
            throw XCTSkip("MNIST not found under \(data.path)")
        }
        let config = try ZooTrainingConfiguration(json: JSONValue.parse("""
        {"dataset": "mnist", "data_dir": "\(data.path)", "epochs": 1, "seeds": [1, 2], "batch_size": 32,
         "train_size": 128, "test_size": 50, "train_eval_size": 50, "prefix": "locked"}
        """))
        let out = scratch.appendingPathComponent("zoo")
        let held = try FolderLock(folder: out.appendingPathComponent(".locks"), purpose: "other trainer", name: "locked_00001_seed=2.lock")
        XCTAssertThrowsError(try ZooTrainer.train(config, output: out, jobs: 1)) { e in
            XCTAssertTrue("\(e)".contains("locked_00001_seed=2") && "\(e)".contains("PID \(getpid())"), "\(e)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("locked_00000_seed=1/done").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("locked_00001_seed=2").path))
        held.release()
        XCTAssertEqual(try ZooTrainer.train(config, output: out, jobs: 1), 1)
        // An exclusive writer is kept out while a trainer holds the folder.
        let trainer = try FolderLock(folder: out, mode: .shared, purpose: "sane zoo train")
        XCTAssertThrowsError(try FolderLock(folder: out, purpose: "sane zoo convert"))
        trainer.release()
    }
}
