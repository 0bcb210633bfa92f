import Foundation

// Fused non-causal multi-head self-attention, forward/backward pair (SANE-SPEC §4).
//
//   Q, K, V = split(qkv) per head,  S = Q·Kᵀ/√D (masked keys → −∞),  P = softmax(S),  O = P·V
//
// Shapes: qkv (B, T, 3C) with q | k | v blocks of C = H·D columns; out (B, T, C);
// probabilities P (B, H, T, T) are cached for the backward pass; keyMask (B, T), 1 = attend.
// Heads and batch items are independent: they run in parallel over the cores, each per-head GEMM
// on its core (`sgemm` does not split inside a parallel region).

func attentionForward(_ out: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>,
                      _ qkv: UnsafePointer<Float>, _ keyMask: UnsafePointer<Float>?,
                      _ b: Int, _ t: Int, _ c: Int, _ heads: Int) {
    let d = c / heads, scale = 1 / Float(d).squareRoot()
    Parallel.forEach(b * heads) { bh in
        let bi = bh / heads, h = bh % heads
        let base = qkv + bi * t * 3 * c
        let p = probs + bh * t * t
        sgemm(transposeA: false, transposeB: true, m: t, n: t, k: d, alpha: scale,
              a: base + h * d, lda: 3 * c, b: base + c + h * d, ldb: 3 * c, c: p, ldc: t)
        if let keyMask {
            let mrow = keyMask + bi * t
            for i in 0..<t { let row = p + i * t; for j in 0..<t where mrow[j] == 0 { row[j] = -.infinity } }
        }
        for i in 0..<t { softmaxRow(p + i * t, p + i * t, t) }
        sgemm(transposeA: false, transposeB: false, m: t, n: d, k: t,
              a: p, lda: t, b: base + 2 * c + h * d, ldb: 3 * c, c: out + bi * t * c + h * d, ldc: c)
    }
}

/// Accumulates dqkv from dout:
///   dP = dO·Vᵀ,  dV += Pᵀ·dO,  dS = P ⊙ (dP − rowsum(dP ⊙ P)),  dQ += dS·K/√D,  dK += dSᵀ·Q/√D
func attentionBackward(_ dqkv: UnsafeMutablePointer<Float>, _ dout: UnsafePointer<Float>,
                       _ qkv: UnsafePointer<Float>, _ probs: UnsafePointer<Float>,
                       _ b: Int, _ t: Int, _ c: Int, _ heads: Int) {
    let d = c / heads, scale = 1 / Float(d).squareRoot()
    Parallel.forEach(b * heads) { bh in
        let bi = bh / heads, h = bh % heads
        let base = qkv + bi * t * 3 * c, dbase = dqkv + bi * t * 3 * c
        let p = probs + bh * t * t, dO = dout + bi * t * c + h * d
        let ds = UnsafeMutablePointer<Float>.allocate(capacity: t * t)
        defer { ds.deallocate() }
        sgemm(transposeA: false, transposeB: true, m: t, n: t, k: d,
              a: dO, lda: c, b: base + 2 * c + h * d, ldb: 3 * c, c: ds, ldc: t)
        sgemm(transposeA: true, transposeB: false, m: t, n: d, k: t,
              a: p, lda: t, b: dO, ldb: c, beta: 1, c: dbase + 2 * c + h * d, ldc: 3 * c)
        for i in 0..<t {
            let pr = p + i * t, dr = ds + i * t
            var dot: Float = 0
            for j in 0..<t { dot += dr[j] * pr[j] }
            for j in 0..<t { dr[j] = pr[j] * (dr[j] - dot) }
        }
        sgemm(transposeA: false, transposeB: false, m: t, n: d, k: t, alpha: scale,
              a: ds, lda: t, b: base + c + h * d, ldb: 3 * c, beta: 1, c: dbase + h * d, ldc: 3 * c)
        sgemm(transposeA: true, transposeB: false, m: t, n: d, k: t, alpha: scale,
              a: ds, lda: t, b: base + h * d, ldb: 3 * c, beta: 1, c: dbase + c + h * d, ldc: 3 * c)
    }
}
