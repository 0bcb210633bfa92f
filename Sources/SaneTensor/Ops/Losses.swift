import Foundation

// Loss functions, fused forward/backward (scalar outputs).

extension Variable {
    /// Mean cross-entropy of logits [N, K] against integer labels (N):
    ///   L = −(1/N) Σ_n log softmax(x_n)[y_n];  dL/dx_n = (softmax(x_n) − onehot(y_n)) / N
    public static func crossEntropy(logits: Variable, labels: [Int]) -> Variable {
        precondition(logits.shape.count == 2 && logits.shape[0] == labels.count,
                     "crossEntropy: logits \(logits.shape) vs \(labels.count) labels")
        let n = labels.count, k = logits.shape[1], backend = Backends.current
        for label in labels { precondition(label >= 0 && label < k, "label \(label) out of range 0..<\(k)") }
        let labels32 = labels.map { Int32($0) }
        var probs = Tensor(uninitialized: [n, k])
        let pp = probs.writePointer()
        let loss = Tensor(shape: []) { out in
            labels32.withUnsafeBufferPointer {
                backend.crossEntropyForward(loss: out, probs: pp, logits: logits.value.readPointer, labels: $0.baseAddress!, rows: n, classes: k)
            }
        }
        return Variable(loss, parents: [logits]) { g in
            labels32.withUnsafeBufferPointer {
                backend.crossEntropyBackward(dlogits: logits.gradientPointer(), dloss: g.readPointer, probs: probs.readPointer,
                                             labels: $0.baseAddress!, rows: n, classes: k)
            }
        }
    }

    /// Masked mean squared error: Σ m·(ŷ − y)² / Σ m, over entries with mask 1 (SANE-SPEC §5).
    /// prediction and target share a shape; mask is that shape too (0/1 values).
    /// Only `prediction` receives a gradient: dL/dŷ = 2 m (ŷ − y) / Σ m.
    public static func maskedMSE(prediction: Variable, target: Tensor, mask: Tensor) -> Variable {
        precondition(prediction.shape == target.shape && target.shape == mask.shape,
                     "maskedMSE: shapes \(prediction.shape), \(target.shape), \(mask.shape) differ")
        let n = target.count, backend = Backends.current
        var denominator = Tensor(uninitialized: [])
        let pd = denominator.writePointer()
        let loss = Tensor(shape: []) {
            backend.maskedMSEForward(loss: $0, denominator: pd, prediction: prediction.value.readPointer,
                                     target: target.readPointer, mask: mask.readPointer, count: n)
        }
        return Variable(loss, parents: [prediction]) { g in
            backend.maskedMSEBackward(dprediction: prediction.gradientPointer(), dloss: g.readPointer, denominator: denominator.readPointer,
                                      prediction: prediction.value.readPointer, target: target.readPointer, mask: mask.readPointer, count: n)
        }
    }

    /// MultiZoo's masked per-token loss normalization (SANE-SPEC §3): with μ, σ the scalar mean and
    /// std of the target over real (mask = 1) entries, compare (ŷ − μ)/(σ + ε) with (y − μ)/(σ + ε)
    /// by MSE averaged over real entries only:
    ///
    ///     L = Σ m·((ŷ − μ)·s − (y − μ)·s)² / Σ m,  s = 1/(σ + ε);  dL/dŷ = 2 s² m (ŷ − y) / Σ m
    ///
    /// μ, σ are constants (no gradient). `moments` (μ, σ) default to those of `target`;
    /// data-parallel ranks pass the global batch's.
    public static func normalizedMaskedMSE(prediction: Variable, target: Tensor, mask: Tensor, epsilon: Float = 1e-4,
                                           moments: (mean: Double, std: Double)? = nil) -> Variable {
        let (mean, std) = moments ?? maskedMoments(target, mask: mask)
        let scale = Float(1 / (std + Double(epsilon))), backend = Backends.current
        let shifted = broadcastBinary(target, Tensor(Float(mean)), .subtract, backend)
        let normalizedTarget = broadcastBinary(shifted, Tensor(scale), .multiply, backend)
        return maskedMSE(prediction: (prediction - Float(mean)) * scale, target: normalizedTarget, mask: mask)
    }

