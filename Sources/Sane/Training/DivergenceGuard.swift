import Foundation
import SaneTensor

/// Stops a training run that has diverged, before the diverged state is saved, so the last good
/// checkpoint survives. The rule, checked after every optimizer step and before every checkpoint:
///
///   * the batch loss is not finite, or
///   * the batch loss exceeds factor × max(reference, floor), factor = 1000, where the reference
///     is the lowest mean epoch loss logged so far or, during the first epoch, the run's first
///     batch loss; `floor` is the loss of an untrained model's order of magnitude (1 for SANE's
///     standardized reconstruction, ln C for a C-class cross-entropy), so that a run that has
///     fitted its data almost perfectly is not stopped by one noisy batch. Healthy runs stay
///     orders of magnitude below the bound; learning rates 10–2500 on SANE reach 1e26;
///   * any parameter or optimizer-state value is not finite (checked before a checkpoint is
///     written: AdamW's second moments overflow to Inf while the loss still looks finite).
///
/// Deterministic: the reference depends only on the logged losses and the first batch, so a
/// resumed run applies the same rule as an uninterrupted one.
public struct DivergenceGuard: Sendable {
    /// A batch loss above factor × reference counts as divergence.
    public static let factor = 1e3

    /// What is being trained, for messages ("SANE", "model mnist_00003_seed=4").
    public var subject: String
    /// The learning rate of the run, for the hint.
    public var learningRate: Double
    /// The smallest reference (see the rule above).
    public var floor: Double
    /// Lowest mean epoch loss so far, and the run's first batch loss (used until an epoch ends).
    private var bestEpoch: Double?, firstBatch: Double?

    /// The current reference loss (nil before the first batch).
    public var reference: Double? { bestEpoch ?? firstBatch }

    /// `epochLosses`: mean losses of the epochs already trained (a resumed run's log).
    public init(subject: String, learningRate: Double, floor: Double, epochLosses: [Double] = []) {
        self.subject = subject
        self.learningRate = learningRate
        self.floor = floor
        bestEpoch = epochLosses.filter(\.isFinite).min()
    }

    var hint: String {
        "lower the learning rate (now \(String(format: "%g", learningRate))); nothing of the diverged epoch was saved"
    }

    /// Checks the loss of one batch (epoch and batch counted from 1).
    public mutating func check(loss: Double, epoch: Int, batch: Int) throws {
        guard loss.isFinite else {
            throw SaneError("\(subject) diverged at epoch \(epoch), batch \(batch): loss \(loss)", hint: hint)
        }
        guard let reference else { firstBatch = loss; return }
        let bound = DivergenceGuard.factor * max(reference, floor)
        if loss > bound {
            throw SaneError("\(subject) diverged at epoch \(epoch), batch \(batch): " + String(format: "loss %.4g exceeds %.4g (%.0f× the reference loss %.4g)",
                            loss, bound, DivergenceGuard.factor, max(reference, floor)), hint: hint)
        }
    }

    /// Records a finished epoch's mean loss (the reference becomes the lowest so far).
    public mutating func finished(epochLoss: Double) {
        guard epochLoss.isFinite else { return }
        bestEpoch = min(bestEpoch ?? epochLoss, epochLoss)
    }

    /// Throws when a tensor of `states` (e.g. the model's and the optimizer's state dicts) holds a
    /// non-finite value; call before writing a checkpoint.
    public func checkFinite(_ states: [(what: String, state: StateDict)], epoch: Int) throws {
        for (what, state) in states {
            for (key, tensor) in state.items {
                let bad = tensor.nonFiniteCount
                if bad > 0 {
                    throw SaneError("\(subject) diverged in epoch \(epoch): \(bad) of \(tensor.count) values of \(what) \(key) are NaN or Inf",
                                    hint: hint)
                }
            }
        }
    }
}
