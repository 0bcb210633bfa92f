import SaneNN
import SaneTensor

/// Learned 3-D token positions shared by encoder and decoder (SANE-SPEC §4):
///   PosEmb(n, l, k) = concat(E_n[n] + E_l[l], E_k[k]),  each table d_model/2 wide.
public final class PositionEmbedding: Module {
    public let tokenTable: Embedding
    public let layerTable: Embedding
    public let rowTable: Embedding
    let config: SANEConfig

    public init(config: SANEConfig, using g: inout SeededGenerator) {
        precondition(config.modelDimensions % 2 == 0, "d_model must be even for the position embedding")
        let half = config.modelDimensions / 2
        self.config = config
        tokenTable = Embedding(config.maxTokens, half, std: 0.02, using: &g)
        layerTable = Embedding(config.maxLayers, half, std: 0.02, using: &g)
        rowTable = Embedding(config.maxRows, half, std: 0.02, using: &g)
        super.init()
        register("n", module: tokenTable)
        register("l", module: layerTable)
        register("k", module: rowTable)
    }

    /// positions: B·T triples [n, l, k] (flat, row-major) → [B·T, d_model].
    public func callAsFunction(_ positions: [Int32]) -> Variable {
        let count = positions.count / 3
        var n = [Int32](repeating: 0, count: count), l = n, k = n
        for i in 0..<count {
            n[i] = positions[3 * i]; l[i] = positions[3 * i + 1]; k[i] = positions[3 * i + 2]
            precondition(n[i] < config.maxTokens && l[i] < config.maxLayers && k[i] < config.maxRows,
                         "position \(n[i]),\(l[i]),\(k[i]) exceeds the tables (\(config.maxTokens), \(config.maxLayers), \(config.maxRows)); raise maxTokens/maxLayers/maxRows in the config")
        }
        return Variable.concat([tokenTable(n) + layerTable(l), rowTable(k)], axis: 1)
    }
}

/// Projection head for the contrastive loss (SANE-SPEC §4):
///   flatten z [B, T·d_z] → Linear(→p, no bias) → LN(p) → ReLU → Linear(p→p, no bias) → LN(p) → ReLU
public final class ProjectionHead: Module {
    public let first: Linear, firstNorm: LayerNorm, second: Linear, secondNorm: LayerNorm

    public init(inputs: Int, dimensions p: Int, using g: inout SeededGenerator) {
        first = Linear(inputs, p, bias: false, weightStd: 0.02, using: &g)
        firstNorm = LayerNorm(p)
        second = Linear(p, p, bias: false, weightStd: 0.02, using: &g)
        secondNorm = LayerNorm(p)
        super.init()
        register("0", module: first); register("1", module: firstNorm)
        register("3", module: second); register("4", module: secondNorm)
    }

    /// z: [B, T, d_z] → [B, p]
    public func callAsFunction(_ z: Variable) -> Variable {
        let x = z.flattened(from: 1)
        return secondNorm(second(firstNorm(first(x)).relu())).relu()
    }
}

/// A stack of transformer blocks.
public final class BlockStack: Module {
    public let blocks: [TransformerBlock]

    public init(count: Int, config: SANEConfig, using g: inout SeededGenerator) {
        blocks = (0..<count).map { _ in
            TransformerBlock(dimensions: config.modelDimensions, heads: config.heads, stackDepth: count, using: &g)
        }
        super.init()
        for (i, b) in blocks.enumerated() { register(String(i), module: b) }
    }

    public func callAsFunction(_ x: Variable, keyMask: Tensor?) -> Variable {
        blocks.reduce(x) { $1($0, keyMask: keyMask) }
    }
}

/// The SANE autoencoder (SANE-SPEC §4):
///
///     encoder: T [B,T,d_t] → Linear(d_t→d) + PosEmb(P) → blocks → Linear(d→d_z) = z [B,T,d_z]
///     decoder: z → Linear(d_z→d) + PosEmb(P) → blocks → Linear(d→d_t) = T̂ [B,T,d_t]
///
/// One PosEmb serves both. Init as GPT-2: N(0, 0.02) weights, zero biases, LN weights 1.
public final class SANEModel: Module {
    public let config: SANEConfig
    public let position: PositionEmbedding
    public let encoderInput: Linear
    public let encoder: BlockStack
    public let encoderOutput: Linear
    public let decoderInput: Linear
    public let decoder: BlockStack
    public let decoderOutput: Linear
    public let projectionHead: ProjectionHead

    public init(config: SANEConfig, using g: inout SeededGenerator) {
        self.config = config
        let d = config.modelDimensions
        position = PositionEmbedding(config: config, using: &g)
        encoderInput = Linear(config.tokenSize, d, weightStd: 0.02, using: &g)
        encoder = BlockStack(count: config.encoderBlocks, config: config, using: &g)
        encoderOutput = Linear(d, config.latentDimensions, weightStd: 0.02, using: &g)
        decoderInput = Linear(config.latentDimensions, d, weightStd: 0.02, using: &g)
        decoder = BlockStack(count: config.decoderBlocks, config: config, using: &g)
        decoderOutput = Linear(d, config.tokenSize, weightStd: 0.02, using: &g)
        projectionHead = ProjectionHead(inputs: config.windowSize * config.latentDimensions,
                                        dimensions: config.projectionDimensions, using: &g)
        super.init()
        register("position", module: position)
        register("encoderInput", module: encoderInput)
        register("encoder", module: encoder)
        register("encoderOutput", module: encoderOutput)
        register("decoderInput", module: decoderInput)
        register("decoder", module: decoder)
        register("decoderOutput", module: decoderOutput)
        register("projectionHead", module: projectionHead)
    }

    /// tokens [B, T, d_t], positions B·T·3 → z [B, T, d_z]
    public func encode(_ tokens: Variable, positions: [Int32], keyMask: Tensor? = nil) -> Variable {
        let (b, t) = (tokens.shape[0], tokens.shape[1])
        let x = encoderInput(tokens) + position(positions).reshaped([b, t, config.modelDimensions])
        return encoderOutput(encoder(x, keyMask: keyMask))
    }

    /// z [B, T, d_z], positions B·T·3 → T̂ [B, T, d_t]
    public func decode(_ z: Variable, positions: [Int32], keyMask: Tensor? = nil) -> Variable {
        let (b, t) = (z.shape[0], z.shape[1])
        let x = decoderInput(z) + position(positions).reshaped([b, t, config.modelDimensions])
        return decoderOutput(decoder(x, keyMask: keyMask))
    }
}
