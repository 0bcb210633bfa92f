import Foundation
import XCTest
@testable import Sane

/// Any checkpoint in (issue 14, item 5): a zoo, a folder of checkpoint files or one file works
/// wherever a zoo did (embed, probe --predict, sample prompts), with the architecture told from
/// keys and shapes; keys the tokenizer does not understand are a one-line error naming the file
/// and the keys, never 0 tokens.
final class CheckpointSourceTests: ScratchFolderTestCase {
    /// 8 models of the shared mnist-cnn-seed zoo, linked into a temporary zoo, and a `tiny` SANE
    /// trained one epoch on their epochs 0–3.
    /// Built once on first use, then only read (`nonisolated(unsafe)`: the model is not `Sendable`;
    /// XCTest runs these tests one at a time).
    nonisolated(unsafe) static let fixture: Result<(zoo: URL, encoder: SANEEncoder), Error> = Result(catching: {
        let dir = SyntheticZoo.temporaryDirectory("checkpoint-source")
        let zoo = dir.appendingPathComponent("zoo")
        try SyntheticZoo.linkSeedModels(8, into: zoo)
        let run = try SyntheticZoo.trainTinyRun(on: ZooSelection(path: zoo.path, epochs: [0, 1, 2, 3]), permutations: 1,
                                                at: dir.appendingPathComponent("run").path)
        return (zoo, try SANEEncoder(run: run))
    })

    /// The checkpoint file of `model` (by position in name order) of the fixture zoo at `epoch`.
    func zooFile(_ zoo: URL, model: Int, epoch: Int) throws -> (name: String, file: URL) {
        let m = try Zoo(directory: zoo).models[model]
        return (m.name, try XCTUnwrap(m.checkpoints[epoch]))
    }

    /// A folder holding two zoo checkpoints: model 1's epoch 3 as a PyTorch zip `b.pt` and model
    /// 0's epoch 3 re-written as `a.safetensors` (so file order is model 0, then model 1).
    func checkpointFolder(_ zoo: URL) throws -> (folder: URL, models: [String]) {
        let folder = scratch.appendingPathComponent("files")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let first = try zooFile(zoo, model: 0, epoch: 3), second = try zooFile(zoo, model: 1, epoch: 3)
        try Safetensors.write(try StateDict(contentsOf: first.file), to: folder.appendingPathComponent("a.safetensors"))
        try FileManager.default.copyItem(at: second.file, to: folder.appendingPathComponent("b.pt"))
        try Data("not a checkpoint".utf8).write(to: folder.appendingPathComponent("notes.txt"))
        return (folder, [first.name, second.name])
    }

    /// A safetensors file with Keras/TensorFlow names and HWIO kernels.
    func kerasFile() throws -> URL {
        let url = scratch.appendingPathComponent("keras.safetensors")
        let sd = StateDict([("conv2d/kernel", Tensor(zeros: [5, 5, 1, 8])), ("conv2d/bias", Tensor(zeros: [8])),
                            ("batch_normalization/gamma", Tensor(zeros: [8])), ("batch_normalization/beta", Tensor(zeros: [8])),
                            ("batch_normalization/moving_mean", Tensor(zeros: [8])), ("batch_normalization/moving_variance", Tensor(zeros: [8])),
                            ("dense/kernel", Tensor(zeros: [36, 10])), ("dense/bias", Tensor(zeros: [10]))])
        try Safetensors.write(sd, to: url)
        return url
    }

    // MARK: Sources

