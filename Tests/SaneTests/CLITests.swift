import XCTest
import Foundation
import Sane

/// Runs the built `sane` executable as a user would.
final class CLITests: ScratchFolderTestCase {
    /// The `sane` binary next to the test bundle (SwiftPM builds all products into one folder).
    var sane: URL {
        get throws {
            let bundle = Bundle(for: CLITests.self).bundleURL
            let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("sane") }
            guard let url = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
                XCTFail("sane executable not found next to the tests (looked at \(candidates.map(\.path)))")
                throw XCTSkip("no sane executable")
            }
            return url
        }
    }

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = try sane
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// `sane demo --quick` runs the whole pipeline (zoo → SANE → probe → sample → finetune → report)
    /// on the embedded digits and leaves every result file with sane numbers.
    func testQuickDemoEndToEnd() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sane-demo-test-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try run(["demo", "--quick", "--out", dir.path])
        XCTAssertEqual(r.status, 0, "demo failed: \(r.stderr.suffix(2000))")
        for file in ["zoo.json", "run/run.json", "run/report.md", "run/loss_curves.svg", "run/probe/probe.json", "run/probe/probe_accuracy.svg",
                     "run/samples/samples.json", "run/samples/sample-00.safetensors", "run/finetune/finetune.json", "run/finetune/finetune_curves.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), "missing \(file)")
        }
        // The zoo's models learned something, and fine-tuning accuracies are probabilities.
        let finetune = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("run/finetune/finetune.json"))) as! [String: Any]
        let groups = finetune["groups"] as! [[String: Any]]
        XCTAssertEqual(groups.count, 3)
        for g in groups {
            for c in g["curves"] as! [[String: Any]] {
                for a in c["testAccuracy"] as! [Double] { XCTAssertTrue(a >= 0 && a <= 1, "accuracy \(a) in \(g["name"]!)") }
            }
        }
        let report = try String(contentsOf: dir.appendingPathComponent("run/report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains("probe.md") && report.contains("finetune.md"), "report lacks the probe/finetune sections")
        XCTAssertTrue(r.stdout.contains("What this shows"))
    }

    /// Errors a newcomer meets are one line with a hint, exit status 1, no crash.
    func testClearErrors() throws {
        let missingZoo = try run(["pretrain", "--zoo", "/nonexistent/zoo", "--out", "/tmp/never"])
        XCTAssertEqual(missingZoo.status, 1)
        XCTAssertTrue(missingZoo.stderr.contains("/nonexistent/zoo") && missingZoo.stderr.contains("hint"), missingZoo.stderr)
        let notARun = try run(["probe", "--model", "/nonexistent/run", "--zoo", "/nonexistent/zoo"])
        XCTAssertEqual(notARun.status, 1)
        XCTAssertFalse(notARun.stderr.isEmpty)
        let badFlag = try run(["pretrain", "--zoo", "z", "--out", "o", "--bogus"])
        XCTAssertNotEqual(badFlag.status, 0)
        XCTAssertTrue(badFlag.stderr.contains("--bogus"), badFlag.stderr)
        let missingData = try run(["zoo", "eval", FileManager.default.temporaryDirectory.path])
        XCTAssertEqual(missingData.status, 1)
        XCTAssertEqual(missingData.stderr.split(separator: "\n").filter { $0.hasPrefix("Error") }.count, 1, missingData.stderr)
    }

    /// Out-of-range numbers are usage errors (exit 64, one "Error:" line naming the option),
    /// checked before any work — several of them trapped (overflow, negative ranges) before.
    func testBadNumbersAreUsageErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sane-cli-numbers-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let badConfig = dir.appendingPathComponent("heads0.json")
        try Data(#"{"preset": "tiny", "heads": 0}"#.utf8).write(to: badConfig)
        let cases: [([String], String)] = [
            (["pretrain", "--zoo", "z", "--out", "o", "--max-epoch=-1"], "--max-epoch"),
            (["pretrain", "--zoo", "z", "--out", "o", "--epochs", "9223372036854775807"], "--epochs"),
            (["pretrain", "--zoo", "z", "--out", "o", "--epochs=-1"], "--epochs"),
            (["pretrain", "--zoo", "z", "--out", "o", "--epochs", "0"], "--epochs"),
            (["pretrain", "--zoo", "z", "--out", "o", "--config", badConfig.path], "heads"),
            (["zoo", "eval", "z", "--models=-1"], "--models"),
            (["zoo", "eval", "z", "--epochs", "0-9223372036854775807"], "--epochs"),
            (["embed", "--model", "m", "--zoo", "z", "--out", "o", "--epochs", "0-9223372036854775807"], "--epochs"),
            (["probe", "--zoo", "z", "--epochs", "5-2"], "--epochs"),
            (["probe", "--zoo", "z", "--run-epoch=-1"], "--run-epoch"),
            (["sample", "--model", "m", "--out", "o", "--bandwidth", "inf"], "--bandwidth"),
            (["sample", "--model", "m", "--out", "o", "--bandwidth", "nan"], "--bandwidth"),
            (["sample", "--model", "m", "--out", "o", "--bandwidth=-1"], "--bandwidth"),
            (["sample", "--model", "m", "--out", "o", "--rounds", "9223372036854775807"], "--rounds"),
            (["sample", "--model", "m", "--out", "o", "--sampler", "kde31"], "--sampler"),
            (["sample", "--model", "m", "--out", "o", "--sampler", "kde30", "--mode", "token"], "--mode"),
            (["sample", "--model", "m", "--out", "o", "--mode", "layers"], "--mode"),
            (["sample", "--model", "m", "--out", "o", "--sampler", "auto", "--prior-std", "10"], "--prior-std"),
            (["sample", "--model", "m", "--out", "o", "--batchnorm-iterations=-1"], "--batchnorm-iterations"),
            (["probe", "--zoo", "z", "--splits", "1001"], "--splits"),
            (["sample", "--model", "m", "--out", "o", "--halo=-1"], "--halo"),
            (["finetune", "--models", "m", "--epochs=-1"], "--epochs"),
            (["finetune", "--models", "m", "--lr", "nan"], "--lr"),
            (["zoo", "train", "--config", "c", "--out", "o", "--jobs", "0"], "--jobs"),
            (["bench", "sane-step", "--heads", "3"], "heads"),
            (["bench", "sane-step", "--config", "resnet-cpu", "--token-size", "0"], "--token-size"),
            (["bench", "embed", "--width", "0"], "--width"),
            (["bench", "align", "--width", "5000"], "--width"),
            (["bench", "align", "--repeats", "0"], "--repeats"),
            (["bench", "sane-step", "--resnet-width", "1024"], "--resnet-width"),
            (["zoo", "eval", "z", "--test-size", "0"], "--test-size"),
        ]
        for (arguments, option) in cases {
            let r = try run(arguments)
            XCTAssertEqual(r.status, 64, "\(arguments): status \(r.status), stderr \(r.stderr)")
            let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error") }
            XCTAssertEqual(errors.count, 1, "\(arguments): \(r.stderr)")
            XCTAssertTrue(errors.first?.contains(option) == true, "\(arguments): \(r.stderr)")
        }
    }

    /// `sane bench align` takes the shared bench options: --repeats (best of N per pair; every
    /// repeat must find the same permutation), --threads and --json.
    func testBenchAlignTakesTheSharedBenchOptions() throws {
        let r = try run(["bench", "align", "--architecture", "Resnet18", "--width", "2", "--repeats", "3", "--threads", "1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual(json["repeats"] as? Int, 3)
        XCTAssertEqual(json["threads"] as? Int, 1)
        let pairs = try XCTUnwrap(json["pairs"] as? [[String: Any]])
        XCTAssertEqual(pairs.count, 1)
        let (identity, aligned) = (try XCTUnwrap(pairs[0]["distance_identity"] as? Double), try XCTUnwrap(pairs[0]["distance_aligned"] as? Double))
        XCTAssertLessThanOrEqual(aligned, identity)
        let text = try run(["bench", "align", "--architecture", "Resnet18", "--width", "2", "--repeats", "2"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("best of 2"), text.stdout)
    }

    func testHelpAndVersion() throws {
        let help = try run(["--help"])
        XCTAssertEqual(help.status, 0)
        for command in ["zoo", "pretrain", "probe", "sample", "finetune", "demo", "bench", "report"] {
            XCTAssertTrue(help.stdout.contains(command), "--help does not list \(command)")
        }
        XCTAssertEqual(try run(["--version"]).status, 0)
    }

    /// `sane analyze` without --model: the layer spectra of a ResNet zoo (torchvision keys, PyTorch
    /// checkpoints): every conv and the fc layer, eigenvalues descending, λ_max their largest, and
    /// the eigenvalues summing to ‖W‖_F² (trace of WᵀW) of the checkpoint's own weights.
    func testAnalyzeSpectraOfResNetZoo() throws {
        let zoo = try XCTUnwrap(Bundle.module.url(forResource: "Golden/resnet-zoo", withExtension: nil))
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sane-spectra-test-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: out)
        defer { try? FileManager.default.removeItem(at: out) }
        let r = try run(["analyze", "--zoo", zoo.path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("layer4.1.conv2.weight"), r.stdout)
        let checkpoints = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("spectra.json"))) as? [[String: Any]])
        XCTAssertEqual(checkpoints.count, 2, "two models, one checkpoint each")
        for checkpoint in checkpoints {
            let layers = try XCTUnwrap(checkpoint["layers"] as? [[String: Any]])
            // conv1 + 8 blocks × 2 convs + 3 downsample convs + fc; no BatchNorm vectors.
            XCTAssertEqual(layers.count, 21)
            XCTAssertEqual(layers.last?["weightKey"] as? String, checkpoint["model"] as? String == "resnet18_w8_prefixed" ? "model.fc.weight" : "fc.weight")
            for layer in layers {
                let eigenvalues = try XCTUnwrap(layer["eigenvalues"] as? [Double])
                let (rows, rowLength) = (layer["rows"] as! Int, layer["rowLength"] as! Int)
                XCTAssertEqual(eigenvalues.count, min(rows, rowLength))
                XCTAssertEqual(eigenvalues, eigenvalues.sorted(by: >))
                XCTAssertEqual(layer["lambdaMax"] as? Double, eigenvalues.first)
                XCTAssertGreaterThan(eigenvalues[0], 0)
            }
        }
        // Independent check of one layer: Σλ = ‖W‖_F² with W read by SaneData from the checkpoint.
        let plain = try Zoo(directory: zoo).models.first { $0.name == "resnet18_w2_plain" }!
        let weight = try plain.loadCheckpoint(epoch: 0)["layer2.0.conv1.weight"]!.scalars
        let layer = (checkpoints.first { $0["model"] as? String == "resnet18_w2_plain" }!["layers"] as! [[String: Any]])
            .first { $0["weightKey"] as? String == "layer2.0.conv1.weight" }!
        let sum = (layer["eigenvalues"] as! [Double]).reduce(0, +)
        let frobenius = weight.reduce(0.0) { $0 + Double($1) * Double($1) }
        XCTAssertEqual(sum, frobenius, accuracy: 1e-10 * frobenius)

        let missing = try run(["analyze", "--zoo", "/nonexistent/zoo", "--out", out.path + "-x"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("does not exist"), missing.stderr)
        let halo = try run(["analyze", "--zoo", zoo.path, "--halo", "4", "--out", out.path + "-y"])
        XCTAssertNotEqual(halo.status, 0)
        XCTAssertTrue(halo.stderr.contains("need --model"), halo.stderr)
        // --windows (Fig. 6 window interference) measures a run; window sizes are token counts or 'full'.
        let windowsAlone = try run(["analyze", "--zoo", zoo.path, "--windows", "32,full"])
        XCTAssertEqual(windowsAlone.status, 64)
        XCTAssertTrue(windowsAlone.stderr.contains("needs --model"), windowsAlone.stderr)
        for bad in ["0", "32,,64", "big"] {
            let r = try run(["analyze", "--model", "/nonexistent/run", "--zoo", zoo.path, "--windows", bad])
            XCTAssertEqual(r.status, 64, bad)
            XCTAssertTrue(r.stderr.contains("--windows takes token counts"), r.stderr)
        }
        XCTAssertEqual(try run(["analyze", "--model", "/nonexistent/run", "--zoo", zoo.path, "--models", "2"]).status, 64)
    }

    /// `sane zoo eval` on a Sane-trained zoo with test_size: says which test set it used, prints
    /// recorded and computed accuracy and loss (equal: diff +0.000) in columns aligned past a
    /// long model name, and the same as JSON with --json; --test-size overrides the recorded size.
    func testZooEvalPrintsTestSetLossAndAlignedColumns() throws {
        let data = ZooModelTests.shared.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: data.appendingPathComponent("mnist").path) else {
            throw XCTSkip("MNIST not found under \(data.path); this test needs /work/shared/data/mnist")
        }
        let zoo = scratch.appendingPathComponent("zoo")
        let config = try ZooTrainingConfiguration(json: JSONValue.parse("""
            {"dataset": "mnist", "data_dir": "\(data.path)", "architecture": "CNN", "epochs": 1, "seeds": [1, 2], "lr": 3e-3,
             "batch_size": 32, "train_size": 256, "test_size": 200, "train_eval_size": 100, "prefix": "a_rather_long_model_name_prefix_for_alignment"}
            """))
        XCTAssertEqual(try ZooTrainer.train(config, output: zoo, jobs: 1), 2)
        let r = try run(["zoo", "eval", zoo.path, "--data", data.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "test set: 200 of the 10000 mnist test images (the first 200 of the seed-1 permutation, as zoo training's test_size; dataset::test_size in params.json)")
        let table = Array(lines.dropFirst())
        XCTAssertEqual(table.count, 5, r.stdout)                                  // header + 2 models × epochs 0, 1
        XCTAssertTrue(table[0].hasPrefix("model") && table[0].contains("recorded loss") && table[0].contains("computed loss"), table[0])
        XCTAssertEqual(Set(table.map(\.count)).count, 1, "columns not aligned:\n\(r.stdout)")
        for row in table.dropFirst() {
            let cells = row.split(separator: " ").map(String.init)
            XCTAssertEqual(cells.count, 9, row)
            XCTAssertEqual(cells[2], "200", row)
            XCTAssertEqual(cells[3], cells[4], "recorded vs computed accuracy: \(row)")
            XCTAssertEqual(cells[5], "+0.000", row)
            XCTAssertEqual(cells[6], cells[7], "recorded vs computed loss: \(row)")
            XCTAssertEqual(cells[8], "+0.0000", row)
        }
        XCTAssertTrue(r.stderr.contains("largest |recorded − computed| test accuracy 0.000"), r.stderr)

        let j = try run(["zoo", "eval", zoo.path, "--data", data.path, "--epochs", "1", "--json"])
        XCTAssertEqual(j.status, 0, j.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        let checkpoints = try XCTUnwrap(object["checkpoints"] as? [[String: Any]])
        XCTAssertEqual(checkpoints.count, 2)
        for c in checkpoints {
            XCTAssertEqual(c["test_acc"] as? Double, c["recorded_test_acc"] as? Double)
            XCTAssertEqual(c["test_loss"] as? Double, c["recorded_test_loss"] as? Double)
            XCTAssertEqual(c["test_images"] as? Int, 200)
        }
        XCTAssertEqual((object["test_sets"] as? [[String: Any]])?.first?["models"] as? [String], checkpoints.map { $0["model"] as! String })

        let whole = try run(["zoo", "eval", zoo.path, "--data", data.path, "--epochs", "1", "--models", "1", "--test-size", "100000"])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        XCTAssertTrue(whole.stdout.hasPrefix("test set: all 10000 mnist test images (--test-size)"), whole.stdout)
        XCTAssertEqual(try run(["zoo", "eval", zoo.path, "--test-size", "0"]).status, 64)
    }

    /// `sane analyze --windows` writes its report into RUN/windows-<zoo> by default (a sub-folder
    /// of the run like RUN/analysis-<zoo> and RUN/probe-<zoo>), prints the files it wrote or the
    /// JSON, and `sane report RUN` includes its section.
    func testWindowInterferenceDefaultFolderAndReport() throws {
        let fixture = try CheckpointSourceTests.fixture.get()
        let runFolder = scratch.appendingPathComponent("run")
        try FileManager.default.copyItem(at: fixture.zoo.deletingLastPathComponent().appendingPathComponent("run"), to: runFolder)
        let r = try run(["analyze", "--model", runFolder.path, "--zoo", fixture.zoo.path, "--epochs", "3", "--windows", "8,full"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let folder = runFolder.appendingPathComponent("windows-zoo")
        XCTAssertTrue(r.stdout.hasSuffix("wrote window_interference.json, window_interference.md, window_interference.svg to \(folder.path)\n"), r.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { !$0.hasPrefix(".") }.sorted(),
                       ["window_interference.json", "window_interference.md", "window_interference.svg"])
        let j = try run(["analyze", "--model", runFolder.path, "--zoo", fixture.zoo.path, "--epochs", "3", "--windows", "8,full", "--json",
                         "--out", scratch.appendingPathComponent("w2").path])
        XCTAssertEqual(j.status, 0, j.stderr)
        XCTAssertEqual(Data(j.stdout.utf8).dropLast(), try Data(contentsOf: scratch.appendingPathComponent("w2/window_interference.json")))
        XCTAssertEqual(try run(["report", runFolder.path]).status, 0)
        let report = try String(contentsOf: runFolder.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(report.contains("## windows-zoo/window_interference.md") && report.contains("## Control: untrained SANE"), report)
    }

    /// `sane probe` without a SANE run probes the baselines and says why there is no SANE control
    /// table, instead of printing an empty one.
    func testProbeWithoutRunExplainsMissingControls() throws {
        let zoo = try ProbeTests.sharedZoos().appendingPathComponent("mnist-cnn-seed")
        let r = try run(["probe", "--zoo", zoo.path, "--epochs", "0-2", "--out", scratch.path + "/p"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(r.stdout.contains("controls ("), r.stdout)
        let markdown = try String(contentsOf: scratch.appendingPathComponent("p/probe.md"), encoding: .utf8)
        XCTAssertTrue(markdown.contains("No SANE run was given"), markdown)
        XCTAssertFalse(markdown.contains("| target | pooling | trained val"), "empty control table:\n\(markdown)")
        XCTAssertTrue(markdown.contains("| test_acc | s(W)"), markdown)
    }

    /// `--splits 1` (and no --splits) writes the bytes the one-split probe wrote before repeated
    /// splits existed (Golden/probe-k1: `sane probe` of main 367165a, Scripts/golden/make_probe_k1_golden.sh).
    func testProbeOneSplitIsUnchanged() throws {
        let zoo = try ProbeTests.sharedZoos().appendingPathComponent("mnist-cnn-seed")
        let golden = try XCTUnwrap(Bundle.module.url(forResource: "Golden/probe-k1", withExtension: nil))
        /// A folder's files as text with its probe.json's "zoo" path (where the zoo lies on the
        /// machine that wrote it, the one machine-specific value) replaced by "<zoo>".
        func files(in folder: URL) throws -> [String] {
            let json = try Data(contentsOf: folder.appendingPathComponent("probe.json"))
            let zooPath = try XCTUnwrap((try JSONSerialization.jsonObject(with: json) as? [String: Any])?["zoo"] as? String)
            return try ["probe.json", "probe.md"].map {
                try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8).replacingOccurrences(of: zooPath, with: "<zoo>")
            }
        }
        let expected = try files(in: golden)
        for (name, extra) in [("default", [String]()), ("k1", ["--splits", "1"])] {
            let r = try run(["probe", "--zoo", zoo.path, "--epochs", "0-2", "--out", scratch.path + "/" + name] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try files(in: scratch.appendingPathComponent(name)), expected, "\(name): probe.json/probe.md differ from the one-split probe")
        }
    }

    /// `sane probe --splits 3` with a tiny SANE run: the aggregates head probe.md, split 0's tables
    /// follow, probe.json keeps the three splits, the same seed writes the same bytes; impossible
    /// split counts are refused with one line.
    func testProbeRepeatedSplits() throws {
        let zooURL = scratch.appendingPathComponent("zoo")
        try SyntheticZoo.linkSeedModels(8, into: zooURL)
        let runURL = scratch.appendingPathComponent("run")
        _ = try SyntheticZoo.trainTinyRun(on: ZooSelection(path: zooURL.path, epochs: [0, 1, 2]), permutations: 1, at: runURL.path)
        let args = ["probe", "--model", runURL.path, "--zoo", zooURL.path, "--epochs", "0-2", "--splits", "3", "--split-seed", "4"]
        let r = try run(args + ["--out", scratch.path + "/a"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("over 3 model splits") && r.stdout.contains("SANE auto − s(W)") && r.stdout.contains("wrote probe.json"), r.stdout)
        let markdown = try String(contentsOf: scratch.appendingPathComponent("a/probe.md"), encoding: .utf8)
        XCTAssertTrue(markdown.hasPrefix("# Test R² of linear probes on zoo, epochs 0-2, over 3 model splits\n"), markdown)
        for part in ["| test_acc | SANE auto (", "## SANE auto − s(W) (test R², per split)", "## Controls over the splits (mean R²)", " of 3 (0.05) |",
                     "## Split 0 (the run's split)", "### Controls: trained SANE", "### Every probe"] {
            XCTAssertTrue(markdown.contains(part), "probe.md lacks '\(part)':\n\(markdown)")
        }
        let json = try Data(contentsOf: scratch.appendingPathComponent("a/probe.json"))
        let report = try SaneJSON.decoder().decode(PropertyProbeReport.self, from: json)
        XCTAssertEqual(report.repeatedSplits?.splits.count, 3)
        XCTAssertEqual(report.repeatedSplits?.splitSeed, 4)
        XCTAssertEqual(try run(args + ["--out", scratch.path + "/b"]).status, 0)
        XCTAssertEqual(try Data(contentsOf: scratch.appendingPathComponent("b/probe.json")), json, "same seed, same bytes")
        XCTAssertEqual(try String(contentsOf: scratch.appendingPathComponent("b/probe.md"), encoding: .utf8), markdown)

        let small = scratch.appendingPathComponent("small")
        try SyntheticZoo.linkSeedModels(6, into: small)
        for (arguments, phrase) in [(["--zoo", zooURL.path, "--splits", "0"], "--splits must be 1 or more"),
                                    (["--zoo", zooURL.path, "--split-seed", "3"], "--split-seed draws splits"),
                                    (["--zoo", small.path, "--splits", "2"], "empty validation or test set")] {
            let e = try run(["probe"] + arguments + ["--out", scratch.path + "/never"])
            XCTAssertNotEqual(e.status, 0, "\(arguments)")
            XCTAssertTrue(e.stderr.contains(phrase), "\(arguments): \(e.stderr)")
            XCTAssertEqual(e.stderr.split(separator: "\n").filter { $0.contains("rror") }.count, 1, "one error line: \(e.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.path + "/never"))
    }

    /// A command that fails before it writes leaves no folder it created (a folder holding only a
    /// lock file confused reruns); a folder that existed stays, without a lock file in it.
    func testFailedCommandsLeaveNoOutputFolder() throws {
        let dir: URL = scratch
        let fm = FileManager.default
        let pretrain = try run(["pretrain", "--zoo", "/nonexistent/zoo", "--config", "tiny", "--out", dir.path + "/new/run"])
        XCTAssertEqual(pretrain.status, 1, pretrain.stderr)
        let existing = dir.appendingPathComponent("existing")
        try fm.createDirectory(at: existing, withIntermediateDirectories: true)
        let again = try run(["pretrain", "--zoo", "/nonexistent/zoo", "--config", "tiny", "--out", existing.path])
        XCTAssertEqual(again.status, 1, again.stderr)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: existing.path), [], "a failed run left files in a folder it did not create")
        let embed = try run(["embed", "--model", "/nonexistent/run", "--zoo", "/nonexistent/zoo", "--out", dir.path + "/embeddings/e.safetensors"])
        XCTAssertEqual(embed.status, 1, embed.stderr)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir.path), ["existing"], "a failed command left a folder it created")
    }

    /// `sane report` and `sane embed` lock what they write, as the other commands: the run folder
    /// (not while `sane pretrain` writes it) and the embeddings file (not while another process
    /// writes the same file); the lock file of an output file goes when the command ends.
    func testReportAndEmbedLockTheirOutput() throws {
        let fixture = try CheckpointSourceTests.fixture.get()
        let dir: URL = scratch
        let runFolder = dir.appendingPathComponent("run")
        try FileManager.default.copyItem(at: fixture.zoo.deletingLastPathComponent().appendingPathComponent("run"), to: runFolder)

        let trainer = try FolderLock(folder: runFolder, purpose: "sane pretrain")
        let busy = try run(["report", runFolder.path])
        XCTAssertEqual(busy.status, 1)
        XCTAssertTrue(busy.stderr.contains("in use") && busy.stderr.contains("PID \(getpid()): sane pretrain"), busy.stderr)
        trainer.release()
        let report = try run(["report", runFolder.path])
        XCTAssertEqual(report.status, 0, report.stderr)

        let out = dir.appendingPathComponent("embeddings/e.safetensors")
        let arguments = ["embed", "--model", runFolder.path, "--zoo", fixture.zoo.path, "--epochs", "3", "--out", out.path]
        let writer = try FolderLock(folder: out.deletingLastPathComponent(), purpose: "sane embed", name: ".e.safetensors.lock")
        let taken = try run(arguments)
        XCTAssertEqual(taken.status, 1)
        XCTAssertTrue(taken.stderr.contains("in use") && taken.stderr.contains("PID \(getpid())"), taken.stderr)
        writer.release()
        let embed = try run(arguments)
        XCTAssertEqual(embed.status, 0, embed.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.deletingLastPathComponent().path), ["e.safetensors"])
        let intoZoo = try run(["embed", "--model", runFolder.path, "--zoo", fixture.zoo.path, "--out", fixture.zoo.path + "/e.safetensors"])
        XCTAssertEqual(intoZoo.status, 1)
        XCTAssertTrue(intoZoo.stderr.contains("lies inside the input zoo"), intoZoo.stderr)
    }

    /// `sane report` on a run stopped before its first epoch writes a report saying so; on one
    /// stopped while it was prepared, or whose run.json selects no epochs (a crash before), it
    /// fails with one line naming the problem.
    func testReportOnUnfinishedRuns() throws {
        let fixture = try CheckpointSourceTests.fixture.get()
        let dir: URL = scratch
        let runFolder = dir.appendingPathComponent("run")
        try FileManager.default.copyItem(at: fixture.zoo.deletingLastPathComponent().appendingPathComponent("run"), to: runFolder)
        for name in ["latest.json", "checkpoints", "train_log.jsonl", "report.md", "loss_curves.svg", "reconstruction_r2.svg", "final_test.json"] {
            try? FileManager.default.removeItem(at: runFolder.appendingPathComponent(name))
        }
        let early = try run(["report", runFolder.path])
        XCTAssertEqual(early.status, 0, early.stderr)
        XCTAssertTrue(try String(contentsOf: runFolder.appendingPathComponent("report.md"), encoding: .utf8).contains("No epoch finished yet"))

        let manifestURL = runFolder.appendingPathComponent("run.json")
        var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        var zoos = try XCTUnwrap(manifest["zoos"] as? [[String: Any]])
        zoos[0]["epochs"] = [Int]()
        manifest["zoos"] = zoos
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        let noEpochs = try run(["report", runFolder.path])
        XCTAssertEqual(noEpochs.status, 1, noEpochs.stderr)
        XCTAssertTrue(noEpochs.stderr.contains("run.json") && noEpochs.stderr.contains("selects no epochs"), noEpochs.stderr)

        try FileManager.default.removeItem(at: manifestURL)
        let unprepared = try run(["report", runFolder.path])
        XCTAssertEqual(unprepared.status, 1)
        XCTAssertTrue(unprepared.stderr.contains("no run.json") && unprepared.stderr.contains("run the same `sane pretrain` again"), unprepared.stderr)
    }
}
