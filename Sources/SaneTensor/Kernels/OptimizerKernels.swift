// Elementwise optimizer updates in explicit SIMD8 code with `sqrt8`: LLVM left the plain loop
// scalar (Swift's square root is a libm call; 9–10 % of a d-1024 SANE step in `perf`).

/// The per-step scalars of an Adam/AdamW update (Float32 like PyTorch's tensors).
public struct AdamCoefficients {
    /// Decoupled weight decay factor 1 − lr·λ (AdamW; 1 for none).
    public var decayFactor: Float
    /// L2 coefficient added to the gradient (Adam's weight decay; 0 for none).
    public var l2: Float
    /// 1 − β₁, β₂, 1 − β₂.
    public var oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float
    /// lr / (1 − β₁ᵗ) and √(1 − β₂ᵗ).
    public var stepSize: Float, biasCorrection2Sqrt: Float
    public var epsilon: Float

    public init(decayFactor: Float, l2: Float, oneMinusBeta1: Float, beta2: Float, oneMinusBeta2: Float,
                stepSize: Float, biasCorrection2Sqrt: Float, epsilon: Float) {
        self.decayFactor = decayFactor; self.l2 = l2; self.oneMinusBeta1 = oneMinusBeta1; self.beta2 = beta2
        self.oneMinusBeta2 = oneMinusBeta2; self.stepSize = stepSize; self.biasCorrection2Sqrt = biasCorrection2Sqrt
        self.epsilon = epsilon
    }
}

/// One Adam/AdamW update of `n` parameters in place, torch's `_single_tensor_adam` arithmetic:
///
///     p' = p·(1 − lr·λ);  g' = g + λ₂·p';  m ← m + (1 − β₁)(g' − m);  v ← β₂·v + (1 − β₂)·g'²
///     p ← p' − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// Shapes: p, m, v, g (n). The decay terms are skipped (not multiplied by 1 or added as 0) when
/// they are off, as PyTorch does.
public func adamUpdate(_ p: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                       _ g: UnsafePointer<Float>, _ n: Int, _ c: AdamCoefficients) {
    @inline(__always) func update(decay: Bool, l2: Bool) {
        /// The update of eight lanes: (p, m, v) ← f(p, g, m, v).
        @inline(__always) func lanes(_ p: SIMD8<Float>, _ g: SIMD8<Float>, _ m: SIMD8<Float>, _ v: SIMD8<Float>)
            -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
            let decayed = decay ? p * c.decayFactor : p
            let grad = l2 ? g + c.l2 * decayed : g
            let m1 = m + c.oneMinusBeta1 * (grad - m)
            let v1 = v * c.beta2 + c.oneMinusBeta2 * grad * grad
            return (decayed - c.stepSize * (m1 / (sqrt8(v1) / c.biasCorrection2Sqrt + c.epsilon)), m1, v1)
        }
        var j = 0
        while j + 8 <= n {
            let (p1, m1, v1) = lanes(load8(p + j), load8(g + j), load8(m + j), load8(v + j))
            store8(p1, p + j); store8(m1, m + j); store8(v1, v + j)
            j += 8
        }
        if j < n {
            // padding lanes are zero: m, v, g = 0 give a finite update that is not stored
            let r = n - j
            let (p1, m1, v1) = lanes(load8(p + j, count: r), load8(g + j, count: r), load8(m + j, count: r), load8(v + j, count: r))
            store8(p1, p + j, count: r); store8(m1, m + j, count: r); store8(v1, v + j, count: r)
        }
    }
    switch (c.decayFactor != 1, c.l2 != 0) {
    case (false, false): update(decay: false, l2: false)
    case (true, false): update(decay: true, l2: false)
    case (false, true): update(decay: false, l2: true)
    case (true, true): update(decay: true, l2: true)
    }
}

/// The per-step scalars of an SGD update (Float32 like PyTorch's tensors; see `sgdUpdate`).
public struct SGDCoefficients {
    /// lr, λ (L2 weight decay added to the gradient; 0 for none), μ, 1 − dampening.
    public var learningRate: Float, weightDecay: Float, momentum: Float, oneMinusDampening: Float
    /// Whether a momentum buffer is kept (μ ≠ 0), Nesterov's variant, and whether this is the
    /// buffer's first update (b ← d instead of μ·b + (1 − dampening)·d).
    public var usesMomentum: Bool, nesterov: Bool, firstStep: Bool

    public init(learningRate: Float, weightDecay: Float, momentum: Float, oneMinusDampening: Float,
                usesMomentum: Bool, nesterov: Bool, firstStep: Bool) {
        self.learningRate = learningRate; self.weightDecay = weightDecay; self.momentum = momentum
        self.oneMinusDampening = oneMinusDampening; self.usesMomentum = usesMomentum; self.nesterov = nesterov
        self.firstStep = firstStep
    }
}

/// One SGD update of `n` parameters in place, torch's `_single_tensor_sgd` arithmetic:
///
///     d = g + λ·p;  b ← d (first step) or μ·b + (1 − dampening)·d  (with momentum)
///     d = d + μ·b (Nesterov) or b;  p ← p − lr·d
///
/// Shapes: p, b, g (n); b is untouched without momentum. Terms that are off are skipped.
public func sgdUpdate(_ p: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
                      _ n: Int, _ c: SGDCoefficients) {
    let (lr, wd, mu, damp) = (c.learningRate, c.weightDecay, c.momentum, c.oneMinusDampening)
    for j in 0..<n {
        var d = wd == 0 ? g[j] : g[j] + wd * p[j]
        if c.usesMomentum {
            b[j] = c.firstStep ? d : mu * b[j] + damp * d
            d = c.nesterov ? d + mu * b[j] : b[j]
        }
        p[j] -= lr * d
    }
}
