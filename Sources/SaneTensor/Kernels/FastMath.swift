// Branch-free float32 exp and erf that LLVM vectorizes (libm's expf/erff are scalar calls, and
// GELU over every MLP activation made them ~15 % of a SANE training step).

/// eˣ for float32: x = n·ln2 + r (Cody–Waite, two-part ln2), e^r by a degree-6 Taylor/minimax
/// polynomial on |r| ≤ ln2/2, scaled by 2ⁿ through the exponent bits. Max relative error ≈ 2e-7
/// on [−87, 88]; inputs are clamped to that range (underflow gives ~0, not denormals).
@inline(__always)
public func fastExp(_ x: Float) -> Float {
    let xc = Swift.min(Swift.max(x, -87.0), 88.0)
    // Round to nearest integer by the 1.5·2²³ trick: t's low mantissa bits hold n. No
    // float→int conversion (whose range checks would stop the loop from vectorizing).
    let t = xc * 1.44269504088896341 + 12_582_912.0
    let n = t - 12_582_912.0
    let r = (xc - n * 0.693359375) - n * -2.12194440e-4
    var p: Float = 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    let scale = Float(bitPattern: (t.bitPattern &- 0x4B40_0000 &+ 127) << 23)
    return p * scale
}

/// erf(x) by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7): with t = 1/(1 + 0.3275911|x|),
/// erf|x| = 1 − t(a₁ + t(a₂ + t(a₃ + t(a₄ + t·a₅))))·e^{−x²}; odd in x.
@inline(__always)
public func fastErf(_ x: Float) -> Float { fastErf(x, expMinusSquare: fastExp(-x * x)) }

/// `fastErf(x)` given e^{−x²} (GELU's backward has it at hand as the normal density's factor).
@inline(__always)
func fastErf(_ x: Float, expMinusSquare e: Float) -> Float {
    let ax = Swift.abs(x)
    let t = 1 / (1 + 0.3275911 * ax)
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    let y = 1 - poly * e
    return x < 0 ? -y : y
}

/// GELU forward (exact erf form): y = ½x(1 + erf(x/√2)). Shapes: x, y (n).
public func geluForward(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { let v = x[i]; y[i] = 0.5 * v * (1 + fastErf(v * 0.70710678118654752)) }
}

/// GELU backward, accumulating: dx += dy·(Φ(x) + x·φ(x)), Φ(x) = ½(1 + erf(x/√2)), φ(x) = e^{−x²/2}/√(2π).
/// One exponential per element: with u = x/√2, e^{−u²} = e^{−x²/2} serves both erf and φ.
public func geluBackward(_ dx: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n {
        let v = x[i], u = v * 0.70710678118654752
        let e = fastExp(-u * u)
        let cdf = 0.5 * (1 + fastErf(u, expMinusSquare: e))
        dx[i] += dy[i] * (cdf + v * (e * 0.39894228040143268))
    }
}
