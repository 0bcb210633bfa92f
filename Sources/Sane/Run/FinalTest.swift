import Foundation
import SaneTensor

/// The test reconstruction of a finished run, computed once after its last epoch
/// (`RUN/final_test.json`). Epoch logs hold train and validation numbers only, so no choice made
/// while training (or when picking a checkpoint) can see the test split.
public struct FinalTestReconstruction: Codable, Sendable {
    /// The epoch of the model that was evaluated (the run's last).
    public var epoch: Int
    /// Masked MSE and R² = 1 − SSE/SST of the clean test sequences (standardized weights).
    public var testSequenceMSE: Double
    public var testSequenceR2: Double

    public init(epoch: Int, testSequenceMSE: Double, testSequenceR2: Double) {
        self.epoch = epoch; self.testSequenceMSE = testSequenceMSE; self.testSequenceR2 = testSequenceR2
    }
}

extension RunFolder {
    var finalTestURL: URL { url.appendingPathComponent("final_test.json") }

    /// Writes `final_test.json` (temp file + rename).
    public func writeFinalTest(_ value: FinalTestReconstruction) throws {
        try writeJSON(value, to: finalTestURL)
    }

    /// The final test reconstruction, nil before the run has finished.
    public func loadFinalTest() throws -> FinalTestReconstruction? {
        guard let data = FileManager.default.contents(atPath: finalTestURL.path) else { return nil }
        do { return try SaneJSON.decoder().decode(FinalTestReconstruction.self, from: data) } catch {
            throw SaneError("\(finalTestURL.path) is not a final test record: \(error)", hint: "delete it and rerun `sane pretrain` with the same arguments")
        }
    }
}
