import Foundation

/// Re-evaluation of zoo checkpoints on the test images their recorded `test_acc`/`test_loss`
/// were measured on (`sane zoo eval`).
///
/// A zoo trained with `test_size` N (`ZooTrainingConfiguration.testSize`) is tested on the first
/// N images of a fixed seed-1 permutation of the test split (`ZooTrainer.testSubset`), recorded
/// in params.json as `dataset::test_size`; every other zoo (the published ones, PyTorch-trained
/// ones) on the whole test split. Re-evaluating on the same images in the same order with the
/// same chunking (`ZooEvaluation.evaluate`) reproduces the recorded numbers bit for bit.
public enum ZooReevaluation {
    /// The images one model is tested on.
    public struct TestSet: Sendable {
        public enum Origin: String, Sendable {
            /// The whole test split (no `dataset::test_size`, no override).
            case whole = "whole test split"
            /// `dataset::test_size` of the model's params.json.
            case params = "dataset::test_size in params.json"
            /// The caller's override (`sane zoo eval --test-size`).
            case option = "--test-size"
        }
        public var data: ImageDataset
        /// Images of the whole test split the subset was drawn from.
        public var splitCount: Int
        public var origin: Origin

        /// "2000 of the 10000 cifar10 test images (the first 2000 of the seed-1 permutation; dataset::test_size in params.json)".
        public func describe(dataset: String) -> String {
            if data.count >= splitCount { return "all \(splitCount) \(dataset) test images (\(origin.rawValue))" }
            return "\(data.count) of the \(splitCount) \(dataset) test images (the first \(data.count) of the seed-1 permutation, "
                + "as zoo training's test_size; \(origin.rawValue))"
        }
    }

    /// The test images of a model with `params`, from the whole (already resized) test split:
    /// the first `testSize` of the seed-1 permutation when given, else params.json's
    /// `dataset::test_size`, else all of them.
    public static func testSet(for params: ZooParams, wholeSplit: ImageDataset, testSize: Int? = nil) -> TestSet {
        let (size, origin): (Int?, TestSet.Origin) = testSize.map { ($0, .option) } ?? params.testSize.map { ($0, .params) } ?? (nil, .whole)
        let data = size.map { ZooTrainer.testSubset(wholeSplit, count: $0) } ?? wholeSplit
        return TestSet(data: data, splitCount: wholeSplit.count, origin: origin)
    }

    /// One re-evaluated checkpoint: recorded vs computed accuracy and loss.
    public struct Row: Sendable {
        public var model: String
        public var epoch: Int
        public var testImages: Int
        public var recordedAccuracy: Double?, recordedLoss: Double?
        public var computed: ZooEvaluation
        /// computed − recorded, in percentage points (nil without a recorded accuracy).
        public var accuracyDifference: Double? { recordedAccuracy.map { 100 * (computed.accuracy - $0) } }
        public var lossDifference: Double? { recordedLoss.map { computed.loss - $0 } }
    }

    /// Re-evaluates `model` at `epoch` on `testSet` (BatchNorm in eval mode with the checkpoint's
    /// running statistics, dropout off).
    public static func evaluate(_ model: ZooModel, epoch: Int, on testSet: TestSet) throws -> Row {
        let net = try ZooModelFactory.make(params: model.params, stateDict: model.loadCheckpoint(epoch: epoch))
        let result = model.results[epoch]
        return Row(model: model.name, epoch: epoch, testImages: testSet.data.count, recordedAccuracy: result?.testAccuracy,
                   recordedLoss: result?.testLoss, computed: ZooEvaluation.evaluate(net, on: testSet.data))
    }
}
