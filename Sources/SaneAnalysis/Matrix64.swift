/// A small dense float64 matrix, row-major, for the analysis code (linear probes, spectra).
///
/// Sizes here are at most a few thousand per side, so plain loops suffice; accuracy matters more
/// than speed, hence float64 throughout. Element (i, j) lives at `values[i * columns + j]`.
public struct Matrix64: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    /// Row-major storage, `rows * columns` values.
    public var values: [Double]

    public init(rows: Int, columns: Int, repeating value: Double = 0) {
        precondition(rows >= 0 && columns >= 0, "Matrix64: negative shape \(rows)×\(columns)")
        self.rows = rows
        self.columns = columns
        self.values = [Double](repeating: value, count: rows * columns)
    }

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns,
                     "Matrix64: \(values.count) values for shape \(rows)×\(columns)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// Builds a matrix from its rows; all rows must have the same length.
    public init(rowArrays: [[Double]]) {
        let columns = rowArrays.first?.count ?? 0
        precondition(rowArrays.allSatisfy { $0.count == columns }, "Matrix64: ragged rows")
        self.init(rows: rowArrays.count, columns: columns, values: rowArrays.flatMap { $0 })
    }

    public static func identity(size: Int) -> Matrix64 {
        var matrix = Matrix64(rows: size, columns: size)
        for i in 0..<size { matrix[i, i] = 1 }
        return matrix
    }

    public subscript(row: Int, column: Int) -> Double {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }

    public func row(_ index: Int) -> [Double] {
        Array(values[(index * columns)..<((index + 1) * columns)])
    }

    public func transposed() -> Matrix64 {
        var result = Matrix64(rows: columns, columns: rows)
        for i in 0..<rows {
            for j in 0..<columns { result.values[j * rows + i] = values[i * columns + j] }
        }
        return result
    }

    /// Matrix product `lhs · rhs`, [m, k] · [k, n] → [m, n] (i-k-j loop order, contiguous inner loop).
    public static func * (lhs: Matrix64, rhs: Matrix64) -> Matrix64 {
        precondition(lhs.columns == rhs.rows,
                     "Matrix64: cannot multiply \(lhs.rows)×\(lhs.columns) by \(rhs.rows)×\(rhs.columns)")
        let (m, k, n) = (lhs.rows, lhs.columns, rhs.columns)
        var result = [Double](repeating: 0, count: m * n)
        lhs.values.withUnsafeBufferPointer { a in
            rhs.values.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { c in
                    for i in 0..<m {
                        for p in 0..<k {
                            let aip = a[i * k + p]
                            if aip == 0 { continue }
                            let bRow = p * n, cRow = i * n
                            for j in 0..<n { c[cRow + j] += aip * b[bRow + j] }
                        }
                    }
                }
            }
        }
        return Matrix64(rows: m, columns: n, values: result)
    }

    /// Matrix–vector product `A · x`, [m, n] · [n] → [m].
    public static func * (matrix: Matrix64, vector: [Double]) -> [Double] {
        precondition(matrix.columns == vector.count,
                     "Matrix64: cannot multiply \(matrix.rows)×\(matrix.columns) by a vector of \(vector.count)")
        var result = [Double](repeating: 0, count: matrix.rows)
        for i in 0..<matrix.rows {
            var sum = 0.0
            let base = i * matrix.columns
            for j in 0..<matrix.columns { sum += matrix.values[base + j] * vector[j] }
            result[i] = sum
        }
        return result
    }

    /// Gram matrix of the rows, `A·Aᵀ` ([m, m]); symmetric, computed as dot products of rows.
    public func rowGram() -> Matrix64 {
        var gram = Matrix64(rows: rows, columns: rows)
        values.withUnsafeBufferPointer { a in
            for i in 0..<rows {
                for j in 0...i {
                    var sum = 0.0
                    let ri = i * columns, rj = j * columns
                    for p in 0..<columns { sum += a[ri + p] * a[rj + p] }
                    gram.values[i * rows + j] = sum
                    gram.values[j * rows + i] = sum
                }
            }
        }
        return gram
    }

    /// Gram matrix of the columns, `Aᵀ·A` ([n, n]).
    public func columnGram() -> Matrix64 { transposed().rowGram() }

    // MARK: Cholesky

    public enum Failure: Error, CustomStringConvertible {
        /// The pivot at `index` was not positive: the matrix is not (numerically) positive definite.
        case notPositiveDefinite(index: Int, pivot: Double)

        public var description: String {
            switch self {
            case let .notPositiveDefinite(index, pivot):
                return "Matrix64.choleskySolve: matrix is not positive definite (pivot \(index) = \(pivot)). "
                    + "HINT: add a ridge term λI or check the input for NaN / duplicated columns."
            }
        }
    }

    /// Solves `A·x = b` for symmetric positive definite `A` by Cholesky factorization `A = L·Lᵀ`
    /// followed by forward and backward substitution.
    ///
    /// - Throws: `Failure.notPositiveDefinite` when a pivot `A_jj − Σ_k L_jk²` is not positive
    ///   (or not finite); no silent regularization is added.
    public func choleskySolve(_ rightHandSide: [Double]) throws -> [Double] {
        precondition(rows == columns, "Matrix64.choleskySolve: matrix is \(rows)×\(columns), not square")
        precondition(rightHandSide.count == rows, "Matrix64.choleskySolve: right-hand side has \(rightHandSide.count) entries, need \(rows)")
        let n = rows
        // L is stored row-major; its rows are contiguous, so every inner loop is a dot product of rows.
        var lower = [Double](repeating: 0, count: n * n)
        try values.withUnsafeBufferPointer { a in
            try lower.withUnsafeMutableBufferPointer { l in
                for j in 0..<n {
                    var pivot = a[j * n + j]
                    for k in 0..<j { pivot -= l[j * n + k] * l[j * n + k] }
                    guard pivot > 0, pivot.isFinite else { throw Failure.notPositiveDefinite(index: j, pivot: pivot) }
                    let diagonal = pivot.squareRoot()
                    l[j * n + j] = diagonal
                    for i in (j + 1)..<n {
                        var sum = a[i * n + j]
                        for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                        l[i * n + j] = sum / diagonal
                    }
                }
            }
        }
        // L·z = b
        var z = rightHandSide
        for i in 0..<n {
            var sum = z[i]
            for k in 0..<i { sum -= lower[i * n + k] * z[k] }
            z[i] = sum / lower[i * n + i]
        }
        // Lᵀ·x = z
        var x = z
        for i in stride(from: n - 1, through: 0, by: -1) {
            var sum = x[i]
            for k in (i + 1)..<n { sum -= lower[k * n + i] * x[k] }
            x[i] = sum / lower[i * n + i]
        }
        return x
    }

    // MARK: Symmetric eigenvalues

    /// Eigenvalues of a symmetric matrix, ascending, by the cyclic Jacobi method.
    ///
    /// Each sweep visits every pair (p, q), p < q, and applies the rotation that zeroes `A_pq`
    /// (Golub & Van Loan, *Matrix Computations*, 4th ed., §8.5, Algorithm 8.5.2 "symmetric Schur"):
    ///   θ = (A_qq − A_pp) / (2 A_pq),  t = sign(θ) / (|θ| + √(1 + θ²)),  c = 1/√(1 + t²),  s = t·c.
    /// Sweeps stop when the off-diagonal Frobenius norm is below 1e-15 · ‖A‖_F (quadratic convergence,
    /// typically 6–10 sweeps). Only the upper triangle of the input is read.
    public func symmetricEigenvalues(maximumSweeps: Int = 100) -> [Double] {
        precondition(rows == columns, "Matrix64.symmetricEigenvalues: matrix is \(rows)×\(columns), not square")
        let n = rows
        var a = values
        // Symmetrize from the upper triangle.
        for i in 0..<n { for j in 0..<i { a[i * n + j] = a[j * n + i] } }
        let totalNorm = a.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let tolerance = 1e-15 * totalNorm
        for _ in 0..<maximumSweeps {
            var offDiagonal = 0.0
            for p in 0..<n { for q in (p + 1)..<n { offDiagonal += 2 * a[p * n + q] * a[p * n + q] } }
            if offDiagonal.squareRoot() <= tolerance { break }
            for p in 0..<n {
                for q in (p + 1)..<n {
                    let apq = a[p * n + q]
                    if apq == 0 { continue }
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (1 + theta * theta).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot()
                    let s = t * c
                    // A ← Jᵀ A J with J the rotation in the (p, q) plane.
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                }
            }
        }
        return (0..<n).map { a[$0 * n + $0] }.sorted()
    }
}
