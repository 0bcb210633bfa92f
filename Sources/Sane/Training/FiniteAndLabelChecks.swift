import Foundation
import SaneData
import SaneTensor

// Checks of data that reach training, sampling and evaluation: weights must be finite, labels
// must be classes of the network. Each throws a one-line SaneError naming the offending value.

extension Tensor {
    /// Number of NaN and ±Inf values.
    public var nonFiniteCount: Int {
        let p = readPointer
        var bad = 0
        for i in 0..<count where !p[i].isFinite { bad += 1 }
        return bad
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

extension ImageDataset {
    /// Throws unless the dataset has images and every label is a class of a `classes`-way
    /// classifier (`what` names the data in the message, e.g. "mnist test split").
    public func checkLabels(classes: Int, what: String) throws {
        guard count > 0 else { throw SaneError("\(what) has no images", hint: "check the data folder and the dataset's files") }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw SaneError("\(what) has label \(bad), outside the \(classes) classes 0…\(classes - 1) of the network",
                            hint: "use a dataset with \(classes) classes or a network with more outputs")
        }
    }
}
