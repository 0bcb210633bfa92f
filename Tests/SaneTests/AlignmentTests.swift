import Foundation
import XCTest
@testable import Sane

/// A plain-loop forward pass of the `CNN` zoo model (SANE-SPEC §1) on one `[1, 28, 28]` image:
/// Conv(1,8,5) → MaxPool2 → tanh → Conv(8,6,5) → MaxPool2 → tanh → Conv(6,4,2) → tanh → Flatten →
/// Linear(36,20) → tanh → Linear(20,10). Float64 throughout; a reference, not a kernel.
enum ReferenceCNN {
    /// Valid convolution, stride 1: `[C, H, W]` * `[O, C, k, k]` + b → `[O, H−k+1, W−k+1]`.
    static func conv(_ x: [Double], _ shape: [Int], weight: Tensor, bias: Tensor) -> ([Double], [Int]) {
        let (c, h, w) = (shape[0], shape[1], shape[2])
        let (o, k) = (weight.shape[0], weight.shape[2])
        let (oh, ow) = (h - k + 1, w - k + 1)
        let (kernel, offsets) = (weight.scalars.map(Double.init), bias.scalars.map(Double.init))
        var y = [Double](repeating: 0, count: o * oh * ow)
        for f in 0..<o { for i in 0..<oh { for j in 0..<ow {
            var s = offsets[f]
            for ci in 0..<c { for a in 0..<k { for b in 0..<k {
                s += kernel[((f * c + ci) * k + a) * k + b] * x[(ci * h + i + a) * w + j + b]
            } } }
            y[(f * oh + i) * ow + j] = s
        } } }
        return (y, [o, oh, ow])
    }

    /// 2×2 max pooling, stride 2.
    static func maxPool(_ x: [Double], _ shape: [Int]) -> ([Double], [Int]) {
        let (c, h, w) = (shape[0], shape[1] / 2, shape[2] / 2)
        var y = [Double](repeating: 0, count: c * h * w)
        for f in 0..<c { for i in 0..<h { for j in 0..<w {
            let base = (f * shape[1] + 2 * i) * shape[2] + 2 * j
            y[(f * h + i) * w + j] = max(x[base], x[base + 1], x[base + shape[2]], x[base + shape[2] + 1])
        } } }
        return (y, [c, h, w])
    }

    static func linear(_ x: [Double], weight: Tensor, bias: Tensor) -> [Double] {
        let n = weight.shape[1]
        let matrix = weight.scalars.map(Double.init)
        return (0..<weight.shape[0]).map { o in (0..<n).reduce(Double(bias[o])) { $0 + matrix[o * n + $1] * x[$1] } }
    }

    /// Logits `[10]` of `model` (keys `module_list.{0,3,6,9,11}`) on `image` `[1, 28, 28]`.
    static func logits(_ model: StateDict, image: [Double]) -> [Double] {
        func layer(_ i: Int) -> (Tensor, Tensor) { (model["module_list.\(i).weight"]!, model["module_list.\(i).bias"]!) }
        var (x, shape) = (image, [1, 28, 28])
        for (i, pool) in [(0, true), (3, true), (6, false)] {
            (x, shape) = conv(x, shape, weight: layer(i).0, bias: layer(i).1)
            if pool { (x, shape) = maxPool(x, shape) }
            x = x.map(tanh)
        }
        x = linear(x, weight: layer(9).0, bias: layer(9).1).map(tanh)       // Flatten of [4, 3, 3] = 36
        return linear(x, weight: layer(11).0, bias: layer(11).1)
    }
}

final class AlignmentTests: XCTestCase {
    func testLinearAssignmentMatchesBruteForce() {
        var generator = SeededGenerator(seed: 21)
        func permutations(_ n: Int) -> [[Int]] {
            n == 0 ? [[]] : permutations(n - 1).flatMap { p in (0...p.count).map { var q = p; q.insert(n - 1, at: $0); return q } }
        }
        let all = permutations(6)
        XCTAssertEqual(all.count, 720)
        for trial in 0..<20 {
            let profit = (0..<36).map { _ in trial % 2 == 0 ? generator.uniformDouble() : Double(generator.int(below: 5)) - 2 }
            func value(_ p: [Int]) -> Double { (0..<6).reduce(0) { $0 + profit[$1 * 6 + p[$1]] } }
            let assignment = LinearAssignment.maximize(profit, size: 6)
            XCTAssertEqual(assignment.sorted(), Array(0..<6))
            XCTAssertEqual(value(assignment), all.map(value).max()!, accuracy: 1e-12)
        }
        XCTAssertEqual(LinearAssignment.maximize([], size: 0), [])
        XCTAssertEqual(LinearAssignment.maximize([-3], size: 1), [0])
    }

