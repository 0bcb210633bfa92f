import Foundation
import XCTest
@testable import Sane

/// The zoo networks: names and sizes as SANE-SPEC §1, and evaluation of the shared zoos'
/// PyTorch checkpoints reproducing their recorded test accuracy.
final class ZooModelTests: XCTestCase {
    /// /work/shared (the sibling `shared` folder of the repository), if present.
    static let shared: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared")

    func testArchitecturesMatchTheSpec() {
        let cnn = ZooNetwork(ZooNetworkConfiguration(architecture: .cnn))
        XCTAssertEqual(cnn.parameterCount, 2464)
        XCTAssertEqual(cnn.stateDict().keys, ["0", "3", "6", "9", "11"].flatMap { ["module_list.\($0).weight", "module_list.\($0).bias"] })
        let dropped = ZooNetwork(ZooNetworkConfiguration(architecture: .cnn, dropout: 0.2))
        XCTAssertEqual(dropped.stateDict().keys, ["0", "4", "8", "11", "14"].flatMap { ["module_list.\($0).weight", "module_list.\($0).bias"] })
        let cnn3 = ZooNetwork(ZooNetworkConfiguration(architecture: .cnn3, channelsIn: 3))
        XCTAssertEqual(cnn3.parameterCount, 10853)
        XCTAssertEqual(cnn3.stateDict().keys, ["0", "4", "8", "13", "16"].flatMap { ["module_list.\($0).weight", "module_list.\($0).bias"] })
        XCTAssertEqual(cnn3(Variable(Tensor(zeros: [2, 3, 32, 32]))).shape, [2, 10])
        XCTAssertEqual(cnn(Variable(Tensor(zeros: [2, 1, 28, 28]))).shape, [2, 10])
        // Biases 0.01; the same seed gives the same weights; every init type and activation builds.
        XCTAssertEqual(cnn.stateDict()["module_list.9.bias"]!.scalars, [Float](repeating: 0.01, count: 20))
        for initType in ZooInitialization.allCases { for act in Activation.allCases {
            let c = ZooNetworkConfiguration(architecture: .cnn, activation: act, initialization: initType, seed: 7)
            XCTAssertEqual(ZooNetwork(c).stateDict()["module_list.0.weight"]!.scalars, ZooNetwork(c).stateDict()["module_list.0.weight"]!.scalars)
        } }
        let u = ZooNetwork(ZooNetworkConfiguration(architecture: .cnn, initialization: .uniform)).stateDict()["module_list.3.weight"]!
        XCTAssertTrue(u.scalars.allSatisfy { $0 >= 0 && $0 < 1 })
    }

    /// Recorded test_acc (PyTorch, make_zoo.py) within 0.1 percentage points, for several models
    /// and epochs including relu/gelu/sigmoid models of the hyperparameter zoo.
    func testSharedZooCheckpointsReproduceRecordedAccuracy() throws {
        let zoos = Self.shared.appendingPathComponent("zoos"), data = Self.shared.appendingPathComponent("data")
        guard FileManager.default.fileExists(atPath: zoos.appendingPathComponent("mnist-cnn-hyper").path) else {
            throw XCTSkip("shared zoos not found at \(zoos.path); this test needs /work/shared/zoos and /work/shared/data/mnist")
        }
        let test = try ImageDataset.load("mnist", split: .test, dataDirectory: data.path)
        var cases: [(ZooModel, Int)] = []
        let seedZoo = try Zoo(directory: zoos.appendingPathComponent("mnist-cnn-seed"))
        cases += [(seedZoo.models[0], 0), (seedZoo.models[0], 10), (seedZoo.models[5], 3)]
        let hyper = try Zoo(directory: zoos.appendingPathComponent("mnist-cnn-hyper"))
        var seen = Set<String>()
        for model in hyper.models {
            let act = model.params.nonlinearity ?? ""
            if seen.insert(act).inserted { cases.append((model, [1, 10, 5, 7][seen.count % 4])) }
        }
        XCTAssertTrue(["relu", "gelu", "sigmoid", "tanh"].allSatisfy(seen.contains), "activations seen: \(seen)")
        for (model, epoch) in cases {
            let net = try ZooModelFactory.make(params: model.params, stateDict: model.loadCheckpoint(epoch: epoch))
            let computed = ZooEvaluation.evaluate(net, on: test)
            let recorded = try XCTUnwrap(model.results[epoch]?.testAccuracy)
            XCTAssertEqual(computed.accuracy * 100, recorded * 100, accuracy: 0.1,
                           "\(model.name) (\(model.params.nonlinearity ?? "?")) epoch \(epoch): computed \(computed.accuracy), recorded \(recorded)")
            if let loss = model.results[epoch]?.testLoss { XCTAssertEqual(computed.loss, loss, accuracy: 1e-3 + 1e-3 * loss, "\(model.name) epoch \(epoch) loss") }
        }
    }
}
