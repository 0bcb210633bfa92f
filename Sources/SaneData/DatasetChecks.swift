// Checks that a dataset fits the classifier about to use it, so a mismatch is a one-line error
// instead of an out-of-bounds read (a label ≥ the number of outputs) or a shape failure.

import SaneTensor

extension ImageDataset {
    /// Refuses this dataset for a classifier with `classes` outputs and `channels` input
    /// channels: it must hold at least one image, every label must be in 0..<classes, and the
    /// images must have `channels` channels. `what` names the data in the error ("mnist test split").
    public func checkFits(classes: Int, channels: Int, what: String) throws {
        guard count > 0 else { throw SaneError("\(what) has no images", hint: "check the data files") }
        if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
            throw SaneError("label \(labels[bad]) of example \(bad) in \(what) is outside the network's \(classes) classes",
                            hint: "use a network with at least \(classMax + 1) outputs, or data with labels 0–\(classes - 1)")
        }
        guard self.channels == channels else {
            throw SaneError("\(what) has \(self.channels)-channel images, the network expects \(channels)",
                            hint: "use a dataset with \(channels)-channel images or a network built for \(self.channels)")
        }
    }

    private var classMax: Int { labels.max() ?? 0 }
}
