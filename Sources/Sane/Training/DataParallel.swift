import Foundation
import SaneNN
import SaneTensor

// Data parallelism (Documentation/Distributed.md): every rank holds the whole model and builds
// the whole global batch from the shared generator (cheap next to the model, and it keeps the
// random stream independent of the number of ranks), then runs the model on its block of rows
// only. The loss is written as a sum of per-rank shares whose gradients add up to the gradient
// of the single-process loss, so summing gradients over ranks (one allreduce) and applying the
// same AdamW step everywhere reproduces single-process training up to float rounding:
//
//   reconstruction: Σ_r [masked SSE_r / M]  with M the real entries of the *global* batch
//                   (with loss normalization, μ and σ of the global batch too)
//   contrastive:    NT-Xent over the projections of *all* ranks (allgathered); each rank
//                   back-propagates only its own rows' part of dL/dz.

extension ViewBatch {
    /// Rows `r` of both views.
    func rows(_ r: Range<Int>) -> ViewBatch {
        func slice(_ t: Tensor) -> Tensor { t.rows(r) }
        let pos = positions1.count / max(tokens1.shape[0], 1)
        var part = ViewBatch(tokens1: slice(tokens1), tokens2: slice(tokens2), mask1: slice(mask1), mask2: slice(mask2),
                             positions1: Array(positions1[(r.lowerBound * pos)..<(r.upperBound * pos)]),
                             positions2: Array(positions2[(r.lowerBound * pos)..<(r.upperBound * pos)]),
                             keyMask1: keyMask1.map(slice), keyMask2: keyMask2.map(slice))
        part.inputs1 = inputs1.map(slice); part.inputs2 = inputs2.map(slice)
        return part
    }
}

/// Rows of `total` that each rank takes (`Communicator.share`), for all ranks.
func shares(of total: Int, size: Int) -> [Range<Int>] {
    (0..<size).map { SingleProcess.share(of: total, rank: $0, size: size) }
}

extension Variable {
    /// Rows of all ranks, in rank order: this rank's `x` [b_r, F] → [Σ b_r, F] (allgather).
    /// Backward: this rank's rows of the output gradient. Every rank evaluates the same function
    /// of the gathered rows, so the rank-r block of its gradient is exactly d(loss)/d(x_r).
    static func gatheredRows(_ x: Variable, rows: [Range<Int>], over communicator: Communicator) -> Variable {
        let f = x.shape[1], mine = rows[communicator.rank]
        let all = communicator.allgather(x.value.scalars, counts: rows.map { $0.count * f })
        return Variable(Tensor(shape: [all.count / f, f], scalars: all), parents: [x]) { g in
            x.accumulateGradient(g.rows(mine))
        }
    }
}

extension SANEModel {
    /// This rank's share of the losses of a global batch split over `communicator` (see above).
    /// `total` is the share to back-propagate (no graph on a rank without rows); `value`,
    /// `reconstruction` and `contrastive` are the global batch's, the same on every rank.
    public func dataParallelLosses(_ batch: ViewBatch, over communicator: Communicator) -> SANELosses {
        let b = batch.tokens1.shape[0], f = config.projectionDimensions
        let rows = shares(of: b, size: communicator.size), mine = rows[communicator.rank]
        let fullMask = Tensor.concatenated([batch.mask1, batch.mask2])
        let fullTokens = config.normalization == .lossNormalization ? Tensor.concatenated([batch.tokens1, batch.tokens2]) : fullMask
        let realGlobal = fullMask.withHostBuffer { $0.reduce(0.0) { $0 + Double($1) } }

        var recon: Variable? = nil, p1 = Variable(Tensor(zeros: [0, f]), requiresGrad: false), p2 = p1
        if !mine.isEmpty {
            let local = viewsForward(batch.rows(mine))
            let realLocal = local.mask.withHostBuffer { $0.reduce(0.0) { $0 + Double($1) } }
            let mse: Variable
            switch config.normalization {
            case .standardize:
                mse = Variable.maskedMSE(prediction: local.reconstruction, target: local.tokens, mask: local.mask)
            case .lossNormalization:
                mse = Variable.normalizedMaskedMSE(prediction: local.reconstruction, target: local.tokens, mask: local.mask,
                                                   moments: Variable.maskedMoments(fullTokens, mask: fullMask))
            }
            // maskedMSE divides by max(real entries, 1); rescale to the global denominator.
            recon = mse * Float(max(realLocal, 1) / max(realGlobal, 1))
            p1 = local.projected.sliced(axis: 0, 0..<mine.count)
            p2 = local.projected.sliced(axis: 0, mine.count..<2 * mine.count)
        }
        let contrast = Variable.ntXent(Variable.gatheredRows(p1, rows: rows, over: communicator),
                                       Variable.gatheredRows(p2, rows: rows, over: communicator), temperature: config.temperature)
        var sums = [Double(recon?.value.scalar ?? 0)]
        communicator.allreduce(&sums, .sum)
        let reconstruction = Float(sums[0]), contrastive = contrast.value.scalar
        let share = recon.map { contrast * config.gamma + $0 * (1 - config.gamma) } ?? contrast
        return SANELosses(total: share, reconstruction: reconstruction, contrastive: contrastive,
                          value: Float(Double(config.gamma) * Double(contrastive) + Double(1 - config.gamma) * Double(reconstruction)))
    }

    /// Sum and sum of squares of all parameters, to check that replicas agree (one pass over the
    /// flat value buffer).
    func parameterChecksum() -> [Double] {
        let c = flatParameters().valueChecksum()
        return [c.sum, c.sumOfSquares]
    }
}
