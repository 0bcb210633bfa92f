import Foundation

// Softmax and log-softmax over the last axis, row by row.

/// softmax(x)_j = exp(x_j − max x) / Σ_i exp(x_i − max x), rows of length n. In place allowed.
@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var m = -Float.infinity
    for j in 0..<n { m = Swift.max(m, x[j]) }
    if m == -.infinity { for j in 0..<n { y[j] = 0 }; return }   // fully masked row
    var s: Float = 0
    for j in 0..<n { let e = expf(x[j] - m); y[j] = e; s += e }
    let inv = 1 / s
    for j in 0..<n { y[j] *= inv }
}

/// Softmax backward for one row: dx_j += y_j (dy_j − Σ_i dy_i y_i).
@inline(__always)
func softmaxRowBackward(_ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
    var dot: Float = 0
    for j in 0..<n { dot += dy[j] * y[j] }
    for j in 0..<n { dx[j] += y[j] * (dy[j] - dot) }
}

extension Variable {
    /// Softmax over the last axis.
    public func softmax() -> Variable {
        let x = self, n = shape.last!, rows = count / Swift.max(n, 1)
        let y = Tensor(shape: shape) { out in
            let p = x.value.readPointer
            for r in 0..<rows { softmaxRow(p + r * n, out + r * n, n) }
        }
        return Variable(y, parents: [x]) { g in
            let dx = x.gradientPointer(), py = y.readPointer, pg = g.readPointer
            for r in 0..<rows { softmaxRowBackward(py + r * n, pg + r * n, dx + r * n, n) }
        }
    }

    /// log softmax over the last axis: x_j − max − log Σ exp(x_i − max).
    /// Backward: dx_j = dy_j − softmax_j · Σ_i dy_i.
    public func logSoftmax() -> Variable {
        let x = self, n = shape.last!, rows = count / Swift.max(n, 1)
        let y = Tensor(shape: shape) { out in
            let p = x.value.readPointer
            for r in 0..<rows {
                let row = p + r * n, o = out + r * n
                var m = -Float.infinity
                for j in 0..<n { m = Swift.max(m, row[j]) }
                var s: Double = 0
                for j in 0..<n { s += Double(expf(row[j] - m)) }
                let lse = m + Float(Foundation.log(s))
                for j in 0..<n { o[j] = row[j] - lse }
            }
        }
        return Variable(y, parents: [x]) { g in
            let dx = x.gradientPointer(), py = y.readPointer, pg = g.readPointer
            for r in 0..<rows {
                let yr = py + r * n, gr = pg + r * n, d = dx + r * n
                var s: Float = 0
                for j in 0..<n { s += gr[j] }
                for j in 0..<n { d[j] += gr[j] - expf(yr[j]) * s }
            }
        }
    }
}
