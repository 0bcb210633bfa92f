import XCTest
@testable import Sane

/// State dicts of the zoo architectures (SANE-SPEC §1), shared by the tokenization,
/// preprocessing and alignment tests.
enum ZooFixtures {
    /// `CNN` on 28×28 MNIST: 2,464 parameters.
    static let cnn: [(String, [Int])] = [
        ("module_list.0.weight", [8, 1, 5, 5]), ("module_list.0.bias", [8]),
        ("module_list.3.weight", [6, 8, 5, 5]), ("module_list.3.bias", [6]),
        ("module_list.6.weight", [4, 6, 2, 2]), ("module_list.6.bias", [4]),
        ("module_list.9.weight", [20, 36]), ("module_list.9.bias", [20]),
        ("module_list.11.weight", [10, 20]), ("module_list.11.bias", [10]),
    ]

    /// `CNN3` on 32×32 CIFAR-10: 10,853 parameters.
    static let cnn3: [(String, [Int])] = [
        ("module_list.0.weight", [16, 3, 3, 3]), ("module_list.0.bias", [16]),
        ("module_list.4.weight", [32, 16, 3, 3]), ("module_list.4.bias", [32]),
        ("module_list.8.weight", [15, 32, 3, 3]), ("module_list.8.bias", [15]),
        ("module_list.13.weight", [20, 60]), ("module_list.13.bias", [20]),
        ("module_list.16.weight", [10, 20]), ("module_list.16.bias", [10]),
    ]

    /// torchvision ResNet-18 naming with a CIFAR stem and 100 classes (BatchNorm with running stats).
    static func resNet18(classes: Int = 100) -> [(String, [Int])] {
        func batchNorm(_ prefix: String, _ c: Int) -> [(String, [Int])] {
            [("\(prefix).weight", [c]), ("\(prefix).bias", [c]), ("\(prefix).running_mean", [c]),
             ("\(prefix).running_var", [c]), ("\(prefix).num_batches_tracked", [])]
        }
        var shapes: [(String, [Int])] = [("conv1.weight", [64, 3, 3, 3])] + batchNorm("bn1", 64)
        var inputs = 64
        for (stage, width) in [64, 128, 256, 512].enumerated() {
            for block in 0..<2 {
                let prefix = "layer\(stage + 1).\(block)"
                let blockInputs = block == 0 ? inputs : width
                shapes += [("\(prefix).conv1.weight", [width, blockInputs, 3, 3])] + batchNorm("\(prefix).bn1", width)
                shapes += [("\(prefix).conv2.weight", [width, width, 3, 3])] + batchNorm("\(prefix).bn2", width)
                if block == 0 && blockInputs != width {
                    shapes += [("\(prefix).downsample.0.weight", [width, blockInputs, 1, 1])]
                        + batchNorm("\(prefix).downsample.1", width)
                }
            }
            inputs = width
        }
        return shapes + [("fc.weight", [classes, 512]), ("fc.bias", [classes])]
    }

    /// A state dict with the given shapes and N(0, std²) values.
    static func random(_ shapes: [(String, [Int])], std: Float = 0.3, using generator: inout SeededGenerator) -> StateDict {
        StateDict(shapes.map { ($0.0, Tensor.normal($0.1, std: std, using: &generator)) })
    }

    /// A state dict with the given shapes, all zeros (for layouts, which read shapes only).
    static func zeros(_ shapes: [(String, [Int])]) -> StateDict {
        StateDict(shapes.map { ($0.0, Tensor(zeros: $0.1)) })
    }

    /// True when both state dicts have the same keys in the same order and bit-identical tensors.
    static func bitIdentical(_ a: StateDict, _ b: StateDict) -> Bool {
        a.keys == b.keys && a.keys.allSatisfy { key in
            a[key]!.shape == b[key]!.shape && a[key]!.scalars.map(\.bitPattern) == b[key]!.scalars.map(\.bitPattern)
        }
    }
}

final class TokenizationTests: XCTestCase {
    let tokenizer = Tokenizer(TokenizerConfig(tokenSize: 289))

    func testCNNLayoutMatchesGoldenSizes() throws {
        let layout = try tokenizer.layout(for: ZooFixtures.zeros(ZooFixtures.cnn))
        XCTAssertEqual(layout.tokenCount, 48)
        XCTAssertEqual(layout.layers.count, 5)
        XCTAssertEqual(layout.layers.map(\.weightKey), ["module_list.0.weight", "module_list.3.weight", "module_list.6.weight",
                                                        "module_list.9.weight", "module_list.11.weight"])
        XCTAssertEqual(layout.layers.map(\.rows), [8, 6, 4, 20, 10])
        XCTAssertEqual(layout.layers.map(\.valuesPerRow), [26, 201, 25, 37, 21])
        XCTAssertEqual(layout.layers.map(\.chunksPerRow), [1, 1, 1, 1, 1])
        XCTAssertEqual(layout.layers.map(\.firstToken), [0, 8, 14, 18, 38])
        XCTAssertEqual(layout.layers[0].biasKey, "module_list.0.bias")
        XCTAssertEqual(layout.layers[3].rowLength, 36)
    }

