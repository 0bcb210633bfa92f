import Foundation

// Softmax rows on the CPU: the forward/backward pair behind `CPUBackend`'s softmax, and the row
// kernel its attention and cross-entropy reuse. Shapes: x, y, dx, dy (n), one row.

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
