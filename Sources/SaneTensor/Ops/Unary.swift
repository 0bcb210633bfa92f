// Elementwise functions y = f(x); the backward accumulates dx += dy·f'(x). The formulas and the
// derivative of each are listed with `PointwiseFunction` (Backend/Backend.swift).

extension Variable {
    /// y = f(x) on the current backend; backward dx += dy·f'(x).
    public func pointwise(_ f: PointwiseFunction) -> Variable {
        let x = self, n = count, backend = Backends.current
        let y = Tensor(shape: shape) { backend.pointwiseForward(f, y: $0, x: x.value.readPointer, count: n) }
        return Variable(y, parents: [x]) { g in
            backend.pointwiseBackward(f, dx: x.gradientPointer(), dy: g.readPointer, x: x.value.readPointer, y: y.readPointer, count: n)
        }
    }

    /// eˣ
    public func exp() -> Variable { pointwise(.exp) }
    /// ln x
    public func log() -> Variable { pointwise(.log) }
    /// √x
    public func sqrt() -> Variable { pointwise(.sqrt) }
    /// x²
    public func squared() -> Variable { pointwise(.square) }
    /// tanh x; derivative 1 − y² (CPU: vectorized `fastTanh`)
    public func tanh() -> Variable { pointwise(.tanh) }
    /// σ(x) = 1/(1+e⁻ˣ); derivative y(1 − y) (CPU: vectorized `fastSigmoid`)
    public func sigmoid() -> Variable { pointwise(.sigmoid) }
    /// max(x, 0); derivative [x > 0]
    public func relu() -> Variable { pointwise(.relu) }
    /// x for x > 0, slope·x otherwise (PyTorch default slope 0.01)
    public func leakyRelu(slope: Float = 0.01) -> Variable { pointwise(.leakyRelu(slope: slope)) }
    /// GELU, exact erf form: ½x(1 + erf(x/√2)) (CPU: erf to 1.5e-7, see FastMath.swift).
    public func gelu() -> Variable { pointwise(.gelu) }
    /// SiLU (swish): x·σ(x); derivative σ(x)(1 + x(1 − σ(x))) (CPU: vectorized `fastSigmoid`)
    public func silu() -> Variable { pointwise(.silu) }
}