    func testCNNPositionsMaskAndValues() throws {
        var generator = SeededGenerator(seed: 1)
        let model = ZooFixtures.random(ZooFixtures.cnn, using: &generator)
        let sequence = try tokenizer.tokenize(model)
        XCTAssertEqual(sequence.tokens.shape, [48, 289])
        XCTAssertEqual(sequence.mask.shape, [48, 289])
        func position(_ n: Int) -> [Int32] { Array(sequence.positions[(3 * n)..<(3 * n + 3)]) }
        XCTAssertEqual(position(0), [0, 0, 0])
        XCTAssertEqual(position(7), [7, 0, 7])
        XCTAssertEqual(position(8), [8, 1, 0])
        XCTAssertEqual(position(18), [18, 3, 0])
        XCTAssertEqual(position(37), [37, 3, 19])
        XCTAssertEqual(position(47), [47, 4, 9])
        XCTAssertEqual(sequence.mask.scalars.reduce(0, +), 2464)
        // Token 0 = first conv's row 0: 25 weights, then the bias, then zero padding.
        let token0 = Array(sequence.tokens.scalars[0..<289])
        XCTAssertEqual(Array(token0[0..<25]), Array(model["module_list.0.weight"]!.scalars[0..<25]))
        XCTAssertEqual(token0[25], model["module_list.0.bias"]![0])
        XCTAssertEqual(Array(token0[26...]), [Float](repeating: 0, count: 263))
        XCTAssertEqual(Array(sequence.mask.scalars[0..<289]), [Float](repeating: 1, count: 26) + [Float](repeating: 0, count: 263))
        // Token 19 = linear 20×36, row 1: 36 weights then its bias.
        XCTAssertEqual(Array(sequence.tokens.scalars[(19 * 289)..<(19 * 289 + 36)]),
                       Array(model["module_list.9.weight"]!.scalars[36..<72]))
        XCTAssertEqual(sequence.tokens[19, 36], model["module_list.9.bias"]![1])
    }

    func testCNN3LayoutMatchesGoldenSizes() throws {
        let layout = try tokenizer.layout(for: ZooFixtures.zeros(ZooFixtures.cnn3))
        XCTAssertEqual(layout.tokenCount, 93)
        XCTAssertEqual(layout.layers.count, 5)
        XCTAssertEqual(layout.layers.map(\.valuesPerRow), [28, 145, 289, 61, 21])
        XCTAssertEqual(layout.mask().scalars.reduce(0, +), 10853)
    }

    func testResNet18LayoutMatchesGoldenSizes() throws {
        let model = ZooFixtures.zeros(ZooFixtures.resNet18())
        let layout = try Tokenizer(TokenizerConfig(tokenSize: 288)).layout(for: model)
        XCTAssertEqual(layout.tokenCount, 44_104)
        XCTAssertEqual(layout.layers.count, 41)
        let withStatistics = try Tokenizer(TokenizerConfig(tokenSize: 288, includeBatchNormStatistics: true)).layout(for: model)
        XCTAssertEqual(withStatistics.layers.count, 41 + 2 * 20)
        XCTAssertEqual(withStatistics.layers[2].weightKey, "bn1.running_mean")
        XCTAssertNil(withStatistics.layers[2].biasKey)
        XCTAssertEqual(withStatistics.tokenCount, 44_104 + 2 * (64 + 4 * 64 + 5 * 128 + 5 * 256 + 5 * 512))
    }

    /// A model with every kind of layer: a row needing 3 chunks (700 weights + bias > 2·289),
    /// a conv without bias, BatchNorm with statistics and a counter, a bias-free 1-D weight.
    static let mixedShapes: [(String, [Int])] = [
        ("features.conv.weight", [5, 3, 3, 3]),
        ("features.norm.weight", [5]), ("features.norm.bias", [5]),
        ("features.norm.running_mean", [5]), ("features.norm.running_var", [5]),
        ("features.norm.num_batches_tracked", []),
        ("wide.weight", [3, 700]), ("wide.bias", [3]),
        ("scale.weight", [4]),
        ("head.weight", [2, 3, 289]), ("head.bias", [2]),
    ]

