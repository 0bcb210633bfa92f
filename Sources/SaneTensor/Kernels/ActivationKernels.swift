// Vectorized elementwise activations: forward y = f(x) and backward dx += dy·f'(x) as plain
// pointer loops, side by side, with no per-element closures and no branches, so LLVM emits
// AVX2 (ymm) code. The transcendental ones are built on `fastExp` (FastMath.swift) instead of
// libm's scalar tanhf/expf. Shapes: x, y, dx, dy (n). Backward accumulates.

/// tanh for float32, branch-free. |x| ≥ 0.4: tanh|x| = 1 − 2/(e^{2|x|} + 1) (the fastExp error
/// stays ≤ 3e-7 relative there); |x| < 0.4: the Taylor series x − x³/3 + 2x⁵/15 − … up to x¹³
/// (truncation < 1e-9), which keeps the relative accuracy near 0 where the first form cancels.
/// Max errors vs libm: see ActivationKernelTests.
@inline(__always)
public func fastTanh(_ x: Float) -> Float {
    let a = Swift.abs(x)
    let large = 1 - 2 / (fastExp(2 * Swift.min(a, 9)) + 1)
    let z = a * a
    var p: Float = 21844.0 / 6081075
    p = p * z - 1382.0 / 155925
    p = p * z + 62.0 / 2835
    p = p * z - 17.0 / 315
    p = p * z + 2.0 / 15
    p = p * z - 1.0 / 3
    let small = a + a * z * p
    let t = a < 0.4 ? small : large
    return Float(bitPattern: t.bitPattern | (x.bitPattern & 0x8000_0000))
}

/// σ(x) = 1/(1 + e^{−x}) with `fastExp` (inputs clamped to fastExp's range).
@inline(__always)
public func fastSigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }

public enum ActivationKernels {
    /// y = tanh x
    public static func tanhForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { y[i] = fastTanh(x[i]) }
    }
    /// dx += dy·(1 − y²)
    public static func tanhBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { let t = y[i]; dx[i] += dy[i] * (1 - t * t) }
    }

    /// y = σ(x)
    public static func sigmoidForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { y[i] = fastSigmoid(x[i]) }
    }
    /// dx += dy·y(1 − y)
    public static func sigmoidBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { let s = y[i]; dx[i] += dy[i] * (s * (1 - s)) }
    }

    /// y = max(x, 0) (NaN propagates)
    public static func reluForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = x[i]; y[i] = v < 0 ? 0 : v }
    }
    /// dx += dy·[x > 0]
    public static func reluBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { dx[i] += x[i] > 0 ? dy[i] : 0 }
    }

    /// y = x for x > 0, slope·x otherwise
    public static func leakyReluForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, slope: Float) {
        for i in 0..<n { let v = x[i]; y[i] = v > 0 ? v : slope * v }
    }
    /// dx += dy·(1 for x > 0, slope otherwise)
    public static func leakyReluBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, slope: Float) {
        for i in 0..<n { let g = dy[i]; dx[i] += x[i] > 0 ? g : slope * g }
    }

    /// y = x·σ(x)
    public static func siluForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = x[i]; y[i] = v * fastSigmoid(v) }
    }
    /// dx += dy·σ(x)(1 + x(1 − σ(x)))
    public static func siluBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = x[i], s = fastSigmoid(v); dx[i] += dy[i] * (s * (1 + v * (1 - s))) }
    }
}
