import Foundation

/// Sizes of the SANE autoencoder (SANE-SPEC §4) and its training defaults (§5).
/// Stored as JSON inside every run folder and checkpoint; presets live in `Configs/`.
public struct SANEConfig: Codable, Equatable, Sendable {
    /// Configuration format version (bump on incompatible change).
    public var version = 1
    /// Token width d_t (289 for the CNN zoos, 288 for ResNets).
    public var tokenSize = 289
    /// Transformer width d_model.
    public var modelDimensions = 256
    public var heads = 4
    public var encoderBlocks = 4
    public var decoderBlocks = 4
    /// Latent width d_z of each token's embedding.
    public var latentDimensions = 128
    /// Training window ws (tokens).
    public var windowSize = 48
    /// Position table sizes: global token index n, layer index l, row index k.
    public var maxTokens = 256
    public var maxLayers = 32
    public var maxRows = 256
    /// Projection head width (contrastive loss only).
    public var projectionDimensions = 30

    // Training (§5)
    public var gamma: Float = 0.05
    public var temperature: Float = 0.1
    public var noiseStd: Float = 0.1
    public var learningRate: Float = 1e-4
    public var weightDecay: Float = 3e-9
    public var batchSize = 32
    public var epochs = 50
    /// Windows drawn per checkpoint per epoch.
    public var windowsPerCheckpoint = 1
    /// Random permutations precomputed per model for the second view.
    public var permutationsPerModel = 5
    /// "standardize" (per-layer, SANE) or "lossNormalization" (masked per-token, MultiZoo).
    public var normalization = Normalization.standardize
    public var align = true
    public var seed: UInt64 = 42

    public enum Normalization: String, Codable, Sendable { case standardize, lossNormalization }

    public init() {}

    enum CodingKeys: String, CodingKey {
        case version, tokenSize, modelDimensions, heads, encoderBlocks, decoderBlocks, latentDimensions, windowSize
        case maxTokens, maxLayers, maxRows, projectionDimensions, gamma, temperature, noiseStd, learningRate
        case weightDecay, batchSize, epochs, windowsPerCheckpoint, permutationsPerModel, normalization, align, seed
        case preset
    }

    /// Decodes a configuration file: `"preset": NAME` (default `cnn-cpu`) gives the starting
    /// values, every other key present overrides one field.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let presetName = try c.decodeIfPresent(String.self, forKey: .preset) ?? "cnn-cpu"
        guard let base = SANEConfig.preset(presetName) else {
            throw DecodingError.dataCorruptedError(forKey: .preset, in: c, debugDescription: "unknown preset \(presetName)")
        }
        self = base
        func field<T: Decodable>(_ key: CodingKeys, _ path: WritableKeyPath<SANEConfig, T>) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { self[keyPath: path] = v }
        }
        try field(.version, \.version); try field(.tokenSize, \.tokenSize); try field(.modelDimensions, \.modelDimensions)
        try field(.heads, \.heads); try field(.encoderBlocks, \.encoderBlocks); try field(.decoderBlocks, \.decoderBlocks)
        try field(.latentDimensions, \.latentDimensions); try field(.windowSize, \.windowSize); try field(.maxTokens, \.maxTokens)
        try field(.maxLayers, \.maxLayers); try field(.maxRows, \.maxRows); try field(.projectionDimensions, \.projectionDimensions)
        try field(.gamma, \.gamma); try field(.temperature, \.temperature); try field(.noiseStd, \.noiseStd)
        try field(.learningRate, \.learningRate); try field(.weightDecay, \.weightDecay); try field(.batchSize, \.batchSize)
        try field(.epochs, \.epochs); try field(.windowsPerCheckpoint, \.windowsPerCheckpoint)
        try field(.permutationsPerModel, \.permutationsPerModel); try field(.normalization, \.normalization)
        try field(.align, \.align); try field(.seed, \.seed)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version); try c.encode(tokenSize, forKey: .tokenSize)
        try c.encode(modelDimensions, forKey: .modelDimensions); try c.encode(heads, forKey: .heads)
        try c.encode(encoderBlocks, forKey: .encoderBlocks); try c.encode(decoderBlocks, forKey: .decoderBlocks)
        try c.encode(latentDimensions, forKey: .latentDimensions); try c.encode(windowSize, forKey: .windowSize)
        try c.encode(maxTokens, forKey: .maxTokens); try c.encode(maxLayers, forKey: .maxLayers); try c.encode(maxRows, forKey: .maxRows)
        try c.encode(projectionDimensions, forKey: .projectionDimensions); try c.encode(gamma, forKey: .gamma)
        try c.encode(temperature, forKey: .temperature); try c.encode(noiseStd, forKey: .noiseStd)
        try c.encode(learningRate, forKey: .learningRate); try c.encode(weightDecay, forKey: .weightDecay)
        try c.encode(batchSize, forKey: .batchSize); try c.encode(epochs, forKey: .epochs)
        try c.encode(windowsPerCheckpoint, forKey: .windowsPerCheckpoint); try c.encode(permutationsPerModel, forKey: .permutationsPerModel)
        try c.encode(normalization, forKey: .normalization); try c.encode(align, forKey: .align); try c.encode(seed, forKey: .seed)
    }

    /// Named presets: `tiny` (tests, seconds), `cnn-cpu` (the CNN zoos on 2 CPU cores),
    /// `cnn-paper` (the paper's sizes).
    public static func preset(_ name: String) -> SANEConfig? {
        var c = SANEConfig()
        switch name {
        case "tiny":
            c.modelDimensions = 32; c.heads = 2; c.encoderBlocks = 1; c.decoderBlocks = 1
            c.latentDimensions = 16; c.windowSize = 16; c.batchSize = 8; c.epochs = 3
            c.learningRate = 1e-3; c.maxTokens = 128
        case "cnn-cpu":
            // d_model 128, 4 heads, 4+4 blocks, d_z 128 (~2M parameters). A CNN zoo's 48-token
            // sequences fit one window; 8 augmented windows per checkpoint per epoch give ~2,000
            // steps on the 33-model train split (epochs 0–5), which 2 cores train in ~20 min.
            // The paper's 1024-wide model (cnn-paper) is 50× the compute per token.
            c.modelDimensions = 128; c.windowsPerCheckpoint = 8; c.learningRate = 3e-4; c.epochs = 40
        case "cnn-paper":
            c.modelDimensions = 1024; c.heads = 8; c.encoderBlocks = 8; c.decoderBlocks = 8
            c.latentDimensions = 128; c.windowSize = 64
        default:
            return nil
        }
        return c
    }

    public static let presetNames = ["tiny", "cnn-cpu", "cnn-paper"]
}
