import Foundation
import SaneTensor

// The one validation layer of SANEConfig: every field is checked here, before any model is
// built or data loaded, so a bad configuration ends in one line naming the field, its value and
// the allowed range — never in a precondition deep inside a layer.

extension SANEConfig {
    /// Largest accepted value of every size and count: far above any model that trains on this
    /// hardware, low enough that products such as batches per epoch × epochs cannot overflow.
    public static let sizeLimit = 1 << 20

    /// Throws a `SaneError` naming the first invalid field (`source`: where the config came from,
    /// for the message, e.g. a file path or "--config tiny").
    public func validate(source: String? = nil) throws {
        func fail(_ field: String, _ value: Any, _ rule: String, hint: String? = nil) -> SaneError {
            SaneError("config\(source.map { " \($0)" } ?? ""): \(field) = \(value) \(rule)", hint: hint ?? "fix \(field) in the config file or the option that sets it")
        }
        func size(_ field: String, _ value: Int, min: Int = 1, max: Int = SANEConfig.sizeLimit) throws {
            guard value >= min else { throw fail(field, value, "must be at least \(min)") }
            guard value <= max else { throw fail(field, value, "must be at most \(max)") }
        }
        func real(_ field: String, _ value: Float, _ allowed: ClosedRange<Float>, open lower: Bool = false) throws {
            guard value.isFinite, allowed.contains(value), !(lower && value == allowed.lowerBound) else {
                throw fail(field, value, "must be a finite number in \(lower ? "(" : "[")\(allowed.lowerBound), \(allowed.upperBound)]")
            }
        }
        guard version == 1 else { throw fail("version", version, "is not supported (this sane reads version 1)") }
        try size("tokenSize", tokenSize)
        try size("heads", heads)
        try size("modelDimensions", modelDimensions, max: 1 << 16)
        guard modelDimensions % 2 == 0 else {
            throw fail("modelDimensions", modelDimensions, "must be even (the position embedding is two halves of d_model/2)")
        }
        guard modelDimensions % heads == 0 else {
            throw fail("modelDimensions", modelDimensions, "is not divisible by heads = \(heads)", hint: "choose heads that divide modelDimensions, e.g. 4 for 128")
        }
        try size("encoderBlocks", encoderBlocks, max: 1024)
        try size("decoderBlocks", decoderBlocks, max: 1024)
        try size("latentDimensions", latentDimensions, max: 1 << 16)
        try size("windowSize", windowSize)
        try size("maxTokens", maxTokens)
        try size("maxLayers", maxLayers)
        try size("maxRows", maxRows)
        try size("projectionDimensions", projectionDimensions, max: 1 << 16)
        try real("gamma", gamma, 0...1)
        try real("temperature", temperature, 0...Float.greatestFiniteMagnitude, open: true)
        try real("noiseStd", noiseStd, 0...Float.greatestFiniteMagnitude)
        try real("learningRate", learningRate, 0...Float.greatestFiniteMagnitude, open: true)
        try real("weightDecay", weightDecay, 0...Float.greatestFiniteMagnitude)
        try size("batchSize", batchSize)
        try size("epochs", epochs, max: 100_000)
        try size("windowsPerCheckpoint", windowsPerCheckpoint, min: 0, max: 100_000)
        try real("erasingProbability", erasingProbability, 0...1)
        try size("permutationsPerModel", permutationsPerModel, min: 0, max: 100_000)
        // One batch's widest activation, batchSize × windowSize × max(d_t, d_model) floats, must
        // fit in memory (2³³ values = 32 GiB): larger settings would die allocating it.
        let (batchTokens, o1) = batchSize.multipliedReportingOverflow(by: windowSize)
        let (values, o2) = batchTokens.multipliedReportingOverflow(by: max(tokenSize, modelDimensions))
        guard !o1 && !o2 && values <= 1 << 33 else {
            throw fail("batchSize × windowSize", "\(batchSize) × \(windowSize)", "needs more than 32 GiB per activation (× max(tokenSize, modelDimensions) = \(max(tokenSize, modelDimensions)))",
                       hint: "lower batchSize or windowSize")
        }
    }

    /// Checks that the position tables hold every token position of `sequences` (the zoo the
    /// config is trained or used on): n < maxTokens, l < maxLayers, k < maxRows.
    public func validatePositions(of sequences: [TokenSequence]) throws {
        var largest: (n: Int32, l: Int32, k: Int32) = (0, 0, 0)
        for s in sequences {
            let p = s.positions
            for i in stride(from: 0, to: p.count - 2, by: 3) {
                largest = (max(largest.n, p[i]), max(largest.l, p[i + 1]), max(largest.k, p[i + 2]))
            }
        }
        try validatePositions(largest: largest)
    }

    /// `validatePositions(of:)` for the sequences of token layouts (the token store's zoos).
    public func validatePositions(of layouts: [TokenLayout]) throws {
        var largest: (n: Int32, l: Int32, k: Int32) = (0, 0, 0)
        for layout in layouts {
            let e = layout.positionExtent
            largest = (max(largest.n, Int32(e.tokens - 1)), max(largest.l, Int32(e.layers - 1)), max(largest.k, Int32(e.rows - 1)))
        }
        try validatePositions(largest: largest)
    }

    func validatePositions(largest: (n: Int32, l: Int32, k: Int32)) throws {
        for (field, table, index) in [("maxTokens", maxTokens, largest.n), ("maxLayers", maxLayers, largest.l), ("maxRows", maxRows, largest.k)]
        where Int(index) >= table {
            throw SaneError("config: \(field) = \(table) is too small for the zoo, whose tokens reach index \(index)",
                            hint: "set \(field) to at least \(Int(index) + 1) in the config")
        }
    }
}