    func testPathKinds() throws {
        let (zoo, _) = try Self.fixture.get()
        XCTAssertEqual(try CheckpointSource(path: zoo.path).kind, .zoo)
        XCTAssertEqual(try CheckpointSource(path: zoo.path).zoo?.models.count, 8)
        let (folder, _) = try checkpointFolder(zoo)
        let files = try CheckpointSource(path: folder.path)
        XCTAssertEqual(files.kind, .folder)
        XCTAssertEqual(files.files.map(\.lastPathComponent), ["a.safetensors", "b.pt"], "checkpoint files only, by name")
        XCTAssertNil(files.params)
        let file = try CheckpointSource(path: try zooFile(zoo, model: 0, epoch: 0).file.path)
        XCTAssertEqual(file.kind, .file, "a zoo's extension-less `checkpoints` file is one checkpoint file")
        XCTAssertEqual(try file.models().map(\.split), [nil])

        // params.json beside the files configures them.
        try Data(#"{"model::type": "CNN", "model::nlin": "relu", "dataset::name": "fashion-mnist"}"#.utf8)
            .write(to: folder.appendingPathComponent("params.json"))
        XCTAssertEqual(try CheckpointSource(path: folder.path).params?.nonlinearity, "relu")
        XCTAssertEqual(try CheckpointSource(path: folder.appendingPathComponent("b.pt").path).params?.datasetName, "fashion-mnist")

        for (path, expected) in [("/nonexistent/x.pt", "does not exist"), (scratch.appendingPathComponent("empty").path, "neither a zoo nor")] {
            if path.hasSuffix("empty") { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
            XCTAssertThrowsError(try CheckpointSource(path: path)) { error in
                XCTAssertTrue("\(error)".contains(expected) && "\(error)".contains(path), "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
        XCTAssertThrowsError(try CheckpointSource(path: try Zoo(directory: zoo).models[0].directory.path)) { error in
            XCTAssertTrue("\(error)".contains("one model folder of a zoo"), "\(error)")
        }
        // Files have no splits or epochs to select.
        XCTAssertThrowsError(try files.models(splits: [.test])) { XCTAssertTrue("\($0)".contains("no model-level split"), "\($0)") }
        XCTAssertThrowsError(try files.models(epochs: [3])) { XCTAssertTrue("\($0)".contains("no epochs"), "\($0)") }
    }

    // MARK: Embedding

    /// A checkpoint file embeds to one row, the same latent as that checkpoint read from its zoo
    /// (selected alone, so alignment is computed on it in both cases); a folder embeds each file.
    func testFileAndFolderEmbedLikeTheirZooCheckpoints() throws {
        let (zoo, encoder) = try Self.fixture.get()
        let fromZoo = try ModelEmbeddings(encoder: encoder, source: CheckpointSource(path: zoo.path), epochs: [3], pooling: .layers)
        func zooRow(_ model: String) throws -> [Float] {
            let i = try XCTUnwrap(fromZoo.labels.firstIndex { $0.model == model })
            let d = fromZoo.embeddings.shape[1]
            return Array(fromZoo.embeddings.scalars[(i * d)..<((i + 1) * d)])
        }

        let (name, file) = try zooFile(zoo, model: 0, epoch: 3)
        let one = try ModelEmbeddings(encoder: encoder, source: CheckpointSource(path: file.path), pooling: .layers)
        XCTAssertEqual(one.embeddings.shape, [1, 5 * encoder.model.config.latentDimensions])
        XCTAssertEqual(one.embeddings.scalars, try zooRow(name), "a file embeds exactly as the same checkpoint of its zoo")
        XCTAssertEqual(one.labels[0].split, "none")
        XCTAssertNil(one.labels[0].epoch)
        XCTAssertTrue(one.labels[0].testAccuracy.isNaN)

        let (folder, models) = try checkpointFolder(zoo)
        let many = try ModelEmbeddings(encoder: encoder, source: CheckpointSource(path: folder.path), pooling: .layers)
        XCTAssertEqual(many.labels.map(\.model), ["a.safetensors", "b.pt"])
        let d = many.embeddings.shape[1]
        for (row, model) in models.enumerated() {
            XCTAssertEqual(Array(many.embeddings.scalars[(row * d)..<((row + 1) * d)]), try zooRow(model), "file \(row)")
        }

        let out = scratch.appendingPathComponent("e.safetensors")
        try many.write(to: out)
        let saved = try Safetensors.read(out)
        XCTAssertTrue(saved["epoch"]!.scalars.allSatisfy(\.isNaN), "files have no epoch")
        XCTAssertEqual(saved.metadata["splits"], #"["none","none"]"#)
    }

    /// A folder whose second file is of another architecture: the error names that file.
    func testFileThatDoesNotFitTheRunIsNamed() throws {
        let (zoo, encoder) = try Self.fixture.get()
        let (folder, _) = try checkpointFolder(zoo)
        let mlp = folder.appendingPathComponent("c.safetensors")
        try Safetensors.write(StateDict([("l0.weight", Tensor(zeros: [5, 3])), ("l1.weight", Tensor(zeros: [2, 5]))]), to: mlp)
        XCTAssertThrowsError(try ModelEmbeddings(encoder: encoder, source: CheckpointSource(path: folder.path))) { error in
            XCTAssertTrue("\(error)".contains(mlp.path) && "\(error)".contains("does not fit this run"), "\(error)")
            XCTAssertTrue("\(error)".contains("7 tokens in 2 layers"), "\(error)")
        }
    }

    // MARK: Probe

    /// A probe fitted on the zoo predicts checkpoint files: each file's prediction is the one the
    /// same probe makes for that checkpoint read from its zoo; a folder as the fit zoo is refused.
    func testProbePredictsCheckpointFiles() throws {
        let (zoo, encoder) = try Self.fixture.get()
        let control = encoder.untrainedControl()
        let fit = try ProbeDataset(source: CheckpointSource(path: zoo.path), encoder: encoder, control: control,
                                   epochs: [0, 1, 2, 3], poolings: [.mean, .layers])
        XCTAssertNotNil(fit.layout)
        let (folder, models) = try checkpointFolder(zoo)
        let files = try ProbeDataset(source: CheckpointSource(path: folder.path), encoder: encoder, control: control,
                                     poolings: [.mean, .layers], requireTargets: false, layout: fit.layout)
        let sameFromZoo = try ProbeDataset(source: CheckpointSource(path: zoo.path), encoder: encoder, control: control, epochs: [3],
                                           poolings: [.mean, .layers], requireTargets: false, layout: fit.layout)
        let report = try PropertyProbe.run(fit, zoo: zoo.path, epochs: [0, 1, 2, 3], predicting: files, named: folder.path)
        let reference = try PropertyProbe.run(fit, zoo: zoo.path, epochs: [0, 1, 2, 3], predicting: sameFromZoo, named: zoo.path)
        XCTAssertEqual(report.testR2Summary, reference.testR2Summary, "the fit does not depend on what is predicted")

        let predictions = try XCTUnwrap(report.predictions)
        XCTAssertEqual(predictions.map(\.model), ["a.safetensors", "b.pt"])
        for (p, model) in zip(predictions, models) {
            let same = try XCTUnwrap(reference.predictions?.first { $0.model == model && $0.epoch == 3 })
            XCTAssertEqual(Set(p.predicted.keys), ["test_acc", "epoch", "ggap"])
            for (target, byMethod) in p.predicted {
                XCTAssertEqual(Set(byMethod.keys), Set(report.methods.map(\.description)))
                for (method, value) in byMethod {
                    let expected = try XCTUnwrap(same.predicted[target]?[method])
                    XCTAssertEqual(value, expected, accuracy: 1e-9 * max(1, abs(expected)), "\(p.model) \(target) \(method)")
                }
            }
            XCTAssertTrue(p.truth["test_acc"]!.isNaN && p.truth["epoch"]!.isNaN, "files have no recorded targets")
        }

        let written = try XCTUnwrap(ProbePredictions(report))
        XCTAssertEqual(written.chosen.map(\.target), ProbeTarget.allCases)
        XCTAssertFalse(written.chosen.contains { $0.method.hasPrefix("untrained") }, "the control is never the chosen method")
        let lines = written.csv.split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[0].hasPrefix("checkpoint,epoch,predicted test_acc,predicted epoch,predicted ggap,test_acc by W,"), String(lines[0]))
        XCTAssertTrue(lines[1].hasPrefix("a.safetensors,,"), String(lines[1]))

        // Fitting on bare checkpoints is refused: they have no targets.
        XCTAssertThrowsError(try ProbeDataset(source: CheckpointSource(path: folder.path), encoder: encoder)) { error in
            XCTAssertTrue("\(error)".contains("needs a zoo") && "\(error)".contains("--predict"), "\(error)")
        }
    }

    // MARK: Keys the tokenizer does not understand

    func testKerasNamesAreAnErrorNamingFileAndKeys() throws {
        let (_, encoder) = try Self.fixture.get()
        let file = try kerasFile()
        let source = try CheckpointSource(path: file.path)
        XCTAssertThrowsError(try ModelEmbeddings(encoder: encoder, source: source)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains(file.path), text)
            XCTAssertTrue(text.contains("conv2d/kernel [5, 5, 1, 8]") && text.contains("8 of 8 keys"), text)
            XCTAssertTrue(text.contains("Keras") && text.contains("transpose(3, 2, 0, 1)"), text)
            XCTAssertFalse(text.contains("\n"), "one line")
        }
        XCTAssertThrowsError(try ProbeDataset(source: source, requireTargets: false)) { XCTAssertTrue("\($0)".contains(file.path), "\($0)") }
        XCTAssertThrowsError(try Tokenizer().layout(for: StateDict(contentsOf: file)), "the tokenizer itself never returns 0 tokens")
    }

    /// Every key set that would lose entries or give 0 tokens is refused; PyTorch names with
    /// BatchNorm statistics and num_batches_tracked are understood.
    func testTokenizerRefusesWhatItWouldDrop() throws {
        func sd(_ keys: [(String, [Int])]) -> StateDict { StateDict(keys.map { ($0.0, Tensor(zeros: $0.1)) }) }
        let understood = sd([("conv.weight", [4, 1, 3, 3]), ("conv.bias", [4]), ("bn.weight", [4]), ("bn.bias", [4]),
                             ("bn.running_mean", [4]), ("bn.running_var", [4]), ("bn.num_batches_tracked", [])])
        XCTAssertEqual(Tokenizer.unrecognizedKeys(in: understood), [])
        XCTAssertEqual(try Tokenizer(TokenizerConfig(tokenSize: 8)).layout(for: understood).layers.count, 2)
        let cases: [(StateDict, String)] = [
            (sd([("fc.weight", [2, 3]), ("cls_token", [1, 3])]), "cls_token [1, 3]"),
            (sd([("fc.weight", [2, 3]), ("orphan.bias", [2])]), "orphan.bias [2]"),
            (sd([("bn.running_mean", [4]), ("bn.running_var", [4])]), "0 tokens"),
            (StateDict(), "0 tokens"),
        ]
        for (stateDict, expected) in cases {
            XCTAssertThrowsError(try Tokenizer().layout(for: stateDict)) { XCTAssertTrue("\($0)".contains(expected), "\($0)") }
        }
    }

    // MARK: Architecture from keys and shapes

    func testRegistryTellsArchitectureFromKeysAndShapes() throws {
        var resnet = ZooNetworkConfiguration(architecture: .resnet18, channelsIn: 3, outputs: 100, width: 4)
        resnet.activation = .relu
        for c in [ZooNetworkConfiguration(architecture: .cnn), ZooNetworkConfiguration(architecture: .cnn3, channelsIn: 3, outputs: 7), resnet] {
            var settings = ZooNetworkConfiguration(architecture: c.architecture)
            settings.activation = c.activation
            let found = try XCTUnwrap(ZooArchitecture.identify(ZooNetwork(c).stateDict(), settings: settings), "\(c.architecture)")
            XCTAssertEqual(found, c)
        }
        // A wrapper prefix is allowed; an MLP is no registered architecture.
        let wrapped = StateDict(ZooNetwork(ZooNetworkConfiguration(architecture: .cnn)).stateDict().items.map { ("model." + $0.0, $0.1) })
        XCTAssertEqual(ZooArchitecture.identify(wrapped)?.architecture, .cnn)
        XCTAssertNil(ZooArchitecture.identify(StateDict([("l0.weight", Tensor(zeros: [5, 3])), ("l1.weight", Tensor(zeros: [2, 5]))])))
    }

    /// Prompt networks: params.json beside the file wins; else keys and shapes with the run's
    /// zoo settings of the same architecture; else an error saying what was found and what to add.
    func testNetworkOfCheckpointFiles() throws {
        func write(_ c: ZooNetworkConfiguration, _ name: String, in folder: URL) throws -> SourceModel {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Safetensors.write(ZooNetwork(c).stateDict(), to: folder.appendingPathComponent(name))
            return try XCTUnwrap(CheckpointSource(path: folder.appendingPathComponent(name).path).models().first)
        }
        var runZoo = ZooNetworkConfiguration(architecture: .cnn)
        runZoo.activation = .relu
        let cnn = try write(ZooNetworkConfiguration(architecture: .cnn, seed: 3), "cnn.safetensors", in: scratch.appendingPathComponent("a"))
        let checkpoint = try cnn.load().checkpoints[0]
        XCTAssertEqual(try cnn.network(of: checkpoint, settings: runZoo), runZoo, "activation from the run's zoo")
        XCTAssertThrowsError(try cnn.network(of: checkpoint, settings: nil)) { XCTAssertTrue("\($0)".contains("params.json"), "\($0)") }

        let cnn3 = try write(ZooNetworkConfiguration(architecture: .cnn3, channelsIn: 3), "cnn3.safetensors", in: scratch.appendingPathComponent("b"))
        XCTAssertThrowsError(try cnn3.network(of: try cnn3.load().checkpoints[0], settings: runZoo)) { error in
            XCTAssertTrue("\(error)".contains("is a CNN3") && "\(error)".contains("run's zoo is a CNN") && "\(error)".contains("params.json"), "\(error)")
        }
        try Data(#"{"model::type": "CNN3", "model::channels_in": 3, "model::nlin": "gelu"}"#.utf8)
            .write(to: scratch.appendingPathComponent("b/params.json"))
        let configured = try XCTUnwrap(CheckpointSource(path: scratch.appendingPathComponent("b").path).models().first)
        let network = try configured.network(of: try configured.load().checkpoints[0], settings: runZoo)
        XCTAssertEqual(network.architecture, .cnn3)
        XCTAssertEqual(network.activation, .gelu)

        let mlp = scratch.appendingPathComponent("mlp.safetensors")
        try Safetensors.write(StateDict([("l0.weight", Tensor(zeros: [5, 3]))]), to: mlp)
        let model = try XCTUnwrap(CheckpointSource(path: mlp.path).models().first)
        XCTAssertThrowsError(try model.network(of: try model.load().checkpoints[0], settings: runZoo)) { error in
            XCTAssertTrue("\(error)".contains("match no registered architecture") && "\(error)".contains("l0.weight [5, 3]"), "\(error)")
        }
    }
}

private extension PropertyProbeReport {
    /// Every (target, method) test R², for comparing two fits.
    var testR2Summary: [String] { scores.map { "\($0.target.rawValue) \($0.method) \($0.testR2)" } }
}

extension CLITests {
    /// embed, probe --predict and sample --prompts take a checkpoint file or a folder of them as a
    /// user would pass them; a folder as the probe's fit zoo and Keras names are one-line errors.
    func testAnyCheckpointInAndOut() throws {
        _ = try ProbeTests.sharedZoos()   // skips before anything is created when the shared zoos are missing
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sane-cli-any-\(UUID().uuidString)")
        let zoo = dir.appendingPathComponent("zoo"), folder = dir.appendingPathComponent("files"), run = dir.appendingPathComponent("run").path
        try FileManager.default.createDirectory(at: zoo, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let shared = try SyntheticZoo.linkSeedModels(8, into: zoo)
        let file = try XCTUnwrap(shared.models[0].checkpoints[3])
        try FileManager.default.copyItem(at: file, to: folder.appendingPathComponent("a.pt"))
        try FileManager.default.copyItem(at: try XCTUnwrap(shared.models[1].checkpoints[3]), to: folder.appendingPathComponent("b.pth"))
        let trained = try self.run(["pretrain", "--zoo", zoo.path, "--config", "tiny", "--epochs", "1", "--max-epoch", "3", "--out", run])
        XCTAssertEqual(trained.status, 0, trained.stderr)

        let one = try self.run(["embed", "--model", run, "--zoo", file.path, "--out", dir.appendingPathComponent("one.safetensors").path])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.contains("wrote 1 embeddings"), one.stdout)
        let two = try self.run(["embed", "--model", run, "--zoo", folder.path, "--out", dir.appendingPathComponent("two.safetensors").path])
        XCTAssertTrue(two.stdout.contains("wrote 2 embeddings"), two.stdout + two.stderr)

        let refused = try self.run(["probe", "--zoo", folder.path, "--out", dir.appendingPathComponent("p0").path])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("needs a zoo") && refused.stderr.contains("--predict"), refused.stderr)

        let probe = dir.appendingPathComponent("probe")
        let predicted = try self.run(["probe", "--model", run, "--zoo", zoo.path, "--epochs", "0-3", "--predict", folder.path, "--out", probe.path])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        let csv = try String(contentsOf: probe.appendingPathComponent("predictions.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.map { $0.split(separator: ",").first.map(String.init) }, ["checkpoint", "a.pt", "b.pth"])
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: probe.appendingPathComponent("predictions.json"))) as! [String: Any]
        XCTAssertEqual((json["checkpoints"] as? [Any])?.count, 2)

        let keras = dir.appendingPathComponent("keras.safetensors")
        try Safetensors.write(StateDict([("dense/kernel", Tensor(zeros: [36, 10])), ("dense/bias", Tensor(zeros: [10]))]), to: keras)
        let unknown = try self.run(["embed", "--model", run, "--zoo", keras.path, "--out", dir.appendingPathComponent("k.safetensors").path])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains(keras.path) && unknown.stderr.contains("dense/kernel") && unknown.stderr.contains("hint"), unknown.stderr)

        let data = ZooModelTests.shared.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: data.appendingPathComponent("mnist").path) else { throw XCTSkip("no MNIST in \(data.path) for sample") }
        let samples = dir.appendingPathComponent("samples")
        let sampled = try self.run(["sample", "--model", run, "--prompts", folder.appendingPathComponent("a.pt").path, "--data", data.path,
                                    "--samples", "2", "--keep", "1", "--bandwidth", "0.1", "--bandwidth-unit", "rms", "--no-audit",
                                    "--validation-size", "100", "--content", "7", "--halo", "0", "--batchnorm-iterations", "0", "--out", samples.path])
        XCTAssertEqual(sampled.status, 0, sampled.stderr)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: samples.appendingPathComponent("samples.json"))) as! [String: Any]
        // The decoding settings of the Table 7 ablation are recorded as given.
        XCTAssertEqual(manifest["halo"] as? [String: Int], ["content": 7, "halo": 0])
        XCTAssertEqual((manifest["settings"] as? [String: Any])?["batchNormIterations"] as? Int, 0)
        XCTAssertEqual((manifest["prompts"] as? [[String: Any]])?.compactMap { $0["name"] as? String }, ["a.pt"])
    }
}
