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
    /// Windows drawn per checkpoint per epoch, each at a uniformly random start. 0 = coverage
    /// (the paper's super-sampling for long sequences): ceil(N / windowSize) windows per
    /// checkpoint that tile its N tokens, the overlap placed at random, so every token is seen
    /// every epoch.
    public var windowsPerCheckpoint = 1
    /// At most one window per model in a batch (the paper's choice for ResNets): windows of the
    /// same model, e.g. of two epochs, would be near-duplicate negatives in NT-Xent. Batches are
    /// filled greedily in the epoch's random order; a window whose model is already in the batch
    /// waits for the next one, so the last batches of an epoch may be smaller.
    public var onePerModelPerBatch = false
    /// Probability of random erasing per view (`TokenSequence.erasingRandomBlock`); 0 = off.
    public var erasingProbability: Float = 0
    /// Random permutations precomputed per model for the second view.
    public var permutationsPerModel = 5
    /// "standardize" (per-layer, SANE) or "lossNormalization" (masked per-token, MultiZoo).
    public var normalization = Normalization.standardize
    public var align = true
    public var seed: UInt64 = 42

    public enum Normalization: String, Codable, Sendable { case standardize, lossNormalization }

    public init() {}

    /// Every stored field with its JSON key, in file order: the one list decoding, encoding and
    /// the field-coverage test walk (a property missing here fails `SANEConfigTests`).
    static let fields: [Field] = [
        Field("version", \.version), Field("tokenSize", \.tokenSize), Field("modelDimensions", \.modelDimensions),
        Field("heads", \.heads), Field("encoderBlocks", \.encoderBlocks), Field("decoderBlocks", \.decoderBlocks),
        Field("latentDimensions", \.latentDimensions), Field("windowSize", \.windowSize), Field("maxTokens", \.maxTokens),
        Field("maxLayers", \.maxLayers), Field("maxRows", \.maxRows), Field("projectionDimensions", \.projectionDimensions),
        Field("gamma", \.gamma), Field("temperature", \.temperature), Field("noiseStd", \.noiseStd),
        Field("learningRate", \.learningRate), Field("weightDecay", \.weightDecay), Field("batchSize", \.batchSize),
        Field("epochs", \.epochs), Field("windowsPerCheckpoint", \.windowsPerCheckpoint),
        Field("permutationsPerModel", \.permutationsPerModel), Field("onePerModelPerBatch", \.onePerModelPerBatch),
        Field("erasingProbability", \.erasingProbability), Field("normalization", \.normalization),
        Field("align", \.align), Field("seed", \.seed),
    ]

    /// A field's JSON key and how to read and write it.
    struct Field: Sendable {
        let key: String
        let decode: @Sendable (inout SANEConfig, KeyedDecodingContainer<Key>) throws -> Void
        let encode: @Sendable (SANEConfig, inout KeyedEncodingContainer<Key>) throws -> Void

        init<T: Codable & Sendable>(_ key: String, _ path: WritableKeyPath<SANEConfig, T> & Sendable) {
            self.key = key
            decode = { config, c in if let v = try c.decodeIfPresent(T.self, forKey: Key(key)) { config[keyPath: path] = v } }
            encode = { config, c in try c.encode(config[keyPath: path], forKey: Key(key)) }
        }
    }

    /// A JSON key of the configuration file.
    struct Key: CodingKey {
        let stringValue: String
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// Decodes a configuration file: `"preset": NAME` (default `cnn-cpu`) gives the starting
    /// values, every other key present overrides one field.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let presetName = try c.decodeIfPresent(String.self, forKey: Key("preset")) ?? "cnn-cpu"
        guard let base = SANEConfig.preset(presetName) else {
            throw DecodingError.dataCorruptedError(forKey: Key("preset"), in: c, debugDescription: "unknown preset \(presetName)")
        }
        self = base
        let known = Set(SANEConfig.fields.map(\.key) + ["preset"])
        if let unknown = c.allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw DecodingError.dataCorruptedError(forKey: unknown, in: c, debugDescription:
                "unknown key \"\(unknown.stringValue)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        for field in SANEConfig.fields { try field.decode(&self, c) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for field in SANEConfig.fields { try field.encode(self, &c) }
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
