import XCTest
@testable import SaneAnalysis
import SaneTensor

final class Matrix64Tests: XCTestCase {
    func testProductAndTranspose() {
        let a = Matrix64(rowArrays: [[1, 2, 3], [4, 5, 6]])
        let b = Matrix64(rowArrays: [[1, 0], [0, 1], [2, -1]])
        XCTAssertEqual(a * b, Matrix64(rowArrays: [[7, -1], [16, -1]]))
        XCTAssertEqual(a.transposed(), Matrix64(rowArrays: [[1, 4], [2, 5], [3, 6]]))
        XCTAssertEqual(a.rowGram(), a * a.transposed())
        XCTAssertEqual(a.columnGram(), a.transposed() * a)
        XCTAssertEqual(a * [1, 1, 1], [6, 15])
    }

    /// dsyrk's Gram matrices equal the plain product on random data, for wide and tall shapes.
    func testGramMatchesProductOnRandomMatrices() {
        var generator = SplitMix64(seed: 3)
        for (m, n) in [(1, 1), (2, 7), (17, 5), (40, 300)] {
            let a = Matrix64(rows: m, columns: n, values: (0..<(m * n)).map { _ in generator.normal() })
            let row = maxAbsDifference(a.rowGram().values, (a * a.transposed()).values)
            let column = maxAbsDifference(a.columnGram().values, (a.transposed() * a).values)
            XCTAssertLessThan(max(row, column), 1e-12 * Double(max(m, n)), "\(m)×\(n): row \(row), column \(column)")
        }
        XCTAssertEqual(Matrix64(rows: 3, columns: 0).rowGram(), Matrix64(rows: 3, columns: 3))
    }

    /// dgemm's A·Bᵀ equals the plain product, on one worker and on three (rows split; fewer rows
    /// than workers too), and empty shapes give zeros.
    func testTimesTransposedMatchesProduct() {
        var generator = SplitMix64(seed: 4)
        for (m, n, k) in [(1, 1, 1), (2, 5, 3), (33, 17, 250), (64, 64, 9)] {
            let a = Matrix64(rows: m, columns: k, values: (0..<(m * k)).map { _ in generator.normal() })
            let b = Matrix64(rows: n, columns: k, values: (0..<(n * k)).map { _ in generator.normal() })
            let expected = (a * b.transposed()).values
            for workers in [1, 3] {
                let product = Parallel.$workers.withValue(workers) { a.timesTransposed(b) }
                XCTAssertEqual(product.rows, m); XCTAssertEqual(product.columns, n)
                XCTAssertLessThan(maxAbsDifference(product.values, expected), 1e-12 * Double(k), "\(m)×\(n)×\(k) on \(workers)")
            }
        }
        XCTAssertEqual(Matrix64(rows: 2, columns: 0).timesTransposed(Matrix64(rows: 3, columns: 0)), Matrix64(rows: 2, columns: 3))
    }

    func testCholeskySolve() throws {
        let a = Matrix64(rowArrays: [[4, 2, 0.4], [2, 5, 1], [0.4, 1, 3]])
        let x = [1.0, -2.0, 0.5]
        let solution = try a.choleskySolve(a * x)
        let error = maxAbsDifference(solution, x)
        XCTAssertLessThan(error, 1e-14, "max error \(error)")
    }

    func testEigenvaluesMatchNumpy() throws {
        let m = Matrix64(rowArrays: [[4, 1, -2, 2], [1, 2, 0, 1], [-2, 0, 3, -2], [2, 1, -2, -1]])
        // python3 -c "import numpy as np; print(np.linalg.eigvalsh(np.array(
        //   [[4,1,-2,2],[1,2,0,1],[-2,0,3,-2],[2,1,-2,-1]],dtype=float)).tolist())"
        let expected = [-2.197516977439427, 1.0843644637732177, 2.2685314064312423, 6.844621107234966]
        let error = maxAbsDifference(try m.symmetricEigenvalues(), expected)
        XCTAssertLessThan(error, 1e-12, "max error \(error)")
    }

    func testEigenvaluesOfRandomGramKeepTraceAndFrobeniusNorm() throws {
        var generator = SplitMix64(seed: 7)
        let b = Matrix64(rows: 30, columns: 30, values: (0..<900).map { _ in generator.normal() })
        let symmetric = b.rowGram()
        let eigenvalues = try symmetric.symmetricEigenvalues()
        let trace = (0..<30).reduce(0.0) { $0 + symmetric[$1, $1] }
        let frobenius = symmetric.values.reduce(0) { $0 + $1 * $1 }
        XCTAssertEqual(eigenvalues.reduce(0, +), trace, accuracy: 1e-9 * trace)
        XCTAssertEqual(eigenvalues.reduce(0) { $0 + $1 * $1 }, frobenius, accuracy: 1e-9 * frobenius)
        XCTAssertEqual(eigenvalues, eigenvalues.sorted())
        XCTAssertGreaterThan(eigenvalues[0], -1e-9)  // a Gram matrix is positive semidefinite
    }
}
