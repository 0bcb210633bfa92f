import Foundation

// Elementwise functions y = f(x) with dy/dx written as a function of (x, y).
// Each entry: forward formula, derivative, and the op on Variable.

/// An elementwise op: forward `f(x)` and local derivative `d(x, y) = f'(x)`.
@inline(__always)
func elementwise(_ x: Variable, _ f: (Float) -> Float, derivative d: @escaping (Float, Float) -> Float) -> Variable {
    let n = x.count
    let y = Tensor(shape: x.shape) { out in
        let p = x.value.readPointer
        for i in 0..<n { out[i] = f(p[i]) }
    }
    return Variable(y, parents: [x]) { g in
        let dx = x.gradientPointer(), px = x.value.readPointer, py = y.readPointer, pg = g.readPointer
        for i in 0..<n { dx[i] += pg[i] * d(px[i], py[i]) }
    }
}



extension Variable {
    /// eˣ
    public func exp() -> Variable { elementwise(self, { expf($0) }, derivative: { _, y in y }) }
    /// ln x
    public func log() -> Variable { elementwise(self, { logf($0) }, derivative: { x, _ in 1 / x }) }
    /// √x
    public func sqrt() -> Variable { elementwise(self, { $0.squareRoot() }, derivative: { _, y in 0.5 / y }) }
    /// x²
    public func squared() -> Variable { elementwise(self, { $0 * $0 }, derivative: { x, _ in 2 * x }) }
    /// tanh x; derivative 1 − y²
    public func tanh() -> Variable { elementwise(self, { tanhf($0) }, derivative: { _, y in 1 - y * y }) }
    /// σ(x) = 1/(1+e⁻ˣ); derivative y(1 − y)
    public func sigmoid() -> Variable { elementwise(self, { 1 / (1 + expf(-$0)) }, derivative: { _, y in y * (1 - y) }) }
    /// max(x, 0)
    public func relu() -> Variable { elementwise(self, { Swift.max($0, 0) }, derivative: { x, _ in x > 0 ? 1 : 0 }) }
    /// x for x > 0, slope·x otherwise (PyTorch default slope 0.01)
    public func leakyRelu(slope: Float = 0.01) -> Variable {
        elementwise(self, { $0 > 0 ? $0 : slope * $0 }, derivative: { x, _ in x > 0 ? 1 : slope })
    }
    /// GELU, exact erf form: ½x(1 + erf(x/√2)) (erf to 1.5e-7, see FastMath.swift).
    public func gelu() -> Variable {
        let x = self, n = count
        let y = Tensor(shape: shape) { out in
            Parallel.forEach(n / 4096 + 1) { c in
                let lo = c * 4096, hi = Swift.min(n, lo + 4096)
                if hi > lo { geluForward(out + lo, x.value.readPointer + lo, hi - lo) }
            }
        }
        return Variable(y, parents: [x]) { g in
            let dx = x.gradientPointer(), px = x.value.readPointer, pg = g.readPointer
            Parallel.forEach(n / 4096 + 1) { c in
                let lo = c * 4096, hi = Swift.min(n, lo + 4096)
                if hi > lo { geluBackward(dx + lo, pg + lo, px + lo, hi - lo) }
            }
        }
    }
    /// SiLU (swish): x·σ(x); derivative σ(x)(1 + x(1 − σ(x)))
    public func silu() -> Variable {
        elementwise(self, { $0 / (1 + expf(-$0)) }, derivative: { x, _ in
            let s = 1 / (1 + expf(-x)); return s * (1 + x * (1 - s))
        })
    }
}
