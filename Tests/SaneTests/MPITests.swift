import XCTest
import Foundation
@testable import Sane

/// Multi-rank runs of the MPI build under `mpirun` (`make mpi-test` sets SANE_MPI_SANE to
/// .build/mpi/release/sane). Without it, or without `mpirun`, the tests skip with a message.
///
/// Tolerance: N ranks compute the same global-batch loss as one process, but GEMMs over fewer
/// rows and the allreduce sum in another order, so results agree to float rounding, which Adam
/// amplifies a little step by step. Every logged loss must agree within a relative 1e-5 (plus an
/// absolute 1e-7) over the tests' few dozen steps.
final class MPITests: XCTestCase {
    static let relativeTolerance = 1e-5, absoluteTolerance = 1e-7

    var sane: URL {
        get throws {
            guard let path = ProcessInfo.processInfo.environment["SANE_MPI_SANE"], !path.isEmpty else {
                throw XCTSkip("MPI tests skipped: SANE_MPI_SANE is not set (run `make mpi-test`, which builds the MPI sane)")
            }
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw XCTSkip("MPI tests skipped: no MPI build at \(path) (run `make mpi`)")
            }
            return URL(fileURLWithPath: path)
        }
    }

    var mpirun: URL {
        get throws {
            let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
            guard let dir = dirs.first(where: { FileManager.default.isExecutableFile(atPath: "\($0)/mpirun") }) else {
                throw XCTSkip("MPI tests skipped: mpirun not found (apt-get install openmpi-bin, or `make mpi`)")
            }
            return URL(fileURLWithPath: "\(dir)/mpirun")
        }
    }

    /// `mpirun -n ranks sane arguments…`; fails the test instead of waiting past `timeout` seconds.
    func mpi(_ ranks: Int, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 300)
        throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
        let p = Process()
        p.executableURL = try mpirun
        var args = ["-n", "\(ranks)", "--oversubscribe", "--bind-to", "none"]
        if getuid() == 0 { args.append("--allow-run-as-root") }
        for k in environment.keys.sorted() { args += ["-x", k] }
        p.arguments = args + [try sane.path] + arguments
        var env = ProcessInfo.processInfo.environment
        env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"   // containers without CMA
        env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        let start = Date()
        try p.run()
        let deadline = DispatchWorkItem { p.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: deadline)
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        deadline.cancel()
        let seconds = Date().timeIntervalSince(start)
        if seconds >= timeout { XCTFail("mpirun -n \(ranks) \(arguments.joined(separator: " ")) still running after \(timeout) s (hang)") }
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self), seconds)
    }

    func pretrain(_ ranks: Int, zoo: URL, out: URL, epochs: Int, extra: [String] = []) throws {
        let r = try mpi(ranks, ["pretrain", "--zoo", zoo.path, "--config", "tiny", "--epochs", "\(epochs)", "--out", out.path, "--json"] + extra)
        XCTAssertEqual(r.status, 0, "mpirun -n \(ranks) sane pretrain failed:\n\(r.stderr.suffix(2000))")
    }

    func log(_ run: URL) throws -> [EpochLog] { try RunFolder(path: run.path).loadLog() }

    func assertClose(_ a: [EpochLog], _ b: [EpochLog], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(what): epochs", file: file, line: line)
        var worst = 0.0
        for (x, y) in zip(a, b) {
            for (name, u, v) in [("trainLoss", x.trainLoss, y.trainLoss), ("trainReconstruction", x.trainReconstruction, y.trainReconstruction),
                                 ("trainContrastive", x.trainContrastive, y.trainContrastive), ("validationLoss", x.validationLoss, y.validationLoss),
                                 ("validationSequenceMSE", x.validationSequenceMSE, y.validationSequenceMSE)] {
                let err = abs(u - v), rel = err / max(abs(u), 1e-12)
                worst = max(worst, rel)
                XCTAssert(err <= Self.absoluteTolerance + Self.relativeTolerance * abs(u),
                          "\(what): epoch \(x.epoch) \(name) \(u) vs \(v) (abs error \(err), rel \(rel))", file: file, line: line)
            }
        }
        print("\(what): max relative difference \(worst) over \(a.count) epochs")
    }

    /// 2 and 3 ranks (3 splits the batch of 8 unevenly: 2+3+3) reproduce the single-process loss
    /// curve; run.json records the world size; only rank 0 wrote the run folder.
    func testRanksReproduceSingleProcessLossCurve() throws {
        _ = try sane; _ = try mpirun
        let dir = SyntheticZoo.temporaryDirectory("mpi-curve")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo, models: 12)
        try pretrain(1, zoo: zoo, out: dir.appendingPathComponent("one"), epochs: 4)
        try pretrain(2, zoo: zoo, out: dir.appendingPathComponent("two"), epochs: 4)
        try pretrain(3, zoo: zoo, out: dir.appendingPathComponent("three"), epochs: 4)
        let one = try log(dir.appendingPathComponent("one"))
        XCTAssertEqual(one.count, 4)
        assertClose(one, try log(dir.appendingPathComponent("two")), "2 ranks vs 1")
        assertClose(one, try log(dir.appendingPathComponent("three")), "3 ranks vs 1")
        XCTAssertEqual(try RunFolder(path: dir.appendingPathComponent("two").path).loadManifest().worldSize, 2)
        XCTAssertEqual(try RunFolder(path: dir.appendingPathComponent("one").path).loadManifest().worldSize, 1)
    }

    /// A run stopped after epoch 2 on 2 ranks and resumed on 3 ends where an uninterrupted
    /// single-process run ends.
    func testResumeWithAnotherNumberOfRanks() throws {
        _ = try sane; _ = try mpirun
        let dir = SyntheticZoo.temporaryDirectory("mpi-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo, models: 12)
        try pretrain(1, zoo: zoo, out: dir.appendingPathComponent("full"), epochs: 4)
        let split = dir.appendingPathComponent("split")
        try pretrain(2, zoo: zoo, out: split, epochs: 4, extra: ["--stop-after", "2"])
        XCTAssertEqual(try log(split).count, 2)
        try pretrain(3, zoo: zoo, out: split, epochs: 4)
        assertClose(try log(dir.appendingPathComponent("full")), try log(split), "2 ranks, resumed on 3, vs 1")
        XCTAssertEqual(try RunFolder(path: split.path).loadManifest().worldSize, 3)
    }

    /// One rank failing ends the job: nonzero exit, its message once, no hang (the other rank
    /// waits in its first collective and is killed by MPI_Abort).
    func testFailingRankEndsTheJob() throws {
        _ = try sane; _ = try mpirun
        let dir = SyntheticZoo.temporaryDirectory("mpi-fail")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo)
        let r = try mpi(2, ["pretrain", "--zoo", zoo.path, "--config", "tiny", "--epochs", "2", "--out", dir.appendingPathComponent("run").path],
                        environment: ["SANE_TEST_FAIL_RANK": "1"], timeout: 120)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.stderr.components(separatedBy: "injected failure on rank 1").count - 1, 1, "stderr:\n\(r.stderr)")
        XCTAssertLessThan(r.seconds, 120)
    }

    /// A rank killed outright (SIGKILL, no chance to call MPI_Abort) also ends the job.
    func testKilledRankEndsTheJob() throws {
        _ = try sane; _ = try mpirun
        let dir = SyntheticZoo.temporaryDirectory("mpi-kill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.write(to: zoo)
        let r = try mpi(2, ["pretrain", "--zoo", zoo.path, "--config", "tiny", "--epochs", "2", "--out", dir.appendingPathComponent("run").path],
                        environment: ["SANE_TEST_KILL_RANK": "1"], timeout: 120)
        XCTAssertNotEqual(r.status, 0, "stderr:\n\(r.stderr)")
        XCTAssertLessThan(r.seconds, 120)
    }

    /// A fresh folder `name` (the caller removes it) with a 7-model synthetic zoo and a run
    /// trained one epoch on it by one process: what the ranks-vs-one-process comparisons read.
    func trainedRun(_ name: String) throws -> (dir: URL, zoo: URL, run: URL) {
        _ = try sane; _ = try mpirun
        let dir = SyntheticZoo.temporaryDirectory(name)
        let zoo = dir.appendingPathComponent("zoo"), run = dir.appendingPathComponent("run")
        do {
            try SyntheticZoo.write(to: zoo, models: 7)
            try pretrain(1, zoo: zoo, out: run, epochs: 1)
        } catch {
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
        return (dir, zoo, run)
    }

    /// `embed` over 3 ranks writes the same bytes as one process.
    func testEmbedOverRanksIsIdentical() throws {
        let (dir, zoo, run) = try trainedRun("mpi-embed")
        defer { try? FileManager.default.removeItem(at: dir) }
        for n in [1, 3] {
            let r = try mpi(n, ["embed", "--model", run.path, "--zoo", zoo.path, "--split", "all", "--out", dir.appendingPathComponent("e\(n).safetensors").path])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let one = try Data(contentsOf: dir.appendingPathComponent("e1.safetensors")), three = try Data(contentsOf: dir.appendingPathComponent("e3.safetensors"))
        XCTAssertGreaterThan(one.count, 0)
        XCTAssertEqual(one, three, "embeddings over 3 ranks differ from one process's")
    }

    /// `probe` over 3 ranks (features of blocks of the models, gathered on rank 0) writes the
    /// same probe.json, and with --predict the same predictions.csv, as one process.
    func testProbeOverRanksIsIdentical() throws {
        let (dir, zoo, run) = try trainedRun("mpi-probe")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Checkpoint files to predict (--predict), computed over the ranks as well.
        let files = dir.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
        for m in 0..<3 {
            try FileManager.default.copyItem(at: zoo.appendingPathComponent(String(format: "synthetic_%03d/checkpoint_000002/checkpoints.safetensors", m)),
                                             to: files.appendingPathComponent("m\(m).safetensors"))
        }
        for n in [1, 3] {
            let r = try mpi(n, ["probe", "--model", run.path, "--zoo", zoo.path, "--predict", files.path, "--out", dir.appendingPathComponent("p\(n)").path])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        for file in ["probe.json", "predictions.csv"] {
            let one = try Data(contentsOf: dir.appendingPathComponent("p1/\(file)"))
            let three = try Data(contentsOf: dir.appendingPathComponent("p3/\(file)"))
            XCTAssertGreaterThan(one.count, 0)
            XCTAssertEqual(one, three, "\(file) over 3 ranks differs from one process's")
        }
    }

    /// `zoo train` over 2 ranks trains the same models, file for file, as one process.
    func testZooTrainOverRanksIsIdentical() throws {
        _ = try sane; _ = try mpirun
        let data = ZooModelTests.shared.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: data.appendingPathComponent("mnist").path) else {
            throw XCTSkip("MNIST not found under \(data.path); this test needs /work/shared/data/mnist")
        }
        let dir = SyntheticZoo.temporaryDirectory("mpi-zoo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("zoo.json")
        try #"{"dataset": "mnist", "data_dir": "\#(data.path)", "architecture": "CNN", "epochs": 1, "seeds": [3], "optimizer": ["adam", "adamw"], "dropout": [0, 0.25], "lr": 3e-3, "batch_size": 32, "train_size": 256, "test_size": 100, "train_eval_size": 100, "validation_size": 50, "prefix": "tiny"}"#
            .write(to: config, atomically: true, encoding: .utf8)
        for n in [1, 2] {
            let r = try mpi(n, ["zoo", "train", "--config", config.path, "--out", dir.appendingPathComponent("zoo\(n)").path, "--jobs", "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let fm = FileManager.default
        let files = try XCTUnwrap(fm.subpaths(atPath: dir.appendingPathComponent("zoo1").path)).sorted()
        XCTAssertEqual(files, fm.subpaths(atPath: dir.appendingPathComponent("zoo2").path)?.sorted())
        XCTAssertTrue(files.contains { $0.hasSuffix("done") })
        for f in files where !f.hasSuffix("/") {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir.appendingPathComponent("zoo1/" + f).path, isDirectory: &isDir), !isDir.boolValue else { continue }
            XCTAssertEqual(fm.contents(atPath: dir.appendingPathComponent("zoo1/" + f).path), fm.contents(atPath: dir.appendingPathComponent("zoo2/" + f).path), f)
        }
    }
}