    func testSpecOfTheZooChains() throws {
        let cnn = try PermutationSpec(sequentialChain: ZooFixtures.zeros(ZooFixtures.cnn))
        XCTAssertEqual(cnn.groups.map(\.size), [8, 6, 4, 20])
        XCTAssertEqual(cnn.groups[0].axes, [.init(key: "module_list.0.weight", axis: 0), .init(key: "module_list.0.bias", axis: 0),
                                           .init(key: "module_list.3.weight", axis: 1)])
        XCTAssertEqual(cnn.groups[2].axes.last, .init(key: "module_list.9.weight", axis: 1, blockSize: 9))
        let cnn3 = try PermutationSpec(sequentialChain: ZooFixtures.zeros(ZooFixtures.cnn3))
        XCTAssertEqual(cnn3.groups.map(\.size), [16, 32, 15, 20])
        XCTAssertEqual(cnn3.groups[2].axes.last, .init(key: "module_list.13.weight", axis: 1, blockSize: 4))
        // BatchNorm after a conv follows its channels; a ResNet is not a chain.
        let withNorm = try PermutationSpec(sequentialChain: ZooFixtures.zeros([
            ("conv.weight", [4, 3, 3, 3]), ("norm.weight", [4]), ("norm.bias", [4]), ("norm.running_mean", [4]),
            ("norm.running_var", [4]), ("norm.num_batches_tracked", []), ("fc.weight", [2, 16]), ("fc.bias", [2]),
        ]))
        XCTAssertEqual(withNorm.groups[0].axes.map(\.key), ["conv.weight", "norm.weight", "norm.bias", "norm.running_mean",
                                                           "norm.running_var", "fc.weight"])
        XCTAssertThrowsError(try PermutationSpec(sequentialChain: ZooFixtures.zeros(ZooFixtures.resNet18())))
    }

    func testPermutingHiddenUnitsKeepsTheFunction() throws {
        var generator = SeededGenerator(seed: 22)
        let model = ZooFixtures.random(ZooFixtures.cnn, using: &generator)
        let spec = try PermutationSpec(sequentialChain: model)
        let image = (0..<784).map { _ in Double(generator.normal()) }
        let logits = ReferenceCNN.logits(model, image: image)
        for _ in 0..<3 {
            let permutation = spec.randomPermutation(using: &generator)
            XCTAssertNotEqual(permutation, spec.identity)
            let permuted = try spec.apply(permutation, to: model)
            XCTAssertFalse(ZooFixtures.bitIdentical(permuted, model))
            let permutedLogits = ReferenceCNN.logits(permuted, image: image)
            let maxError = zip(logits, permutedLogits).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(maxError, 1e-5, "max |Δlogit| = \(maxError)")
        }
        // A wrong Flatten rule (permuting the linear's 36 inputs one by one) would change the function.
        var broken = model
        let order = generator.permutation(4)
        broken["module_list.6.weight"] = try PermutationSpec.permute(model["module_list.6.weight"]!, along: .init(key: "", axis: 0),
                                                                    groupSize: 4, by: order)
        broken["module_list.6.bias"] = try PermutationSpec.permute(model["module_list.6.bias"]!, along: .init(key: "", axis: 0),
                                                                  groupSize: 4, by: order)
        broken["module_list.9.weight"] = try PermutationSpec.permute(model["module_list.9.weight"]!, along: .init(key: "", axis: 1),
                                                                    groupSize: 36, by: order + Array(4..<36))
        XCTAssertGreaterThan(zip(logits, ReferenceCNN.logits(broken, image: image)).map { abs($0 - $1) }.max()!, 1e-3)
    }

    func testAlignmentRecoversAPlantedPermutation() throws {
        var generator = SeededGenerator(seed: 23)
        for shapes in [ZooFixtures.cnn, ZooFixtures.cnn3] {
            let reference = ZooFixtures.random(shapes, using: &generator)
            let spec = try PermutationSpec(sequentialChain: reference)
            let permuted = try spec.apply(spec.randomPermutation(using: &generator), to: reference)
            let permutation = try WeightMatching.align(permuted, to: reference, spec: spec, using: &generator)
            XCTAssertTrue(ZooFixtures.bitIdentical(try spec.apply(permutation, to: permuted), reference))
        }
    }

    func testAlignmentBringsNoisyCopiesCloser() throws {
        var generator = SeededGenerator(seed: 24)
        let reference = ZooFixtures.random(ZooFixtures.cnn, using: &generator)
        let spec = try PermutationSpec(sequentialChain: reference)
        func distance(_ a: StateDict, _ b: StateDict) -> Double {
            a.keys.reduce(0) { sum, key in
                sum + zip(a[key]!.scalars, b[key]!.scalars).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            }.squareRoot()
        }
        var before = 0.0, after = 0.0
        for _ in 0..<5 {
            var noisy = reference
            for key in noisy.keys {
                noisy[key] = Tensor(shape: reference[key]!.shape, scalars: reference[key]!.scalars.map { $0 + 0.1 * generator.normal() })
            }
            let copy = try spec.apply(spec.randomPermutation(using: &generator), to: noisy)
            let trajectory = try WeightMatching.alignTrajectory([noisy, copy], to: reference, spec: spec, using: &generator)
            XCTAssertEqual(trajectory.aligned.count, 2)
            XCTAssertTrue(ZooFixtures.bitIdentical(trajectory.aligned[1], try spec.apply(trajectory.permutation, to: copy)))
            before += distance(copy, reference) / 5
            after += distance(trajectory.aligned[1], reference) / 5
        }
        XCTAssertLessThan(after, 0.8 * before, "mean L2 distance before \(before), after \(after)")
    }
}
