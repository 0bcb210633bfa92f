// The transformer ops: layer norm over the last axis and fused multi-head self-attention.
// Kernels: Kernels/LayerNormKernel.swift and Kernels/AttentionKernel.swift (CPU backend).

extension Variable {
    /// Layer norm over the last axis (Ba, Kiros & Hinton 2016) with learned `weight` and optional
    /// `bias` (SANE blocks use no bias): y = (x − μ)/√(σ² + ε)·w (+ b).
    public static func layerNorm(_ x: Variable, weight: Variable, bias: Variable? = nil, epsilon: Float = 1e-5) -> Variable {
        let c = x.shape.last!, n = x.count / c, backend = Backends.current
        precondition(weight.shape == [c], "layerNorm weight \(weight.shape) does not match last axis \(c)")
        if let bias { precondition(bias.shape == [c], "layerNorm bias \(bias.shape) does not match last axis \(c)") }
        // μ, rstd (N)
        var mean = Tensor(uninitialized: [n]), rstd = Tensor(uninitialized: [n])
        let pm = mean.writePointer(), pr = rstd.writePointer()
        let y = Tensor(shape: x.shape) {
            backend.layerNormForward(y: $0, mean: pm, rstd: pr, x: x.value.readPointer, weight: weight.value.readPointer,
                                     bias: bias?.value.readPointer, rows: n, width: c, epsilon: epsilon)
        }
        let parents = bias.map { [x, weight, $0] } ?? [x, weight]
        return Variable(y, parents: parents) { g in
            backend.layerNormBackward(dx: x.requiresGrad ? x.gradientPointer() : nil,
                                      dweight: weight.requiresGrad ? weight.gradientPointer() : nil,
                                      dbias: (bias?.requiresGrad ?? false) ? bias!.gradientPointer() : nil,
                                      dy: g.readPointer, x: x.value.readPointer, weight: weight.value.readPointer,
                                      mean: mean.readPointer, rstd: rstd.readPointer, rows: n, width: c)
        }
    }

    /// Multi-head self-attention over fused projections: qkv [B, T, 3C] → [B, T, C] (SANE-SPEC §4).
    /// `keyMask` [B, T] (1 = real token, 0 = ignore as a key) is optional.
    public static func attention(qkv: Variable, heads: Int, keyMask: Tensor? = nil) -> Variable {
        precondition(qkv.shape.count == 3 && qkv.shape[2] % (3 * heads) == 0,
                     "attention needs qkv [B, T, 3C] with C divisible by heads, got \(qkv.shape), heads \(heads)")
        let b = qkv.shape[0], t = qkv.shape[1], c = qkv.shape[2] / 3, backend = Backends.current
        if let keyMask { precondition(keyMask.shape == [b, t], "keyMask \(keyMask.shape) must be [\(b), \(t)]") }
        // P (B, H, T, T)
        var probs = Tensor(uninitialized: [b, heads, t, t])
        let pp = probs.writePointer()
        let y = Tensor(shape: [b, t, c]) {
            backend.attentionForward(out: $0, probs: pp, qkv: qkv.value.readPointer, keyMask: keyMask?.readPointer,
                                     batch: b, tokens: t, width: c, heads: heads)
        }
        return Variable(y, parents: [qkv]) { g in
            backend.attentionBackward(dqkv: qkv.gradientPointer(), dout: g.readPointer, qkv: qkv.value.readPointer, probs: probs.readPointer,
                                      batch: b, tokens: t, width: c, heads: heads)
        }
    }
}
