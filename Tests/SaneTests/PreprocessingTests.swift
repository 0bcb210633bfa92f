import Foundation
import XCTest
@testable import Sane

final class PreprocessingTests: XCTestCase {
    let tokenizer = Tokenizer(TokenizerConfig(tokenSize: 289))

    /// Two checkpoints of a one-layer model plus a BatchNorm counter, worked by hand:
    /// [W|b] = [1, 2 | 3, 4] → mean 2.5, variance 1.25;  [0, 0 | 0, 4] → mean 1, variance 3;
    /// μ = (2.5 + 1) / 2 = 1.75,  σ = sqrt((1.25 + 3) / 2) = sqrt(2.125).
    func testStandardizationStatisticsOnAHandExample() throws {
        func checkpoint(_ w: [Float], _ b: [Float]) -> StateDict {
            StateDict([("fc.weight", Tensor(shape: [2, 1], scalars: w)), ("fc.bias", Tensor(shape: [2], scalars: b)),
                       ("bn.num_batches_tracked", Tensor(7))])
        }
        let standardization = try LayerStandardization(fittingTo: [checkpoint([1, 2], [3, 4]), checkpoint([0, 0], [0, 4])],
                                                       tokenizer: tokenizer)
        XCTAssertEqual(standardization.layers.count, 1)
        XCTAssertEqual(standardization.layers[0].weightKey, "fc.weight")
        XCTAssertEqual(standardization.layers[0].biasKey, "fc.bias")
        XCTAssertEqual(standardization.layers[0].mean, 1.75, accuracy: 1e-15)
        XCTAssertEqual(standardization.layers[0].standardDeviation, 2.125.squareRoot(), accuracy: 1e-15)

        let standardized = try standardization.apply(to: checkpoint([1, 2], [3, 4]))
        let sigma = Float(2.125.squareRoot())
        for (x, expected) in zip(standardized["fc.weight"]!.scalars + standardized["fc.bias"]!.scalars,
                                 [Float(1), 2, 3, 4].map { ($0 - 1.75) / sigma }) {
            XCTAssertEqual(x, expected, accuracy: 1e-6)
        }
        XCTAssertEqual(standardized["bn.num_batches_tracked"]!.scalar, 7)
    }

    func testStandardizationInvertsAndSerializes() throws {
        var generator = SeededGenerator(seed: 11)
        let zoo = (0..<4).map { _ in ZooFixtures.random(ZooFixtures.cnn, std: 0.5, using: &generator) }
        let standardization = try LayerStandardization(fittingTo: zoo, tokenizer: tokenizer)
        XCTAssertEqual(standardization.layers.count, 5)
        let model = zoo[0]
        let restored = try standardization.invert(standardization.apply(to: model))
        for key in model.keys {
            for (a, b) in zip(model[key]!.scalars, restored[key]!.scalars) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        }
        // Standardized train checkpoints have mean ≈ 0 and variance ≈ 1 per layer, pooled over the zoo.
        let standardized = try zoo.map { try standardization.apply(to: $0) }
        let refit = try LayerStandardization(fittingTo: standardized, tokenizer: tokenizer)
        for layer in refit.layers {
            XCTAssertEqual(layer.mean, 0, accuracy: 1e-6)
            XCTAssertEqual(layer.standardDeviation, 1, accuracy: 1e-5)
        }
        let decoded = try JSONDecoder().decode(LayerStandardization.self, from: JSONEncoder().encode(standardization))
        XCTAssertEqual(decoded, standardization)
    }

    func testStandardizationRejectsMixedArchitecturesAndEmptySplits() throws {
        var generator = SeededGenerator(seed: 12)
        let mixed = [ZooFixtures.random(ZooFixtures.cnn, using: &generator), ZooFixtures.random(ZooFixtures.cnn3, using: &generator)]
        XCTAssertThrowsError(try LayerStandardization(fittingTo: mixed, tokenizer: tokenizer))
        XCTAssertThrowsError(try LayerStandardization(fittingTo: [StateDict](), tokenizer: tokenizer))
    }

    func testMultiplicativeNoiseTouchesRealEntriesOnly() throws {
        var generator = SeededGenerator(seed: 13)
        let model = ZooFixtures.random(TokenizationTests.mixedShapes, using: &generator)
        let sequence = try tokenizer.tokenize(model)
        let noisy = sequence.addingMultiplicativeNoise(sigma: 0.1, using: &generator)
        XCTAssertEqual(noisy.mask.scalars, sequence.mask.scalars)
        XCTAssertEqual(noisy.positions, sequence.positions)
        var ratios: [Double] = []
        for (i, (x, y)) in zip(sequence.tokens.scalars, noisy.tokens.scalars).enumerated() {
            if sequence.mask.scalars[i] == 0 {
                XCTAssertEqual(y, 0)
            } else if x != 0 {
                ratios.append(Double(y / x) - 1)
            }
        }
        let mean = ratios.reduce(0, +) / Double(ratios.count)
        let std = (ratios.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(ratios.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(std, 0.1, accuracy: 0.01)
        let unchanged = sequence.addingMultiplicativeNoise(sigma: 0, using: &generator)
        XCTAssertEqual(unchanged.tokens.scalars, sequence.tokens.scalars)
    }
}
