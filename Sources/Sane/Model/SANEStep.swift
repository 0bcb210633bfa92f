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
    /// [B, T, d_t]: the encoder's input where it differs from the reconstruction target
    /// `tokens` (random erasing); nil = `tokens`.
    public var inputs1: Tensor?, inputs2: Tensor?

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
        let inputs = batch.inputs1 == nil && batch.inputs2 == nil ? tokens
            : Tensor.concatenated([batch.inputs1 ?? batch.tokens1, batch.inputs2 ?? batch.tokens2])
        let z = encode(Variable(inputs), positions: positions, keyMask: keyMask)
        let reconstruction = decode(z, positions: positions, keyMask: keyMask)
        return (tokens, mask, reconstruction, projectionHead(z))
    }
}