    /// Mean and standard deviation of `target` over entries with mask ≠ 0 (Float64 sums, on the host).
    public static func maskedMoments(_ target: Tensor, mask: Tensor) -> (mean: Double, std: Double) {
        var s: Double = 0, s2: Double = 0, m: Double = 0
        let pt = target.readPointer, pm = mask.readPointer
        for i in 0..<target.count where pm[i] != 0 { s += Double(pt[i]); s2 += Double(pt[i]) * Double(pt[i]); m += 1 }
        let mean = s / Swift.max(m, 1)
        return (mean, (Swift.max(s2 / Swift.max(m, 1) - mean * mean, 0)).squareRoot())
    }

    /// NT-Xent (SimCLR, Chen et al. 2020) over two views z1, z2 [B, F] at temperature τ:
    /// u = normalize(concat(z1, z2)) [2B, F], s_ij = u_i·u_j / τ, the positive of i is i ± B, and
    ///   L = (1/2B) Σ_i [ −s_{i,pos(i)} + log Σ_{j≠i} exp(s_ij) ]
    /// Computed in float64 on the host (2B is small); not behind the backend seam yet.
    public static func ntXent(_ z1: Variable, _ z2: Variable, temperature tau: Float) -> Variable {
        precondition(z1.shape == z2.shape && z1.shape.count == 2, "ntXent: views \(z1.shape) and \(z2.shape) must be equal [B, F]")
        let b = z1.shape[0], f = z1.shape[1], n = 2 * b
        var u = [Double](repeating: 0, count: n * f), norms = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let src = i < b ? z1.value.readPointer + i * f : z2.value.readPointer + (i - b) * f
            var s: Double = 0
            for j in 0..<f { s += Double(src[j]) * Double(src[j]) }
            norms[i] = Swift.max(s.squareRoot(), 1e-8)
            for j in 0..<f { u[i * f + j] = Double(src[j]) / norms[i] }
        }
        var sim = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { var s: Double = 0; for q in 0..<f { s += u[i * f + q] * u[j * f + q] }; sim[i * n + j] = s / Double(tau) } }
        var p = [Double](repeating: 0, count: n * n)   // softmax over j ≠ i
        var loss: Double = 0
        for i in 0..<n {
            let pos = i < b ? i + b : i - b
            var m = -Double.infinity
            for j in 0..<n where j != i { m = Swift.max(m, sim[i * n + j]) }
            var s: Double = 0
            for j in 0..<n where j != i { let e = Foundation.exp(sim[i * n + j] - m); p[i * n + j] = e; s += e }
            for j in 0..<n where j != i { p[i * n + j] /= s }
            loss += -sim[i * n + pos] + m + Foundation.log(s)
        }
        loss /= Double(n)
        return Variable(Tensor(Float(loss)), parents: [z1, z2]) { g in
            // dL/ds_ij = (p_ij − [j = pos(i)]) / n ; s_ij = u_i·u_j/τ
            let scale = Double(g.scalar) / Double(n)
            var du = [Double](repeating: 0, count: n * f)
            for i in 0..<n {
                let pos = i < b ? i + b : i - b
                for j in 0..<n where j != i {
                    let gs = scale * (p[i * n + j] - (j == pos ? 1 : 0)) / Double(tau)
                    for q in 0..<f { du[i * f + q] += gs * u[j * f + q]; du[j * f + q] += gs * u[i * f + q] }
                }
            }
            // through normalization: dz = (du − u (u·du)) / ‖z‖
            for i in 0..<n {
                let target = i < b ? z1 : z2
                guard target.requiresGrad else { continue }
                let d = target.gradientPointer() + (i < b ? i : i - b) * f
                var dot: Double = 0
                for q in 0..<f { dot += u[i * f + q] * du[i * f + q] }
                for q in 0..<f { d[q] += Float((du[i * f + q] - u[i * f + q] * dot) / norms[i]) }
            }
        }
    }
}
