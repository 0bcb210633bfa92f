import XCTest
import Foundation
@testable import Sane

/// Kills `sane pretrain` and `sane zoo train` at named write points (SANE_TEST_KILL_AT, see
/// `KillPoint`: SIGKILL at the n-th time a label is hit), reruns the same command and checks
/// that the result equals an uninterrupted run byte for byte (timings aside), with no stale
/// temporaries or checkpoints left. A few points by default; with SANE_LONG_TESTS=1 every point
/// an uninterrupted run passes (listed with SANE_TEST_KILL_TRACE).
final class CrashResumeTests: ScratchFolderTestCase {
    static let long = ProcessInfo.processInfo.environment["SANE_LONG_TESTS"] == "1"

    struct Result { var status: Int32; var killed: Bool; var stdout: String; var stderr: String }

    /// Runs the built `sane` with extra environment variables.
    func sane(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let bundle = Bundle(for: CrashResumeTests.self).bundleURL
        guard let exe = [bundle, bundle.deletingLastPathComponent()].map({ $0.appendingPathComponent("sane") })
            .first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            XCTFail("sane executable not found next to the tests"); throw XCTSkip("no sane executable")
        }
        let p = Process()
        p.executableURL = exe
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SANE_TEST_KILL_AT"] = nil; env["SANE_TEST_KILL_TRACE"] = nil
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, killed: p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL,
                      stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Every file under `dir` (relative path → bytes), the lock files left out; JSON files with
    /// timing fields ("seconds", "tokensPerSecond") removed; report.md only by name (it
    /// tabulates timings).
    static func snapshot(_ dir: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: [.isRegularFileKey])!
        for case let url as URL in e where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            let name = String(url.path.dropFirst(dir.path.count))
            if url.lastPathComponent == FolderLock.defaultName || name.hasPrefix("/.locks/") { continue }
            var data = try Data(contentsOf: url)
            if url.lastPathComponent == "report.md" { data = Data() }
            if url.lastPathComponent == "state.json" || url.lastPathComponent == "train_log.jsonl" {
                data = Data(String(decoding: data, as: UTF8.self).replacing(try Regex(#""(seconds|tokensPerSecond)"\s*:\s*[-0-9.e+]+,?"#), with: "").utf8)
            }
            out[name] = data
        }
        return out
    }

    func assertSame(_ a: URL, _ b: URL, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let sa = try Self.snapshot(a), sb = try Self.snapshot(b)
        XCTAssertEqual(sa.keys.sorted(), sb.keys.sorted(), "files differ after \(context)", file: file, line: line)
        for (k, v) in sa where sb[k] != nil && sb[k] != v { XCTFail("\(k) differs after \(context)", file: file, line: line) }
    }

    /// The kill points an uninterrupted command passes, as label@n.
    func tracedPoints(_ arguments: [String]) throws -> [String] {
        let trace = scratch.appendingPathComponent("trace-\(UUID().uuidString).txt")
        let r = try sane(arguments, environment: ["SANE_TEST_KILL_TRACE": trace.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        var counts: [String: Int] = [:]
        return try String(contentsOf: trace, encoding: .utf8).split(separator: "\n").map { label in
            counts[String(label), default: 0] += 1
            return "\(label)@\(counts[String(label)]!)"
        }
    }

    /// Kills `arguments` (whose --out is `out`) at each point, reruns it and compares with `reference`.
    func killAndResume(_ arguments: (URL) -> [String], points: [String], reference: URL) throws {
        for point in points {
            let out = scratch.appendingPathComponent("killed-\(point.replacing(try Regex("[^A-Za-z0-9]"), with: "_"))")
            let killed = try sane(arguments(out), environment: ["SANE_TEST_KILL_AT": point])
            XCTAssertTrue(killed.killed, "not killed at \(point) (status \(killed.status)): \(killed.stderr.suffix(500))")
            let resumed = try sane(arguments(out))
            XCTAssertEqual(resumed.status, 0, "resume after a kill at \(point) failed: \(resumed.stderr.suffix(800))")
            try assertSame(reference, out, "a kill at \(point) and a resume")
            let temporaries = FileManager.default.enumerator(atPath: out.path)!.compactMap { $0 as? String }
                .filter { AtomicFile.isTemporary(URL(fileURLWithPath: $0).lastPathComponent) }
            XCTAssertEqual(temporaries, [], "temporary files left after a kill at \(point)")
            try? FileManager.default.removeItem(at: out)
        }
    }

    func pretrainFixture() throws -> (zoo: URL, config: URL) {
        let zoo = scratch.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo, models: 8, epochs: 2)
        let config = scratch.appendingPathComponent("tiny.json")
        try #"{"preset": "tiny", "epochs": 3, "batchSize": 4, "windowSize": 16, "modelDimensions": 16, "latentDimensions": 8}"#
            .write(to: config, atomically: true, encoding: .utf8)
        return (zoo, config)
    }

    /// Pretraining killed while writing a checkpoint, between the last epoch's commit and its
    /// log (once left the log a line short and a stale checkpoint for good), after the log, and
    /// while preparing the run folder resumes to the uninterrupted run.
    func testPretrainKilledAtWritePointsResumesIdentically() throws {
        let (zoo, config) = try pretrainFixture()
        let args = { (out: URL) in ["pretrain", "--zoo", zoo.path, "--config", config.path, "--out", out.path, "--json"] }
        let reference = scratch.appendingPathComponent("reference")
        let r = try sane(args(reference))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try RunFolder(path: reference.path).loadLog().count, 3)
        let points = Self.long ? try tracedPoints(args(scratch.appendingPathComponent("traced")))
            : ["before-rename:run.json@1", "before-rename:optimizer.safetensors@2", "after-rename:latest.json@3",
               "after-rename:train_log.jsonl@3", "removed:checkpoints/epoch-0002@1"]
        if Self.long { XCTAssertGreaterThan(points.count, 20) }
        try killAndResume(args, points: points, reference: reference)
    }

    /// Zoo training killed at a few write points (full matrix with SANE_LONG_TESTS=1) resumes to
    /// the uninterrupted zoo.
    func testZooTrainKilledAtWritePointsResumesIdentically() throws {
        let data = ZooModelTests.shared.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: data.appendingPathComponent("mnist").path) else {
            throw XCTSkip("MNIST not found under \(data.path)")
        }
        let config = scratch.appendingPathComponent("zoo.json")
        try """
        {"dataset": "mnist", "data_dir": "\(data.path)", "epochs": 2, "seeds": [1, 2], "lr": 3e-3, "batch_size": 32,
         "train_size": 256, "test_size": 100, "train_eval_size": 100, "prefix": "crash"}
        """.write(to: config, atomically: true, encoding: .utf8)
        let args = { (out: URL) in ["zoo", "train", "--config", config.path, "--out", out.path, "--jobs", "1"] }
        let reference = scratch.appendingPathComponent("reference")
        XCTAssertEqual(try sane(args(reference)).status, 0)
        let points = Self.long ? try tracedPoints(args(scratch.appendingPathComponent("traced")))
            : ["after-rename:params.json@1", "before-rename:checkpoints.safetensors@2", "after-rename:result.json@3",
               "before-rename:done@2"]
        try killAndResume(args, points: points, reference: reference)
    }

