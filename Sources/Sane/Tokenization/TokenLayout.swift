// Where each layer of a state_dict goes in SANE's token sequence (SANE-SPEC §2).
//
// Shape legend: N tokens of the model, d_t token size, c_out rows of a layer,
// r values per row of the weight, r' = r + 1 with a bias column, r otherwise.

/// One tokenized layer: a weight `[c_out, c_1, …, c_k]` viewed as `[c_out, r]`
/// (r = c_1·…·c_k), its bias appended as column r, each row of r' values split into
/// `ceil(r'/d_t)` tokens, the last one zero-padded.
///
/// The tokens of a layer are row-major (all chunks of row 0, then row 1, …), so row k
/// occupies the `chunksPerRow` consecutive tokens starting at `firstToken + k·chunksPerRow`,
/// and its r' real values are the first r' entries of that contiguous span.
public struct LayerLayout: Sendable, Equatable, Codable {
    /// Layer index l (position in the model's sequence of layers).
    public var index: Int
    /// State-dict key of the weight (or of a BatchNorm running statistic).
    public var weightKey: String
    /// State-dict key of the bias appended as the last column, if the model has one.
    public var biasKey: String?
    /// Shape of the weight, `[c_out, c_1, …, c_k]`.
    public var weightShape: [Int]
    /// c_out: rows of the layer (output units).
    public var rows: Int
    /// r: weight values per row.
    public var rowLength: Int
    /// r' = r + 1 with a bias, r without.
    public var valuesPerRow: Int
    /// ceil(r' / d_t): tokens per row.
    public var chunksPerRow: Int
    /// Global index n of the layer's first token.
    public var firstToken: Int

    /// Tokens of the layer: c_out · ceil(r'/d_t).
    public var tokenCount: Int { rows * chunksPerRow }
    public var hasBias: Bool { biasKey != nil }
    /// Real (unpadded) values of the layer: c_out · r'.
    public var valueCount: Int { rows * valuesPerRow }
}

/// The token layout of one architecture: its layers in state-dict order and the sequence size.
/// Every checkpoint of the architecture shares it, so it is computed once
/// (`Tokenizer.layout(for:)`) and reused for tokenizing, masks, positions and de-tokenizing.
public struct TokenLayout: Sendable, Equatable, Codable {
    /// d_t: values per token.
    public var tokenSize: Int
    /// The tokenized layers, in state-dict order of their weights.
    public var layers: [LayerLayout]

    /// N: tokens of the whole model.
    public var tokenCount: Int { layers.last.map { $0.firstToken + $0.tokenCount } ?? 0 }

    /// The mask `M ∈ {0,1}^{N×d_t}`: 1 where a token holds a real value, 0 on padding.
    public func mask() -> Tensor {                                       // (N, d_t)
        var mask = Tensor(zeros: [tokenCount, tokenSize])
        mask.withMutableHostBuffer { m in
            for layer in layers {
                let span = layer.chunksPerRow * tokenSize
                for row in 0..<layer.rows {
                    (m.baseAddress! + (layer.firstToken * tokenSize + row * span)).update(repeating: 1, count: layer.valuesPerRow)
                }
            }
        }
        return mask
    }

    /// The positions `P_n = [n, l, k]` flattened row-major: n global token index, l layer
    /// index, k row inside the layer (the chunks of one row share l and k).
    public func positions() -> [Int32] {                                 // (N, 3)
        var positions = [Int32](repeating: 0, count: tokenCount * 3)
        for layer in layers {
            for row in 0..<layer.rows {
                for chunk in 0..<layer.chunksPerRow {
                    let n = layer.firstToken + row * layer.chunksPerRow + chunk
                    positions[3 * n] = Int32(n)
                    positions[3 * n + 1] = Int32(layer.index)
                    positions[3 * n + 2] = Int32(row)
                }
            }
        }
        return positions
    }
}
