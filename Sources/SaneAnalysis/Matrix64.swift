import CBLAS
import SaneTensor

/// A small dense float64 matrix, row-major, for the analysis code (linear probes, spectra).
///
/// Accuracy matters more than speed, hence float64 throughout; Gram matrices, solves and
/// eigenvalues go to BLAS/LAPACK (OpenBLAS, or Accelerate on macOS), the rest are plain loops.
/// Element (i, j) lives at `values[i * columns + j]`.
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

    /// `A·Bᵀ`, [m, k] · [n, k]ᵀ → [m, n], by BLAS dgemm: the rows of the result split over
    /// `Parallel.workers` cores, one single-threaded dgemm each (deterministic for a given worker
    /// count). For large products (weight matching's profit matrices: n = 512 units, k up to 10⁴).
    public func timesTransposed(_ other: Matrix64) -> Matrix64 {
        precondition(columns == other.columns,
                     "Matrix64: cannot multiply \(rows)×\(columns) by the transpose of \(other.rows)×\(other.columns)")
        let (m, n, k) = (rows, other.rows, columns)
        var result = Matrix64(rows: m, columns: n)
        guard m > 0, n > 0, k > 0 else { return result }
        let parts = min(Parallel.workers, m)
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                result.values.withUnsafeMutableBufferPointer { c in
                    let (a, b, c) = (a.baseAddress!, b.baseAddress!, c.baseAddress!)
                    withOneBLASThread {
                        Parallel.forEach(parts) { part in
                            let (lo, hi) = (part * m / parts, (part + 1) * m / parts)
                            guard hi > lo else { return }
                            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(hi - lo), Int32(n), Int32(k),
                                        1, a + lo * k, Int32(k), b, Int32(k), 0, c + lo * n, Int32(n))
                        }
                    }
                }
            }
        }
        return result
    }

    /// Gram matrix of the rows, `A·Aᵀ` ([m, m]); symmetric.
    public func rowGram() -> Matrix64 { gram(ofColumns: false) }

    /// Gram matrix of the columns, `Aᵀ·A` ([n, n]); symmetric.
    public func columnGram() -> Matrix64 { gram(ofColumns: true) }

    /// `A·Aᵀ` or `AᵀA` by BLAS dsyrk (upper triangle), mirrored into the lower triangle.
    private func gram(ofColumns: Bool) -> Matrix64 {
        let (size, depth) = ofColumns ? (columns, rows) : (rows, columns)
        var gram = Matrix64(rows: size, columns: size)
        guard size > 0, depth > 0 else { return gram }
        values.withUnsafeBufferPointer { a in
            gram.values.withUnsafeMutableBufferPointer { c in
                withOneBLASThread {
                    cblas_dsyrk(CblasRowMajor, CblasUpper, ofColumns ? CblasTrans : CblasNoTrans,
                                Int32(size), Int32(depth), 1, a.baseAddress, Int32(columns), 0, c.baseAddress, Int32(size))
                }
                for i in 0..<size { for j in 0..<i { c[i * size + j] = c[j * size + i] } }
            }
        }
        return gram
    }

    // MARK: LAPACK

    public enum Failure: Error, CustomStringConvertible {
        /// The leading minor of this order (1-based) is not positive definite (LAPACK dpotrf's INFO).
        case notPositiveDefinite(order: Int)
        /// An input of `operation` holds NaN or an infinity.
        case nonFinite(operation: String)
        /// Any other nonzero INFO of a LAPACK routine: −i = argument i illegal, > 0 = no convergence.
        case lapack(routine: String, info: Int)

        public var description: String {
            switch self {
            case let .notPositiveDefinite(order):
                return "Matrix64.choleskySolve: matrix is not positive definite (leading minor of order \(order)). "
                    + "HINT: add a ridge term λI or check the input for duplicated columns."
            case let .nonFinite(operation):
                return "\(operation): input contains NaN or infinite values. HINT: check the weights or features it was given."
            case let .lapack(routine, info):
                return info < 0
                    ? "LAPACK \(routine): argument \(-info) is illegal (INFO \(info)); this is a bug in Sane, please report it."
                    : "LAPACK \(routine) did not converge (INFO \(info)). HINT: check the matrix for extreme values."
            }
        }
    }

    /// Solves `A·x = b` for symmetric positive definite `A` by Cholesky factorization `A = L·Lᵀ`
    /// and two triangular solves (LAPACK dposv; Golub & Van Loan, *Matrix Computations*, 4th ed., §4.2).
    /// Only the upper triangle of `A` is read (row-major upper = column-major lower).
    ///
    /// - Throws: `Failure.notPositiveDefinite` when a pivot is not positive (no silent
    ///   regularization is added); `Failure.nonFinite` for NaN or infinite inputs.
    public func choleskySolve(_ rightHandSide: [Double]) throws -> [Double] {
        precondition(rows == columns, "Matrix64.choleskySolve: matrix is \(rows)×\(columns), not square")
        precondition(rightHandSide.count == rows, "Matrix64.choleskySolve: right-hand side has \(rightHandSide.count) entries, need \(rows)")
        guard rows > 0 else { return [] }
        guard values.allSatisfy(\.isFinite), rightHandSide.allSatisfy(\.isFinite) else {
            throw Failure.nonFinite(operation: "Matrix64.choleskySolve")
        }
        let n = Int32(rows)
        var factor = values, solution = rightHandSide
        let info = withOneBLASThread { sane_dposv(lapackLower, n, 1, &factor, n, &solution, n) }
        if info > 0 { throw Failure.notPositiveDefinite(order: Int(info)) }
        try Matrix64.check(info, "dposv")
        return solution
    }

    /// Eigenvalues of a symmetric matrix, ascending (LAPACK dsyevd without vectors: Householder
    /// tridiagonalization, then the root-free QR iteration dsterf; Golub & Van Loan §8.3).
    /// Only the upper triangle is read. Each eigenvalue is within about n·ε·‖A‖₂ of the exact one.
    ///
    /// - Throws: `Failure.nonFinite` for NaN or infinite entries, `Failure.lapack` if the
    ///   iteration does not converge.
    public func symmetricEigenvalues() throws -> [Double] {
        precondition(rows == columns, "Matrix64.symmetricEigenvalues: matrix is \(rows)×\(columns), not square")
        guard rows > 0 else { return [] }
        guard values.allSatisfy(\.isFinite) else { throw Failure.nonFinite(operation: "Matrix64.symmetricEigenvalues") }
        let n = Int32(rows)
        var a = values, eigenvalues = [Double](repeating: 0, count: rows)
        var workSize = 0.0, integerWorkSize: Int32 = 0
        try Matrix64.check(sane_dsyevd(lapackNoVectors, lapackLower, n, &a, n, &eigenvalues, &workSize, -1, &integerWorkSize, -1), "dsyevd")
        var work = [Double](repeating: 0, count: max(1, Int(workSize)))
        var integerWork = [Int32](repeating: 0, count: max(1, Int(integerWorkSize)))
        let info = withOneBLASThread {
            sane_dsyevd(lapackNoVectors, lapackLower, n, &a, n, &eigenvalues, &work, Int32(work.count), &integerWork, Int32(integerWork.count))
        }
        try Matrix64.check(info, "dsyevd")
        return eigenvalues
    }

    private static func check(_ info: Int32, _ routine: String) throws {
        if info != 0 { throw Failure.lapack(routine: routine, info: Int(info)) }
    }
}

/// LAPACK's CHARACTER arguments: the triangle read ('L': column-major lower = our row-major upper)
/// and dsyevd's job ('N': eigenvalues only).
private let lapackLower = CChar(UInt8(ascii: "L"))
private let lapackNoVectors = CChar(UInt8(ascii: "N"))

/// Runs `body` with OpenBLAS on one thread and restores the caller's thread count. The analysis
/// matrices are small (Gram sides up to 512 for ResNet-18/34), and on the 2-core machine one thread
/// was faster at every size measured: spectra of the 528 mnist-cnn-seed checkpoints 0.08 s vs
/// 1.3 s on two threads, ResNet-18 width 64 0.58 s vs 0.66 s (BENCHMARKS.md, "Layer spectra").
/// Accelerate has no thread count to set.
private func withOneBLASThread<T>(_ body: () throws -> T) rethrows -> T {
    #if !os(macOS)
    let threads = openblas_get_num_threads()
    if threads != 1 { openblas_set_num_threads(1) }
    defer { if threads != 1 { openblas_set_num_threads(threads) } }
    #endif
    return try body()
}
