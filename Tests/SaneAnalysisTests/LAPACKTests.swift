import XCTest
@testable import SaneAnalysis

/// The LAPACK paths of Matrix64 (dsyevd eigenvalues, dposv solves) against references that do not
/// come from the code under test: NumPy's eigenvalues (LAPACKGolden.swift), matrices built with a
/// known spectrum, systems with a known inverse, and backward-error (residual) bounds.
final class LAPACKTests: XCTestCase {
    static let epsilon = Double.ulpOfOne

    /// S_n[i, j] = ((i + 1)(j + 1) mod 7) + ((i + j) mod 5) − 4, as in Scripts/golden/make_lapack_golden.py.
    static func formulaMatrix(_ n: Int) -> Matrix64 {
        var s = Matrix64(rows: n, columns: n)
        for i in 0..<n { for j in 0..<n { s[i, j] = Double((i + 1) * (j + 1) % 7 + (i + j) % 5 - 4) } }
        return s
    }

    /// Q·diag(d)·Q with Q = I − 2uuᵀ/(uᵀu) a Householder reflection (orthogonal and symmetric):
    /// a symmetric matrix whose eigenvalues are exactly `d`, up to the rounding of forming it.
    /// Entry (i, j) = d_i δ_ij − β u_i u_j (d_i + d_j) + β² (Σ_k d_k u_k²) u_i u_j, β = 2/(uᵀu).
    static func knownSpectrum(_ d: [Double], generator: inout SplitMix64) -> Matrix64 {
        let n = d.count
        let u = (0..<n).map { _ in generator.normal() }
        let beta = 2 / u.reduce(0) { $0 + $1 * $1 }
        let weighted = zip(d, u).reduce(0) { $0 + $1.0 * $1.1 * $1.1 }
        var a = Matrix64(rows: n, columns: n)
        for i in 0..<n {
            for j in 0..<n {
                a[i, j] = (i == j ? d[i] : 0) - beta * u[i] * u[j] * (d[i] + d[j]) + beta * beta * weighted * u[i] * u[j]
            }
        }
        return a
    }

    static let sizes = [1, 2, 17, 300]

    func testEigenvaluesMatchNumPy() throws {
        for n in Self.sizes {
            let expected = try XCTUnwrap(lapackGoldenEigenvalues[n])
            let eigenvalues = try Self.formulaMatrix(n).symmetricEigenvalues()
            let scale = expected.map(abs).max()!
            let error = maxAbsDifference(eigenvalues, expected)
            XCTAssertLessThan(error, 20 * Double(n) * Self.epsilon * scale, "n \(n): max abs error \(error), ‖S‖₂ \(scale)")
        }
    }

    /// Indefinite, clustered (repeated eigenvalues) and ill-conditioned (κ = 1e15) spectra at every
    /// size: each computed eigenvalue within c·n·ε·‖A‖₂ of the planted one (dsyevd's bound).
    func testEigenvaluesOfKnownSpectra() throws {
        var generator = SplitMix64(seed: 11)
        for n in Self.sizes {
            let spectra: [(String, [Double])] = [
                ("indefinite", (0..<n).map { _ in 10 * generator.normal() }),
                ("clustered", (0..<n).map { Double($0 % 3) - 1 }),
                ("ill-conditioned", (0..<n).map { pow(10, -15 * Double($0) / Double(max(n - 1, 1))) }),
            ]
            for (name, d) in spectra {
                let a = Self.knownSpectrum(d, generator: &generator)
                let eigenvalues = try a.symmetricEigenvalues()
                let scale = d.map(abs).max()!
                let error = maxAbsDifference(eigenvalues, d.sorted())
                XCTAssertLessThan(error, 50 * Double(n) * Self.epsilon * scale, "\(name) n \(n): max abs error \(error), ‖A‖₂ \(scale)")
            }
        }
    }

    /// Only the upper triangle is read: garbage below the diagonal changes nothing.
    func testEigenvaluesReadTheUpperTriangle() throws {
        var a = Self.formulaMatrix(17)
        for i in 0..<17 { for j in 0..<i { a[i, j] = 1e6 } }
        XCTAssertLessThan(maxAbsDifference(try a.symmetricEigenvalues(), lapackGoldenEigenvalues[17]!), 1e-12)
    }

