import Foundation
import XCTest
@testable import Sane

/// 3-channel data through zoo training and evaluation: a tiny CNN3 zoo on CIFAR-10 with the
/// CIFAR augmentation and a per-channel input normalization, re-evaluated from params.json.
final class CIFARZooTests: XCTestCase {
    func testTinyCIFARZooWithAugmentationAndNormalization() throws {
        let data = ZooModelTests.shared.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: data.appendingPathComponent("cifar10/\(CIFAR10JPEGSource.archiveName)").path) else {
            throw XCTSkip("CIFAR-10 not found under \(data.path); this test needs ../shared/data/cifar10")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sane-cifarzoo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let config = try ZooTrainingConfiguration(json: JSONValue.parse("""
        {"dataset": "cifar10", "data_dir": "\(data.path)", "architecture": "CNN3", "epochs": 1, "seeds": [1],
         "augment": true, "lr": 3e-3, "batch_size": 32, "train_size": 512, "test_size": 500, "train_eval_size": 200,
         "normalize": {"mean": [0.4914, 0.4822, 0.4465], "std": [0.2470, 0.2435, 0.2616]}, "prefix": "c"}
        """))
        XCTAssertTrue(config.augment)
        XCTAssertEqual(try ZooTrainer.train(config, output: scratch, jobs: 1), 1)
        let m = try XCTUnwrap(Zoo(directory: scratch).models.first)
        XCTAssertEqual(m.params.channelsIn, 3)
        XCTAssertEqual(m.params.datasetName, "cifar10")
        XCTAssertEqual(m.params["training::augment"]?.stringValue, "crop4_flip")
        XCTAssertEqual(m.params["dataset::mean"]?.jsonText, "[0.4914,0.4822,0.4465]")
        let net = try ZooModelFactory.make(params: m.params, stateDict: m.loadCheckpoint(epoch: 1))
        XCTAssertEqual(net.configuration.inputStd, [0.2470, 0.2435, 0.2616])
        let test = ZooTrainer.testSubset(try ImageDataset.load("cifar10", split: .test, dataDirectory: data.path), count: 500)
        XCTAssertEqual(test.images.shape, [500, 3, 32, 32])
        // The archive is stored by class; the test subset must not be (it was all airplanes once).
        XCTAssertEqual(Set(test.labels).count, 10)
        XCTAssertEqual(ZooEvaluation.evaluate(net, on: test).accuracy, m.results[1]!.testAccuracy!, accuracy: 1e-12)
        // Control: the same weights without the normalization compute something else.
        var plain = net.configuration
        (plain.inputMean, plain.inputStd) = (nil, nil)
        let unnormalized = ZooNetwork(plain)
        try unnormalized.load(net.stateDict())
        XCTAssertNotEqual(ZooEvaluation.evaluate(unnormalized, on: test).loss, ZooEvaluation.evaluate(net, on: test).loss)

        // Malformed normalizations are one-line errors.
        for bad in [#"{"mean": [0.5, 0.5], "std": [1, 1, 1]}"#, #"{"mean": [0.5, 0.5, 0.5], "std": [1, 0, 1]}"#, #"{"std": [1, 1, 1]}"#, "3"] {
            XCTAssertThrowsError(try ZooTrainingConfiguration(json: JSONValue.parse(#"{"dataset": "cifar10", "epochs": 1, "normalize": \#(bad)}"#)))
        }
        XCTAssertThrowsError(try ZooTrainingConfiguration(json: JSONValue.parse(#"{"dataset": "cifar10", "epochs": 1, "augment": "yes"}"#)))
    }
}
