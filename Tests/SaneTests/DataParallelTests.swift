import XCTest
@testable import Sane

/// Rank 1 of 2 whose peer's rows are fixed: allgather puts `peer` before the local rows.
private final class SecondOfTwo: Communicator {
    let peer: [Float]
    init(peer: [Float]) { self.peer = peer }
    var rank: Int { 1 }
    var size: Int { 2 }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    func allreduce(_ values: inout [Double], _ op: ReductionOperation) {}
    func allgather(_ local: [Float], counts: [Int]) -> [Float] { precondition(counts == [peer.count, local.count]); return peer + local }
    func broadcast(_ bytes: [UInt8], root: Int) -> [UInt8] { bytes }
    func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]? { nil }
    func barrier() {}
    func abort(_ message: String, code: Int32) -> Never { fatalError(message) }
}

final class DataParallelTests: XCTestCase {
    /// gatheredRows: forward puts the ranks' rows in rank order; backward hands this rank exactly
    /// its block of the output gradient (checked against finite differences of NT-Xent).
    func testGatheredRowsGradientIsTheOwnBlock() {
        var g = SeededGenerator(seed: 3)
        let f = 4, rows = [0..<3, 3..<5]
        let peer1 = Tensor.normal([3, f], using: &g), peer2 = Tensor.normal([3, f], using: &g)
        let x1 = Variable(Tensor.normal([2, f], using: &g), requiresGrad: true)
        let x2 = Variable(Tensor.normal([2, f], using: &g), requiresGrad: true)
        func loss() -> Variable {
            let a = Variable.gatheredRows(x1, rows: rows, over: SecondOfTwo(peer: peer1.scalars))
            let b = Variable.gatheredRows(x2, rows: rows, over: SecondOfTwo(peer: peer2.scalars))
            XCTAssertEqual(a.shape, [5, f])
            XCTAssertEqual(Array(a.value.scalars.prefix(3 * f)), peer1.scalars)
            return Variable.ntXent(a, b, temperature: 0.5)
        }
        loss().backward()
        var worst: Float = 0
        for x in [x1, x2] {
            let analytic = x.grad!.scalars
            for i in 0..<x.count {
                let saved = x.value.scalars[i], h: Float = 1e-2
                x.value.withMutableHostBuffer { $0[i] = saved + h }
                let up = Variable.withoutGradients { loss().value.scalar }
                x.value.withMutableHostBuffer { $0[i] = saved - h }
                let down = Variable.withoutGradients { loss().value.scalar }
                x.value.withMutableHostBuffer { $0[i] = saved }
                worst = max(worst, abs((up - down) / (2 * h) - analytic[i]))
            }
        }
        XCTAssertLessThan(worst, 2e-3, "max abs error \(worst)")
    }

    /// A batch's row block keeps the rows' tokens, masks and positions together.
    func testViewBatchRows() {
        var g = SeededGenerator(seed: 4)
        let t = Tensor.normal([3, 2, 5], using: &g)
        let positions = (0..<18).map(Int32.init)
        let batch = ViewBatch(tokens1: t, tokens2: t, mask1: t, mask2: t, positions1: positions, positions2: positions,
                              keyMask1: Tensor.normal([3, 2], using: &g))
        let r = batch.rows(1..<3)
        XCTAssertEqual(r.tokens1.shape, [2, 2, 5])
        XCTAssertEqual(r.tokens1.scalars, Array(t.scalars[10..<30]))
        XCTAssertEqual(r.positions2, Array(positions[6..<18]))
        XCTAssertEqual(r.keyMask1?.scalars, Array(batch.keyMask1!.scalars[2..<6]))
        XCTAssertNil(r.keyMask2)
    }
}