    /// K[i, j] = min(i, j) + 1 is SPD with a tridiagonal inverse (2 on the diagonal, 1 in the
    /// last place, −1 beside it), so K·x = 1 has the exact solution x = e₀; κ(K) grows like n².
    func testSolveWithKnownInverse() throws {
        for n in Self.sizes {
            var k = Matrix64(rows: n, columns: n)
            for i in 0..<n { for j in 0..<n { k[i, j] = Double(min(i, j) + 1) } }
            let x = try k.choleskySolve([Double](repeating: 1, count: n))
            let exact = (0..<n).map { $0 == 0 ? 1.0 : 0.0 }
            let error = maxAbsDifference(x, exact)
            XCTAssertLessThan(error, 1e-15 * Double(n * n) * 10, "n \(n): max abs error \(error)")
        }
    }

    /// Random SPD systems and the Hilbert matrix (κ(H₁₀) ≈ 1.6e13): Cholesky is backward stable,
    /// so the residual is at rounding level relative to ‖A‖·‖x̂‖ however bad the conditioning.
    func testSolveResidualsOnRandomAndIllConditionedSystems() throws {
        var generator = SplitMix64(seed: 5)
        var systems: [(String, Matrix64)] = Self.sizes.map { n in
            let b = Matrix64(rows: n, columns: n + 3, values: (0..<(n * (n + 3))).map { _ in generator.normal() })
            return ("random SPD \(n)", b.rowGram())
        }
        var hilbert = Matrix64(rows: 10, columns: 10)
        for i in 0..<10 { for j in 0..<10 { hilbert[i, j] = 1 / Double(i + j + 1) } }
        systems.append(("Hilbert 10", hilbert))
        for (name, a) in systems {
            let rightHandSide = (0..<a.rows).map { _ in generator.normal() }
            let x = try a.choleskySolve(rightHandSide)
            let residual = zip(a * x, rightHandSide).map { abs($0 - $1) }.max()!
            let normA = (0..<a.rows).map { i in a.row(i).reduce(0) { $0 + abs($1) } }.max()!   // ‖A‖_∞
            let relative = residual / (normA * x.map(abs).max()!)
            XCTAssertLessThan(relative, 10 * Double(a.rows) * Self.epsilon, "\(name): relative residual \(relative)")
        }
    }

    func testSolveRejectsMatricesThatAreNotPositiveDefinite() {
        let cases: [(String, Matrix64, Int)] = [
            ("indefinite", Matrix64(rowArrays: [[1, 2], [2, 1]]), 2),
            ("singular", Matrix64(rowArrays: [[1, 2], [2, 4]]), 2),
            ("negative", Matrix64(rowArrays: [[-1]]), 1),
        ]
        for (name, a, order) in cases {
            XCTAssertThrowsError(try a.choleskySolve([Double](repeating: 1, count: a.rows)), name) { error in
                guard case Matrix64.Failure.notPositiveDefinite(order: order) = error else {
                    return XCTFail("\(name): unexpected error \(error)")
                }
                XCTAssertTrue("\(error)".contains("HINT"), "\(error)")
            }
        }
    }

    /// OpenBLAS's dpotrf accepts a NaN pivot (INFO 0), so NaN and infinities are caught before LAPACK.
    func testNonFiniteInputsAreErrors() {
        let nan = Matrix64(rowArrays: [[.nan, 0], [0, 1]])
        let infinite = Matrix64(rowArrays: [[1, .infinity], [.infinity, 1]])
        let good = Matrix64.identity(size: 2)
        for (name, call) in [("solve NaN", { _ = try nan.choleskySolve([1, 1]) }),
                             ("solve NaN rhs", { _ = try good.choleskySolve([1, .nan]) }),
                             ("eigen ∞", { _ = try infinite.symmetricEigenvalues() }),
                             ("spectrum NaN", { _ = try Spectral.eigenvalues(weights: [1, .nan, 0, 1], outputs: 2, inputs: 2) })] as [(String, () throws -> Void)] {
            XCTAssertThrowsError(try call(), name) { error in
                guard case Matrix64.Failure.nonFinite = error else { return XCTFail("\(name): unexpected error \(error)") }
                XCTAssertTrue("\(error)".contains("NaN or infinite"), "\(error)")
            }
        }
    }

    func testEmptyMatrices() throws {
        XCTAssertEqual(try Matrix64(rows: 0, columns: 0).symmetricEigenvalues(), [])
        XCTAssertEqual(try Matrix64(rows: 0, columns: 0).choleskySolve([]), [])
    }

    func testLAPACKFailureMessages() {
        XCTAssertTrue("\(Matrix64.Failure.lapack(routine: "dsyevd", info: -5))".contains("argument 5 is illegal"))
        XCTAssertTrue("\(Matrix64.Failure.lapack(routine: "dsyevd", info: 3))".contains("did not converge"))
    }
}