    /// A second process on a locked folder gets one line naming the holder's PID; the lock dies
    /// with its holder (a SIGKILLed run above resumes, so it did).
    func testLockedRunFolderNamesTheHolder() throws {
        let (zoo, config) = try pretrainFixture()
        let out = scratch.appendingPathComponent("run")
        let held = try FolderLock(folder: out, purpose: "test holder")
        let r = try sane(["pretrain", "--zoo", zoo.path, "--config", config.path, "--out", out.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("PID \(getpid())") && r.stderr.contains("in use"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error") }.count, 1, r.stderr)
        held.release()
        XCTAssertEqual(try sane(["pretrain", "--zoo", zoo.path, "--config", config.path, "--out", out.path]).status, 0)
    }

    /// `--out` on (or inside) an input is refused before anything is written or deleted.
    func testOutputOnAnInputIsRefused() throws {
        let (zoo, config) = try pretrainFixture()
        let before = try Self.snapshot(zoo)
        let link = scratch.appendingPathComponent("zoo-link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: zoo)
        for out in [zoo.path, link.path, zoo.path + "/../zoo", zoo.appendingPathComponent("converted").path] {
            let convert = try sane(["zoo", "convert", zoo.path, "--out", out])
            XCTAssertEqual(convert.status, 1, "zoo convert --out \(out): \(convert.stderr)")
            XCTAssertTrue(convert.stderr.contains("would change an input"), convert.stderr)
            let pretrain = try sane(["pretrain", "--zoo", link.path, "--config", config.path, "--out", out])
            XCTAssertEqual(pretrain.status, 1, "pretrain --out \(out): \(pretrain.stderr)")
        }
        XCTAssertEqual(try Self.snapshot(zoo), before, "the zoo changed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: zoo.appendingPathComponent("converted").path))
        // Into a fresh folder it works, and a rerun over its own output is fine.
        let copy = scratch.appendingPathComponent("copy")
        XCTAssertEqual(try sane(["zoo", "convert", zoo.path, "--out", copy.path]).status, 0)
        XCTAssertEqual(try sane(["zoo", "convert", zoo.path, "--out", copy.path]).status, 0)
        XCTAssertEqual(try Zoo(directory: copy).models.count, 8)
        // What a listing skips is reported on stderr and in the JSON.
        try FileManager.default.createDirectory(at: copy.appendingPathComponent("notamodel"), withIntermediateDirectories: true)
        let info = try sane(["zoo", "info", copy.path, "--json"])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stderr.contains("skipped 1 entry: notamodel: no params.json"), info.stderr)
        XCTAssertTrue(info.stdout.contains(#""skipped_entries":[{"path":"notamodel","reason":"no params.json"}]"#), info.stdout)
    }
}
