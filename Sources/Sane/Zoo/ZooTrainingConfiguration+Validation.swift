import Foundation
import SaneData
import SaneTensor

// The one validation layer of ZooTrainingConfiguration: the values alone (`validate()`, run when
// a configuration is read and again before training) and against the dataset they train on
// (`validate(train:test:)`, right after loading it). A bad value ends in one line naming the
// JSON key — never in a precondition inside a layer or an out-of-bounds label.

extension ZooTrainingConfiguration {
    /// Largest epoch count, model count and subset size accepted.
    public static let countLimit = 1 << 24

    /// Throws a `SaneError` naming the first invalid key.
    public func validate() throws {
        func fail(_ key: String, _ value: Any, _ rule: String) -> SaneError {
            SaneError("config key \"\(key)\" = \(value) \(rule)", hint: "fix \"\(key)\" in the zoo config")
        }
        try Self.checkPrefix(prefix)
        func count(_ key: String, _ value: Int?, min: Int = 1) throws {
            guard let value else { return }
            guard value >= min else { throw fail(key, value, "must be at least \(min)") }
            guard value <= ZooTrainingConfiguration.countLimit else { throw fail(key, value, "must be at most \(ZooTrainingConfiguration.countLimit)") }
        }
        func reals(_ key: String, _ values: [Double], _ rule: String, _ ok: (Double) -> Bool) throws {
            if let bad = values.first(where: { !$0.isFinite || !ok($0) }) { throw fail(key, bad, rule) }
        }
        try count("epochs", epochs)
        try count("models", models)
        try count("train_size", trainSize)
        try count("test_size", testSize)
        try count("validation_size", validationSize, min: 0)
        try count("train_eval_size", trainEvaluationSize)
        try count("channels_in", channelsIn)
        try count("outputs", outputs)
        if let bad = batchSizes.first(where: { $0 < 1 || $0 > ZooTrainingConfiguration.countLimit }) {
            throw fail("batch_size", bad, "must be between 1 and \(ZooTrainingConfiguration.countLimit)")
        }
        guard !seeds.isEmpty else { throw fail("seeds", "[]", "needs at least one seed") }
        try reals("lr", learningRates, "must be a finite number > 0") { $0 > 0 }
        try reals("weight_decay", weightDecays, "must be a finite number ≥ 0") { $0 >= 0 }
        try reals("dropout", dropouts, "must be in [0, 1)") { $0 >= 0 && $0 < 1 }
        try reals("momentum", [momentum], "must be in [0, 1)") { $0 >= 0 && $0 < 1 }
        if sampling == .random && models == nil { throw fail("models", "missing", "is needed by random sampling (≥ 1)") }
    }

    /// Checks the configuration against the loaded dataset: images present, labels non-negative,
    /// `channels_in` equal to the images' channels, `outputs` equal to the number of classes
    /// (largest label + 1 over both splits), so that every label is a class of the network.
    public func validate(train: ImageDataset, test: ImageDataset) throws {
        for (split, d) in [("training", train), ("test", test)] {
            guard d.count > 0 else { throw SaneError("the \(split) split of \(dataset) has no images", hint: "check \"data_dir\" and the dataset's files") }
            if let bad = d.labels.first(where: { $0 < 0 }) { throw SaneError("the \(split) split of \(dataset) has a negative label \(bad)", hint: "the label file is corrupt") }
        }
        if let channelsIn, channelsIn != train.channels {
            throw SaneError("config key \"channels_in\" = \(channelsIn) does not match the \(train.channels)-channel images of \(dataset)",
                            hint: "remove \"channels_in\" (it defaults to the data's channels) or set it to \(train.channels)")
        }
        let classes = max(train.classCount, test.classCount)
        guard outputs == classes else {
            throw SaneError("config key \"outputs\" = \(outputs) does not match the \(classes) classes of \(dataset) (labels 0…\(classes - 1))",
                            hint: "set \"outputs\" to \(classes)")
        }
        // Now every label is below `outputs` (the classes are counted over both splits).
    }
}