    func testRoundTripIsBitExact() throws {
        var generator = SeededGenerator(seed: 2)
        for includeStatistics in [false, true] {
            let tokenizer = Tokenizer(TokenizerConfig(tokenSize: 289, includeBatchNormStatistics: includeStatistics))
            for shapes in [ZooFixtures.cnn, ZooFixtures.cnn3, Self.mixedShapes] {
                let model = ZooFixtures.random(shapes, using: &generator)
                let sequence = try tokenizer.tokenize(model)
                let restored = try tokenizer.detokenize(sequence.tokens, like: model)
                XCTAssertTrue(ZooFixtures.bitIdentical(model, restored), "round trip of \(shapes.map(\.0))")
                XCTAssertEqual(sequence.mask.scalars.reduce(0, +), Float(try tokenizer.layout(for: model).layers.map(\.valueCount).reduce(0, +)))
            }
        }
    }

    func testRowsLongerThanATokenSplitIntoPaddedChunks() throws {
        var generator = SeededGenerator(seed: 3)
        let model = ZooFixtures.random(Self.mixedShapes, using: &generator)
        let layout = try tokenizer.layout(for: model)
        XCTAssertEqual(layout.layers.map(\.weightKey), ["features.conv.weight", "features.norm.weight", "wide.weight",
                                                        "scale.weight", "head.weight"])
        let wide = layout.layers[2]
        XCTAssertEqual([wide.rows, wide.rowLength, wide.valuesPerRow, wide.chunksPerRow, wide.firstToken], [3, 700, 701, 3, 10])
        let head = layout.layers[4]
        XCTAssertEqual([head.valuesPerRow, head.chunksPerRow], [868, 4])  // 867 + bias: one value into a 4th token
        let sequence = try tokenizer.tokenize(model, layout: layout)
        // Row 1 of `wide` = tokens 13, 14, 15, all with position [n, 2, 1].
        for n in 13...15 { XCTAssertEqual(Array(sequence.positions[(3 * n)..<(3 * n + 3)]), [Int32(n), 2, 1]) }
        XCTAssertEqual(sequence.tokens[14, 0], model["wide.weight"]![1, 289])
        XCTAssertEqual(sequence.tokens[15, 700 - 578], model["wide.bias"]![1])
        XCTAssertEqual(sequence.mask[15, 700 - 578], 1)
        XCTAssertEqual(sequence.mask[15, 701 - 578], 0)
        XCTAssertEqual(sequence.tokens[15, 701 - 578], 0)
    }

    func testDetokenizeCopiesUntokenizedEntriesAndRejectsWrongShapes() throws {
        var generator = SeededGenerator(seed: 4)
        let model = ZooFixtures.random(Self.mixedShapes, using: &generator)
        let sequence = try tokenizer.tokenize(model)
        let zeros = try tokenizer.detokenize(Tensor(zeros: sequence.tokens.shape), like: model)
        XCTAssertEqual(zeros["features.norm.running_var"]!.scalars, model["features.norm.running_var"]!.scalars)
        XCTAssertEqual(zeros["features.norm.num_batches_tracked"]!.scalars, model["features.norm.num_batches_tracked"]!.scalars)
        XCTAssertEqual(zeros["wide.bias"]!.scalars, [0, 0, 0])
        XCTAssertThrowsError(try tokenizer.detokenize(Tensor(zeros: [3, 289]), like: model))
    }

    func testWindowsCopyConsecutiveTokensAndPadShortSequences() throws {
        var generator = SeededGenerator(seed: 5)
        let sequence = try tokenizer.tokenize(ZooFixtures.random(ZooFixtures.cnn, using: &generator))
        let window = sequence.window(start: 10, length: 16)
        XCTAssertEqual(window.tokens.shape, [16, 289])
        XCTAssertEqual(window.tokens.scalars, Array(sequence.tokens.scalars[(10 * 289)..<(26 * 289)]))
        XCTAssertEqual(window.mask.scalars, Array(sequence.mask.scalars[(10 * 289)..<(26 * 289)]))
        XCTAssertEqual(window.positions, Array(sequence.positions[30..<78]))

        let padded = sequence.randomWindow(length: 64, using: &generator)
        XCTAssertEqual(padded.count, 64)
        XCTAssertEqual(Array(padded.tokens.scalars[0..<(48 * 289)]), sequence.tokens.scalars)
        XCTAssertEqual(padded.mask.scalars[(48 * 289)...].reduce(0, +), 0)
        XCTAssertEqual(padded.positions[(48 * 3)...].reduce(0, +), 0)

        var starts = Set<Int32>()
        for _ in 0..<400 {
            let random = sequence.randomWindow(length: 40, using: &generator)
            XCTAssertEqual(random.count, 40)
            starts.insert(random.positions[0])
            XCTAssertEqual(random.positions[3 * 39], random.positions[0] + 39)
        }
        XCTAssertEqual(starts, Set(0...8))
    }
}
