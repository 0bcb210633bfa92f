import Foundation
import SaneData
import SaneTensor

// The validation layers of the sampling and fine-tuning settings: every value checked once, up
// front (the CLI calls them from its `validate()`, the library before it starts), with a
// one-line error naming the setting.

/// Largest count of draws, rounds, epochs or models accepted: far above any useful run, low
/// enough that products such as draws × rounds cannot overflow.
let settingsCountLimit = 1 << 20

func settingsError(_ name: String, _ value: Any, _ rule: String) -> SaneError {
    SaneError("\(name) = \(value) \(rule)")
}

extension SamplingSettings {
    /// Throws a `SaneError` naming the first invalid setting (by its `sane sample` option).
    public func validate() throws {
        guard (1...settingsCountLimit).contains(samples) else { throw settingsError("--samples", samples, "must be between 1 and \(settingsCountLimit)") }
        guard (1...samples).contains(keep) else { throw settingsError("--keep", keep, "must be between 1 and --samples (\(samples))") }
        guard (0...(1 << 16)).contains(rounds) else { throw settingsError("--rounds", rounds, "must be between 0 and \(1 << 16)") }
        guard bandwidth.isFinite && bandwidth >= 0 else { throw settingsError("--bandwidth", bandwidth, "must be a finite number ≥ 0") }
        if let count = anchorCount, !(1...settingsCountLimit).contains(count) {
            throw settingsError("anchorCount", count, "must be between 1 and \(settingsCountLimit)")
        }
        if let sigma = priorStandardDeviation, !(sigma.isFinite && sigma > 0) {
            throw settingsError("--prior-std", sigma, "must be a finite number > 0")
        }
        guard (0...settingsCountLimit).contains(batchNormIterations) else {
            throw settingsError("batchNormIterations", batchNormIterations, "must be between 0 and \(settingsCountLimit)")
        }
        guard (1...settingsCountLimit).contains(batchNormBatchSize) else {
            throw settingsError("batchNormBatchSize", batchNormBatchSize, "must be between 1 and \(settingsCountLimit)")
        }
    }
}

extension FineTuningSettings {
    /// Throws a `SaneError` naming the first invalid setting (by its `sane finetune` option).
    public func validate() throws {
        guard (0...100_000).contains(epochs) else { throw settingsError("--epochs", epochs, "must be between 0 and 100000") }
        guard learningRate.isFinite && learningRate > 0 else { throw settingsError("--lr", learningRate, "must be a finite number > 0") }
        guard weightDecay.isFinite && weightDecay >= 0 else { throw settingsError("weightDecay", weightDecay, "must be a finite number ≥ 0") }
        guard (1...settingsCountLimit).contains(batchSize) else { throw settingsError("--batch-size", batchSize, "must be between 1 and \(settingsCountLimit)") }
        guard (1...1024).contains(jobs) else { throw settingsError("--jobs", jobs, "must be between 1 and 1024") }
    }
}
