import XCTest
@testable import SaneNN
import SaneTensor
import Foundation

/// A stand-in for N identical ranks: the sum over ranks of the same buffer is N times it.
private final class IdenticalRanks: Communicator {
    let size: Int
    init(_ size: Int) { self.size = size }
    var rank: Int { 0 }
    var calls = 0
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) { calls += 1; for i in buffer.indices { buffer[i] *= Float(size) } }
    func allreduce(_ values: inout [Double], _ op: ReductionOperation) { if op == .sum { values = values.map { $0 * Double(size) } } }
    func allgather(_ local: [Float], counts: [Int]) -> [Float] { Array((0..<size).map { _ in local }.joined()) }
    func broadcast(_ bytes: [UInt8], root: Int) -> [UInt8] { bytes }
    func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]? { Array(repeating: bytes, count: size) }
    func barrier() {}
    func abort(_ message: String, code: Int32) -> Never { fatalError(message) }
}

final class FlatParametersTests: XCTestCase {
    /// Three parameters of ranks 2, 1, 1 (a, b, c) with gradients on a and c.
    private func parameters() -> [(String, Variable)] {
        let a = Variable(Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), requiresGrad: true)
        let b = Variable(Tensor(shape: [4], scalars: [0, 0, 0, 0]), requiresGrad: true)
        let c = Variable(Tensor(shape: [1], scalars: [7]), requiresGrad: true)
        a.accumulateGradient(Tensor(shape: [2, 3], scalars: [0.5, -1, 2, 0, 3, -4]))
        c.accumulateGradient(Tensor(shape: [1], scalars: [1.25]))
        return [("a", a), ("b", b), ("c", c)]
    }

    /// The layout: 64-byte aligned slots in parameter order within the ≥2-D and the < 2-D
    /// sections; values and gradients become views of the flat buffers and keep their elements.
    func testLayoutAndViews() {
        let p = parameters()
        let d = Variable(Tensor(shape: [1, 2], scalars: [8, 9]), requiresGrad: true)
        let flat = FlatParameters.binding(p + [("d", d)])
        XCTAssertEqual(flat.slots.map(\.offset), [0, 32, 48, 16])
        XCTAssertEqual(flat.bufferOrder, [0, 3, 1, 2])
        XCTAssertEqual(flat.count, 64)
        XCTAssertEqual(flat.allreduceByteCount, (64 + 4) * 4)
        let all = Array(UnsafeBufferPointer(start: flat.values.pointer, count: 64))
        XCTAssertEqual(all, [1, 2, 3, 4, 5, 6] + Array(repeating: 0, count: 10) + [8, 9] + Array(repeating: 0, count: 30) + [7] + Array(repeating: 0, count: 15))
        XCTAssertEqual(p[0].1.value.readPointer, UnsafePointer(flat.values.pointer), "the value is a view, not a copy")
        XCTAssertEqual(p[2].1.grad?.readPointer, UnsafePointer(flat.gradients.pointer + 48))
        XCTAssertEqual(p[2].1.grad?.scalars, [1.25])
        XCTAssertNil(p[1].1.grad)
        XCTAssertTrue(FlatParameters.binding(p + [("d", d)]) === flat, "the same list binds the same buffers")
        XCTAssertNil(FlatParameters.existing(for: p), "another list is not these flat parameters")
        XCTAssertEqual(flat.runs { flat.hasGradient($0) ? 0 : nil }.map { [$0.offset, $0.count] }, [[0, 6], [48, 1]],
                       "d and b have no gradient, so a and c do not merge")
        XCTAssertEqual(flat.runs { flat.slots[$0].shape.count >= 2 }.map { [$0.offset, $0.count] }, [[0, 18], [32, 17]],
                       "runs span the padding between their slots")
    }

    /// One allreduce carries every gradient: each comes back summed over the ranks, in its own
    /// slot; a parameter without a gradient on any rank stays without one.
    func testAllreduceSumsEveryGradientInOneCall() {
        let p = parameters()
        let flat = FlatParameters.binding(p)
        let ranks = IdenticalRanks(3)
        flat.allreduceGradients(over: ranks)
        XCTAssertEqual(ranks.calls, 1)
        XCTAssertEqual(p[0].1.grad?.scalars, [1.5, -3, 6, 0, 9, -12])
        XCTAssertEqual(p[0].1.grad?.shape, [2, 3])
        XCTAssertNil(p[1].1.grad)
        XCTAssertEqual(p[2].1.grad?.scalars, [3.75])
    }

    /// The replica checksum (`parameterChecksum` of data-parallel training) is Σp, Σp² over every
    /// value once, the padding adding nothing, and sees a value assigned since binding.
    func testValueChecksumCoversEveryValueOnce() {
        let p = parameters()
        let flat = FlatParameters.binding(p)
        XCTAssertEqual(flat.valueChecksum().sum, 28)
        XCTAssertEqual(flat.valueChecksum().sumOfSquares, 140)
        p[1].1.value = Tensor(shape: [4], scalars: [1, 1, 1, -0.5])
        XCTAssertEqual(flat.valueChecksum().sum, 30.5)
        XCTAssertEqual(flat.valueChecksum().sumOfSquares, 143.25)
    }

    /// Snapshots keep their values when the buffers are written in place (copy-on-write
    /// semantics), and a value assigned to a parameter is copied back into the buffer.
    func testSnapshotsAndAssignedValuesKeepValueSemantics() throws {
        let p = parameters()
        let sgd = SGD(parameters: p, learningRate: 1)
        let valueSnapshot = p[0].1.value, gradientSnapshot = p[0].1.grad!
        sgd.step()
        XCTAssertEqual(valueSnapshot.scalars, [1, 2, 3, 4, 5, 6], "a held value must not see the update")
        XCTAssertEqual(p[0].1.value.scalars, [0.5, 3, 1, 4, 2, 10])
        XCTAssertEqual(p[0].1.value.readPointer, UnsafePointer(sgd.flat.values.pointer), "the parameter stays in the buffer")
        let held = p[0].1.grad!
        sgd.flat.zeroGradients()
        XCTAssertEqual(gradientSnapshot.scalars, [0.5, -1, 2, 0, 3, -4])
        XCTAssertEqual(held.scalars, [0.5, -1, 2, 0, 3, -4], "a held gradient must not be zeroed")
        XCTAssertNil(p[0].1.grad)

        p[2].1.value = Tensor(shape: [1], scalars: [100])       // e.g. Module.load
        p[2].1.accumulateGradient(Tensor(shape: [1], scalars: [2]))
        XCTAssertEqual(p[2].1.grad?.readPointer, UnsafePointer(sgd.flat.gradients.pointer + 32), "the first gradient lands in its slot")
        sgd.step()
        XCTAssertEqual(p[2].1.value.scalars, [98])
        XCTAssertEqual(sgd.flat.values.pointer[32], 98, "the assigned value was brought back into the buffer")
        XCTAssertEqual(p[0].1.value.scalars, [0.5, 3, 1, 4, 2, 10], "no gradient, no update")

        let saved = sgd.flat.stateDict()
        XCTAssertEqual(saved.keys, ["a", "b", "c"])
        p[2].1.value = Tensor(shape: [1], scalars: [-1])
        try sgd.flat.load(saved)
        XCTAssertEqual(p[2].1.value.scalars, [98])
        XCTAssertThrowsError(try sgd.flat.load(StateDict([("a", Tensor(zeros: [6]))])))
    }

    /// Flat AdamW equals the per-tensor update it replaces, bit for bit, with a parameter
    /// skipped for lack of a gradient in the middle of a section.
    func testAdamWMatchesPerTensorUpdate() throws {
        var g = SeededGenerator(seed: 3)
        let shapes = [[3, 5], [5], [7, 2], [2], [1, 9], [4]]
        let values = shapes.map { Tensor.normal($0, using: &g) }
        let grads = shapes.map { Tensor.normal($0, using: &g) }
        let vars = values.map { Variable($0, requiresGrad: true) }
        let opt = AdamW(parameters: vars.enumerated().map { ("p\($0.offset)", $0.element) }, learningRate: 0.1, weightDecay: 0.3)
        var expected = values, m = shapes.map { Tensor(zeros: $0) }, v = m
        for step in 1...3 {
            for (k, x) in vars.enumerated() where k != 2 || step == 1 { x.accumulateGradient(grads[k]) }
            opt.step()
            for k in shapes.indices where k != 2 || step == 1 {
                let c = AdamCoefficients(decayFactor: shapes[k].count >= 2 ? Float(1 - 0.1 * 0.3) : 1, l2: 0, oneMinusBeta1: Float(1 - 0.9),
                                         beta2: 0.999, oneMinusBeta2: Float(1 - 0.999), stepSize: Float(0.1 / (1 - pow(0.9, Double(step)))),
                                         biasCorrection2Sqrt: Float((1 - pow(0.999, Double(step))).squareRoot()), epsilon: 1e-8)
                adamUpdate(expected[k].writePointer(), m[k].writePointer(), v[k].writePointer(), grads[k].readPointer, grads[k].count, c)
            }
            for (k, x) in vars.enumerated() { XCTAssertEqual(x.value.scalars, expected[k].scalars, "step \(step) p\(k)") }
            opt.flat.zeroGradients()
        }
        let state = opt.stateDict()
        XCTAssertEqual(Array(state.keys.prefix(4)), ["p0.exp_avg", "p0.exp_avg_sq", "p1.exp_avg", "p1.exp_avg_sq"])
        XCTAssertEqual(state["p4.exp_avg"]?.scalars, m[4].scalars)
        let again = AdamW(parameters: vars.enumerated().map { ("p\($0.offset)", $0.element) }, learningRate: 0.1, weightDecay: 0.3)
        try again.load(state)
        XCTAssertEqual(again.stateDict()["p5.exp_avg_sq"]?.scalars, v[5].scalars)
    }

    /// Rows are divided into contiguous blocks whose sizes differ by at most one, in rank order.
    func testShareCoversEveryRowOnce() {
        for total in [0, 1, 7, 8, 33] {
            for size in 1...5 {
                let blocks = (0..<size).map { SingleProcess.share(of: total, rank: $0, size: size) }
                XCTAssertEqual(blocks.flatMap { Array($0) }, Array(0..<total), "total \(total) size \(size)")
                let counts = blocks.map(\.count)
                XCTAssertLessThanOrEqual(counts.max()! - counts.min()!, 1)
            }
        }
    }
}
