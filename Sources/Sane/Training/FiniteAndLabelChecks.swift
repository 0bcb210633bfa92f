import Foundation
import SaneData
import SaneTensor

// Checks of data that reach training, sampling and evaluation: weights must be finite, labels
// must be classes of the network (`ImageDataset.checkFits` in SaneData). Each throws a one-line SaneError naming the offending value.

extension Tensor {
    /// Number of NaN and ±Inf values.
    public var nonFiniteCount: Int {
        withHostBuffer { p in p.reduce(0) { $1.isFinite ? $0 : $0 + 1 } }
    }
}

extension StateDict {
    /// Throws when a tensor holds NaN or ±Inf (`what` names the model in the message).
    public func checkFinite(_ what: String, hint: String) throws {
        for (key, tensor) in items {
            let bad = tensor.nonFiniteCount
            if bad > 0 { throw SaneError("\(what) has \(bad) NaN/Inf values in \(key)", hint: hint) }
        }
    }
}
