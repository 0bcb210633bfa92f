import XCTest
@testable import SaneNN
import SaneTensor

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

final class GradientBufferTests: XCTestCase {
    /// One allreduce carries every gradient: each comes back summed over the ranks, in its own
    /// slot; a parameter without a gradient on any rank stays without one.
    func testAllreduceSumsEveryGradientInOneCall() {
        let a = Variable(Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]), requiresGrad: true)
        let b = Variable(Tensor(shape: [4], scalars: [0, 0, 0, 0]), requiresGrad: true)
        let c = Variable(Tensor(shape: [1], scalars: [7]), requiresGrad: true)
        a.accumulateGradient(Tensor(shape: [2, 3], scalars: [0.5, -1, 2, 0, 3, -4]))
        c.accumulateGradient(Tensor(shape: [1], scalars: [1.25]))
        let buffer = GradientBuffer(parameters: [("a", a), ("b", b), ("c", c)])
        XCTAssertEqual(buffer.offsets, [0, 6, 10, 11])
        XCTAssertEqual(buffer.byteCount, (11 + 3) * 4)
        let ranks = IdenticalRanks(3)
        buffer.allreduceSum(over: ranks)
        XCTAssertEqual(ranks.calls, 1)
        XCTAssertEqual(a.grad?.scalars, [1.5, -3, 6, 0, 9, -12])
        XCTAssertEqual(a.grad?.shape, [2, 3])
        XCTAssertNil(b.grad)
        XCTAssertEqual(c.grad?.scalars, [3.75])
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
