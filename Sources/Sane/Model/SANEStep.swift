import SaneNN
import SaneTensor

/// One batch of two augmented views of token windows (SANE-SPEC §3, §5).
public struct ViewBatch {
    /// [B, T, d_t] each
    public var tokens1: Tensor, tokens2: Tensor
    /// [B, T, d_t], 1 = real value
    public var mask1: Tensor, mask2: Tensor
    /// B·T·3 each
    public var positions1: [Int32], positions2: [Int32]
    /// [B, T], 1 = real token (nil when every token is real)
    public var keyMask1: Tensor?, keyMask2: Tensor?

    public init(tokens1: Tensor, tokens2: Tensor, mask1: Tensor, mask2: Tensor, positions1: [Int32], positions2: [Int32],
                keyMask1: Tensor? = nil, keyMask2: Tensor? = nil) {
        self.tokens1 = tokens1; self.tokens2 = tokens2; self.mask1 = mask1; self.mask2 = mask2
        self.positions1 = positions1; self.positions2 = positions2; self.keyMask1 = keyMask1; self.keyMask2 = keyMask2
    }
}

/// Losses of one batch.
public struct SANELosses {
    public var total: Variable
    public var reconstruction: Float
    public var contrastive: Float
    /// The loss of the whole batch. One process: `total`'s value. Data-parallel: `total` is this
    /// rank's share (what it back-propagates) and `value` the loss of the global batch.
    public var value: Float
}

extension SANEModel {
    /// L = γ·NT-Xent(head(z₁), head(z₂)) + (1−γ)·recon, recon averaged over the real entries of both views together (SANE-SPEC §5).
    ///
    /// Both views go through the encoder and decoder in one batch of 2B windows. The
    /// reconstruction target of each view is that view's own (noised) tokens; the loss is the
    /// masked MSE over real entries, or with `.lossNormalization` the MultiZoo variant that first
    /// normalizes target and output by the batch's masked mean/std.
    public func losses(_ batch: ViewBatch) -> SANELosses {
        let f = viewsForward(batch)
        let recon: Variable
        switch config.normalization {
        case .standardize:
            recon = Variable.maskedMSE(prediction: f.reconstruction, target: f.tokens, mask: f.mask)
        case .lossNormalization:
            recon = Variable.normalizedMaskedMSE(prediction: f.reconstruction, target: f.tokens, mask: f.mask)
        }
        let b = batch.tokens1.shape[0]
        let contrast = Variable.ntXent(f.projected.sliced(axis: 0, 0..<b), f.projected.sliced(axis: 0, b..<2 * b), temperature: config.temperature)
        let total = contrast * config.gamma + recon * (1 - config.gamma)
        return SANELosses(total: total, reconstruction: recon.value.scalar, contrastive: contrast.value.scalar, value: total.value.scalar)
    }

    /// Both views through encoder, decoder and projection head as one batch of 2B windows:
    /// the targets and masks [2B, T, d_t], the reconstruction [2B, T, d_t] and the projections [2B, F].
    func viewsForward(_ batch: ViewBatch) -> (tokens: Tensor, mask: Tensor, reconstruction: Variable, projected: Variable) {
        let tokens = Tensor.concatenated([batch.tokens1, batch.tokens2])   // [2B, T, d_t]
        let mask = Tensor.concatenated([batch.mask1, batch.mask2])
        let positions = batch.positions1 + batch.positions2
        var keyMask: Tensor? = nil
        if batch.keyMask1 != nil || batch.keyMask2 != nil {
            let b = batch.tokens1.shape[0], t = batch.tokens1.shape[1]
            keyMask = Tensor.concatenated([batch.keyMask1 ?? Tensor(shape: [b, t], repeating: 1),
                                           batch.keyMask2 ?? Tensor(shape: [b, t], repeating: 1)])
        }
        let z = encode(Variable(tokens), positions: positions, keyMask: keyMask)
        let reconstruction = decode(z, positions: positions, keyMask: keyMask)
        return (tokens, mask, reconstruction, projectionHead(z))
    }
}

extension Tensor {
    /// Concatenation along the first axis (shapes must agree elsewhere).
    public static func concatenated(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty)
        let rest = Array(parts[0].shape.dropFirst())
        for p in parts { precondition(Array(p.shape.dropFirst()) == rest, "concatenated: shapes \(parts.map(\.shape)) differ") }
        let total = parts.reduce(0) { $0 + $1.shape[0] }
        return Tensor(shape: [total] + rest) { out in
            var offset = 0
            for p in parts { (out + offset).update(from: p.readPointer, count: p.count); offset += p.count }
        }
    }
}

extension Variable {
    /// MultiZoo's masked per-token loss normalization (SANE-SPEC §3): with μ, σ the scalar mean and
    /// std of the target over real (mask = 1) entries, compare (ŷ − μ)/(σ + ε) with (y − μ)/(σ + ε)
    /// by MSE averaged over real entries only. μ, σ are constants (no gradient).
    /// `moments` (μ, σ) default to those of `target`; data-parallel ranks pass the global batch's.
    public static func normalizedMaskedMSE(prediction: Variable, target: Tensor, mask: Tensor, epsilon: Float = 1e-4,
                                           moments: (mean: Double, std: Double)? = nil) -> Variable {
        let (mean, std) = moments ?? maskedMoments(target, mask: mask)
        let pt = target.readPointer
        let scale = Float(1 / (std + Double(epsilon)))
        let normalizedTarget = Tensor(shape: target.shape) { o in for i in 0..<target.count { o[i] = (pt[i] - Float(mean)) * scale } }
        return maskedMSE(prediction: (prediction - Float(mean)) * scale, target: normalizedTarget, mask: mask)
    }

    /// Mean and standard deviation of `target` over entries with mask ≠ 0 (Float64 sums).
    public static func maskedMoments(_ target: Tensor, mask: Tensor) -> (mean: Double, std: Double) {
        var s: Double = 0, s2: Double = 0, m: Double = 0
        let pt = target.readPointer, pm = mask.readPointer
        for i in 0..<target.count where pm[i] != 0 { s += Double(pt[i]); s2 += Double(pt[i]) * Double(pt[i]); m += 1 }
        let mean = s / Swift.max(m, 1)
        return (mean, (Swift.max(s2 / Swift.max(m, 1) - mean * mean, 0)).squareRoot())
    }
}
