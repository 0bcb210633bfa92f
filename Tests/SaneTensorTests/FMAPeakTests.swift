import CFMAPeak
import XCTest

/// `sane bench peak` counts 24 · lanes FLOP per iteration of `sane_fma_chains`; check that the
/// function does that arithmetic: 12 chains a ← a·x + y from a = seed + i, on every lane.
final class FMAPeakTests: XCTestCase {
    func testChainsComputeTwelveFMAChainsOnEveryLane() {
        let lanes = Int(sane_fma_lanes())
        XCTAssert([4, 8, 16].contains(lanes), "lanes \(lanes)")
        let x: Float = 0.999_999, y: Float = 1e-7, seed: Float = 2
        for iterations in [1, 3, 100] {
            var expected = 0.0
            for i in 0..<12 {
                var a = seed + Float(i)
                for _ in 0..<iterations { a = y.addingProduct(a, x) }   // fused, as the FMA units (no FMA: ≤ 1 ulp per step apart)
                expected += Double(a)
            }
            expected *= Double(lanes)
            let got = Double(sane_fma_chains(iterations, seed))
            XCTAssertEqual(got, expected, accuracy: 1e-5 * expected,
                           "\(iterations) iterations, \(lanes) lanes: got \(got), expected \(expected), rel. error \(abs(got - expected) / expected)")
        }
    }
}
