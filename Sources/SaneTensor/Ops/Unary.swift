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

/// An activation from a vectorized kernel pair (Kernels/ActivationKernels.swift): forward
/// `f(y, x, n)`, backward `b(dx, dy, s, n)` accumulating dx += dy·f'(·), where s is the output y
/// (`fromOutput`) or the input x. One call per tensor, so no per-element closure.
func activation(_ x: Variable, _ f: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void,
                backward b: @escaping (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, Int) -> Void,
                fromOutput: Bool) -> Variable {
    let n = x.count
    let y = Tensor(shape: x.shape) { f($0, x.value.readPointer, n) }
    return Variable(y, parents: [x]) { g in
        b(x.gradientPointer(), g.readPointer, fromOutput ? y.readPointer : x.value.readPointer, n)
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
    /// tanh x; derivative 1 − y² (vectorized, `fastTanh`)
    public func tanh() -> Variable { activation(self, ActivationKernels.tanhForward, backward: ActivationKernels.tanhBackward, fromOutput: true) }
    /// σ(x) = 1/(1+e⁻ˣ); derivative y(1 − y) (vectorized, `fastSigmoid`)
    public func sigmoid() -> Variable { activation(self, ActivationKernels.sigmoidForward, backward: ActivationKernels.sigmoidBackward, fromOutput: true) }
    /// max(x, 0); derivative [x > 0]
    public func relu() -> Variable { activation(self, ActivationKernels.reluForward, backward: ActivationKernels.reluBackward, fromOutput: false) }
    /// x for x > 0, slope·x otherwise (PyTorch default slope 0.01)
    public func leakyRelu(slope: Float = 0.01) -> Variable {
        activation(self, { ActivationKernels.leakyReluForward($0, $1, $2, slope: slope) },
                   backward: { ActivationKernels.leakyReluBackward($0, $1, $2, $3, slope: slope) }, fromOutput: false)
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
    /// SiLU (swish): x·σ(x); derivative σ(x)(1 + x(1 − σ(x))) (vectorized, `fastSigmoid`)
    public func silu() -> Variable { activation(self, ActivationKernels.siluForward, backward: ActivationKernels.siluBackward, fromOutput: false) }
}
