import SaneTensor

/// Multi-head self-attention with a fused q,k,v projection and an output projection, both
/// without bias (GPT-2 layout, non-causal): y = W_o · Attn(W_qkv · x).
public final class SelfAttention: Module, Layer {
    public let qkv: Linear
    public let projection: Linear
    public let heads: Int

    /// `outputStd` initializes the output projection (GPT-2: 0.02/√(2·layers)).
    public init(dimensions: Int, heads: Int, std: Float = 0.02, outputStd: Float = 0.02, using g: inout SeededGenerator) {
        precondition(dimensions % heads == 0, "width \(dimensions) is not divisible by \(heads) heads")
        self.heads = heads
        qkv = Linear(dimensions, 3 * dimensions, bias: false, weightStd: std, using: &g)
        projection = Linear(dimensions, dimensions, bias: false, weightStd: outputStd, using: &g)
        super.init()
        register("qkv", module: qkv)
        register("projection", module: projection)
    }

    /// x: [B, T, C] → [B, T, C]; `keyMask` [B, T] marks real tokens (optional).
    public func callAsFunction(_ x: Variable, keyMask: Tensor?) -> Variable {
        projection(Variable.attention(qkv: qkv(x), heads: heads, keyMask: keyMask))
    }

    public func callAsFunction(_ x: Variable) -> Variable { callAsFunction(x, keyMask: nil) }
}

/// MLP of a transformer block: Linear(C, 4C) → GELU(erf) → Linear(4C, C), no biases.
public final class FeedForward: Module, Layer {
    public let up: Linear
    public let down: Linear

    public init(dimensions: Int, expansion: Int = 4, std: Float = 0.02, outputStd: Float = 0.02, using g: inout SeededGenerator) {
        up = Linear(dimensions, expansion * dimensions, bias: false, weightStd: std, using: &g)
        down = Linear(expansion * dimensions, dimensions, bias: false, weightStd: outputStd, using: &g)
        super.init()
        register("up", module: up)
        register("down", module: down)
    }

    public func callAsFunction(_ x: Variable) -> Variable { down(up(x).gelu()) }
}

/// Pre-LN transformer block (SANE-SPEC §4):  x += Attn(LN(x));  x += MLP(LN(x)).
/// LayerNorms have a weight and no bias (ε 1e-5).
public final class TransformerBlock: Module {
    public let norm1: LayerNorm
    public let attention: SelfAttention
    public let norm2: LayerNorm
    public let feedForward: FeedForward

    /// GPT-2 init: weights N(0, 0.02²); attention and MLP output projections N(0, (0.02/√(2L))²),
    /// L = number of blocks in the stack.
    public init(dimensions: Int, heads: Int, stackDepth: Int, using g: inout SeededGenerator) {
        let outStd = 0.02 / Float(2 * stackDepth).squareRoot()
        norm1 = LayerNorm(dimensions, bias: false)
        attention = SelfAttention(dimensions: dimensions, heads: heads, outputStd: outStd, using: &g)
        norm2 = LayerNorm(dimensions, bias: false)
        feedForward = FeedForward(dimensions: dimensions, outputStd: outStd, using: &g)
        super.init()
        register("norm1", module: norm1)
        register("attention", module: attention)
        register("norm2", module: norm2)
        register("feedForward", module: feedForward)
    }

    /// x: [B, T, C] → [B, T, C].
    public func callAsFunction(_ x: Variable, keyMask: Tensor? = nil) -> Variable {
        let h = x + attention(norm1(x), keyMask: keyMask)
        return h + feedForward(norm2(h))
    }
}
