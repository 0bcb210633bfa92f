import Foundation

// Softmax and log-softmax over the last axis, row by row, and the CPU row kernels they share
// with attention and cross-entropy.

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
    /// Softmax over the last axis; backward dx += y ⊙ (dy − Σ dy ⊙ y).
    public func softmax() -> Variable {
        let x = self, n = shape.last!, rows = count / Swift.max(n, 1), backend = Backends.current
        let y = Tensor(shape: shape) { backend.softmaxForward(y: $0, x: x.value.readPointer, rows: rows, n: n) }
        return Variable(y, parents: [x]) { g in
            backend.softmaxBackward(dx: x.gradientPointer(), dy: g.readPointer, y: y.readPointer, rows: rows, n: n)
        }
    }

    /// log softmax over the last axis: x_j − max − log Σ exp(x_i − max).
    /// Backward: dx_j = dy_j − softmax_j · Σ_i dy_i.
    public func logSoftmax() -> Variable {
        let x = self, n = shape.last!, rows = count / Swift.max(n, 1), backend = Backends.current
        let y = Tensor(shape: shape) { backend.logSoftmaxForward(y: $0, x: x.value.readPointer, rows: rows, n: n) }
        return Variable(y, parents: [x]) { g in
            backend.logSoftmaxBackward(dx: x.gradientPointer(), dy: g.readPointer, y: y.readPointer, rows: rows, n: n)
        }
    }
}
