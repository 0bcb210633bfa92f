import CGEMM
@testable import SaneTensor
import XCTest

/// Sane's own SGEMM (`Sources/CGEMM`, behind `sgemm` on AVX-512 CPUs) against a double-precision
/// reference: ragged shapes, all transpose cases, α and β, padded leading dimensions, β = 0 over a
/// C full of NaN, with the cache-derived blocking and with small blocks that make small products
/// cross every KC/MC/NC edge (KC not a multiple of the 16-deep packing transposes). The padding
/// around C must come back untouched. The tests skip on CPUs without AVX-512F.
final class GEMMKernelTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(BLAS.ownGEMMAvailable, "this CPU has no AVX-512F: Sane's own GEMM is not used here (sgemm runs OpenBLAS)")
    }

    override func tearDown() { sane_gemm_set_blocking(0, 0, 0) }

    /// One product: op(A)[m×k], op(B)[k×n], C[m×n] stored with padded rows, filled with random
    /// values (or NaN when beta = 0), multiplied by `multiply`, compared with the reference.
    struct Case {
        let ta: Bool, tb: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float
        /// Extra elements per stored row of A, B and C.
        let pad: Int
    }

    /// Runs `c` through `multiply` (which gets sgemm's arguments) and returns the worst error in
    /// units of the bound (≤ 1 passes) and a description; checks C's padding is untouched.
    func check(_ c: Case, using g: inout SeededGenerator,
               _ multiply: (Bool, Bool, Int, Int, Int, Float, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int,
                            Float, UnsafeMutablePointer<Float>, Int) -> Void) -> (Double, String) {
        let (aRows, aCols) = c.ta ? (c.k, c.m) : (c.m, c.k)
        let (bRows, bCols) = c.tb ? (c.n, c.k) : (c.k, c.n)
        let lda = aCols + c.pad, ldb = bCols + c.pad, ldc = c.n + c.pad
        let a = (0..<aRows * lda).map { _ in Float.random(in: -1...1, using: &g) }
        let b = (0..<bRows * ldb).map { _ in Float.random(in: -1...1, using: &g) }
        let sentinel: Float = 12345
        var out = (0..<c.m * ldc).map { i in
            i % ldc >= c.n ? sentinel : c.beta == 0 ? Float.nan : Float.random(in: -1...1, using: &g)
        }
        let before = out
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in out.withUnsafeMutableBufferPointer { pc in
            multiply(c.ta, c.tb, c.m, c.n, c.k, c.alpha, pa.baseAddress!, lda, pb.baseAddress!, ldb, c.beta, pc.baseAddress!, ldc)
        } } }
        var worst = 0.0, maxAbs = 0.0, maxRel = 0.0, paddingWritten = false
        for i in 0..<c.m {
            for j in 0..<c.n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<c.k {
                    let x = Double(c.ta ? a[p * lda + i] : a[i * lda + p]), y = Double(c.tb ? b[j * ldb + p] : b[p * ldb + j])
                    sum += x * y; magnitude += abs(x * y)
                }
                let c0 = c.beta == 0 ? 0 : Double(before[i * ldc + j])
                let expected = Double(c.alpha) * sum + Double(c.beta) * c0
                let bound = Double(c.k + 2) * 1.2e-7 * (abs(Double(c.alpha)) * magnitude + abs(Double(c.beta) * c0)) + 1e-30
                let got = Double(out[i * ldc + j])
                let error = got.isFinite ? abs(got - expected) : .infinity
                worst = max(worst, error / bound)
                maxAbs = max(maxAbs, error); maxRel = max(maxRel, error / max(abs(expected), 1e-30))
            }
            for j in c.n..<ldc where out[i * ldc + j] != sentinel { worst = .infinity; paddingWritten = true }
        }
        return (worst, "\(c.ta ? "T" : "N")\(c.tb ? "T" : "N") m \(c.m) n \(c.n) k \(c.k) α \(c.alpha) β \(c.beta) pad \(c.pad): "
                + "max abs error \(maxAbs), max rel error \(maxRel), worst error / bound \(worst)" + (paddingWritten ? ", wrote into C's row padding" : ""))
    }

    /// The C kernel on the calling thread, as `sgemm` calls it per core.
    static func kernel(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
                       _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        sane_sgemm(ta ? 1 : 0, tb ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }

    /// Every transpose case, (α, β) pair and ragged shape, for one blocking.
    func checkAllCases(shapes: [(Int, Int, Int)], label: String) {
        var g = SeededGenerator(seed: 18)
        let scalars: [(Float, Float)] = [(1, 0), (1, 1), (0.5, -0.3), (0.5, 0), (1, -0.3), (0.5, 1)]
        var checked = 0
        for ta in [false, true] {
            for tb in [false, true] {
                for (s, (m, n, k)) in shapes.enumerated() {
                    let (alpha, beta) = scalars[s % scalars.count]
                    let (worst, text) = check(Case(ta: ta, tb: tb, m: m, n: n, k: k, alpha: alpha, beta: beta, pad: s % 3 == 0 ? 0 : 5),
                                              using: &g, Self.kernel)
                    XCTAssertLessThanOrEqual(worst, 1, "\(label): \(text)")
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 4 * shapes.count)
    }

    /// Every combination of the sizes, k a little smaller so the reference stays quick.
    static let raggedShapes: [(Int, Int, Int)] = {
        var shapes: [(Int, Int, Int)] = []
        for m in [1, 7, 15, 17, 33, 100, 257] { for n in [1, 7, 17, 33, 100, 257] { for k in [1, 15, 17, 100, 257] { shapes.append((m, n, k)) } } }
        return shapes.enumerated().filter { $0.offset % 3 == 0 || $0.element.0 * $0.element.1 * $0.element.2 < 100_000 }.map(\.element)
    }()

    func testKernelMatchesReferenceWithCacheBlocking() {
        var mc: Int32 = 0, kc: Int32 = 0, nc: Int32 = 0
        sane_gemm_blocking(&mc, &kc, &nc)
        XCTAssert(mc > 0 && kc > 0 && nc > 0, "blocking \(mc) \(kc) \(nc)")
        checkAllCases(shapes: Self.raggedShapes, label: "blocking MC \(mc) KC \(kc) NC \(nc)")
    }

    func testKernelMatchesReferenceAcrossSmallBlocks() {
        var rows: Int32 = 0, columns: Int32 = 0
        sane_gemm_tile(&rows, &columns)
        // MC, KC, NC: one tile; two tiles with a KC off the 16-deep transposes; three row tiles
        let blocks: [(Int32, Int32, Int32)] = [(rows, 7, columns), (2 * rows, 23, 2 * columns), (3 * rows, 40, columns)]
        for (mc, kc, nc) in blocks {
            sane_gemm_set_blocking(mc, kc, nc)
            var m: Int32 = 0, k: Int32 = 0, n: Int32 = 0
            sane_gemm_blocking(&m, &k, &n)
            XCTAssertEqual([m, k, n], [mc, kc, nc])
            checkAllCases(shapes: Self.raggedShapes, label: "blocking MC \(mc) KC \(kc) NC \(nc)")
        }
    }

    /// A product larger than the cache blocks (k > KC, n > NC, m past a tile edge).
    func testKernelMatchesReferenceBeyondCacheBlocks() {
        var mc: Int32 = 0, kc: Int32 = 0, nc: Int32 = 0
        sane_gemm_blocking(&mc, &kc, &nc)
        var g = SeededGenerator(seed: 7)
        for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
            let c = Case(ta: ta, tb: tb, m: 37, n: Int(nc) + 45, k: 2 * Int(kc) + 9, alpha: 0.5, beta: -0.3, pad: 3)
            let (worst, text) = check(c, using: &g, Self.kernel)
            XCTAssertLessThanOrEqual(worst, 1, text)
        }
    }

    /// `sgemm` with the own GEMM forced, split over 1 and 2 workers (by rows when m ≥ n, else by
    /// columns): correct, and the same bits whatever the split.
    func testSGEMMSplitsOverWorkersWithTheSameBits() {
        BLAS.$backend.withValue(.own) { splitsWithTheSameBits() }
    }

    private func splitsWithTheSameBits() {
        var g = SeededGenerator(seed: 3)
        for (m, n, k) in [(300, 150, 90), (90, 301, 100), (1000, 40, 64), (40, 1000, 64)] {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                var results: [[Float]] = []
                for workers in [1, 2] {
                    var state = g   // the same inputs for both worker counts
                    var stored: [Float] = []
                    let (worst, text) = Parallel.$workers.withValue(workers) {
                        check(Case(ta: ta, tb: tb, m: m, n: n, k: k, alpha: 1, beta: 1, pad: 2), using: &state) {
                            sgemm(transposeA: $0, transposeB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9,
                                  beta: $10, c: $11, ldc: $12)
                            stored = Array(UnsafeBufferPointer(start: $11, count: $2 * $12))
                        }
                    }
                    XCTAssertLessThanOrEqual(worst, 1, "\(workers) workers: \(text)")
                    results.append(stored)
                }
                g = SeededGenerator(seed: UInt64(m * n + k))
                XCTAssert(results[0].elementsEqual(results[1]) { $0.bitPattern == $1.bitPattern },
                          "\(ta ? "T" : "N")\(tb ? "T" : "N") \(m)×\(n)×\(k): 1 and 2 workers differ")
            }
        }
    }
}
