@testable import SaneTensor
import XCTest

/// `BLAS.profile` (behind `sane bench sane-step --gemm-profile`) records every `sgemm` call made
/// outside a parallel region, by shape, with its FLOPs; calls inside one are left out.
final class GEMMProfileTests: XCTestCase {
    func testProfileCountsCallsByShapeOutsideParallelRegions() {
        let profile = GEMMProfile()
        BLAS.$profile.withValue(profile) { Parallel.$workers.withValue(2) { callGEMMs() } }
        let rows = Dictionary(uniqueKeysWithValues: profile.sorted.map { ($0.shape.description, $0.entry) })
        XCTAssertEqual(Set(rows.keys), ["NN 64×48×32", "TN 32×48×64"], "\(rows.keys.sorted())")
        XCTAssertEqual(rows["NN 64×48×32"]?.calls, 3)
        XCTAssertEqual(rows["NN 64×48×32"]?.flops, 3 * 2 * 64 * 48 * 32)
        XCTAssertEqual(rows["TN 32×48×64"]?.calls, 1)
        XCTAssertGreaterThan(rows["NN 64×48×32"]?.nanoseconds ?? 0, 0)
    }

    /// Three NN 64×48×32 products and one TN 32×48×64 outside a parallel region, two 8×8×8 inside one.
    private func callGEMMs() {
        var g = SeededGenerator(seed: 1)
        let a = Tensor.normal([64, 32], using: &g), b = Tensor.normal([32, 48], using: &g)
        var c = Tensor(zeros: [64, 48])
        let pc = c.writePointer()
        for _ in 0..<3 {
            sgemm(transposeA: false, transposeB: false, m: 64, n: 48, k: 32, a: a.readPointer, lda: 32, b: b.readPointer, ldb: 48, c: pc, ldc: 48)
        }
        let d = UnsafeMutablePointer<Float>.allocate(capacity: 32 * 48)
        defer { d.deallocate() }
        sgemm(transposeA: true, transposeB: false, m: 32, n: 48, k: 64, a: a.readPointer, lda: 32, b: c.readPointer, ldb: 48, c: d, ldc: 48)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * 8 * 8)
        defer { scratch.deallocate() }
        Parallel.forEach(2) { i in
            sgemm(transposeA: false, transposeB: false, m: 8, n: 8, k: 8, a: a.readPointer, lda: 32, b: b.readPointer, ldb: 48,
                  c: scratch + 64 * i, ldc: 8)
        }
    }
}
