// A model as a token sequence, and the training windows cut from it (SANE-SPEC §2, §3).
//
// Shape legend: N tokens, d_t token size, ws window size.

/// A model's token sequence `T`, its mask `M` and its positions `P`.
public struct TokenSequence: Sendable {
    /// T: the values, row n = token n.
    public var tokens: Tensor                                           // (N, d_t)
    /// M: 1 where `tokens` holds a real value, 0 on padding.
    public var mask: Tensor                                             // (N, d_t)
    /// P flattened row-major: `[n, l, k]` per token (global index, layer, row in the layer).
    public var positions: [Int32]                                       // (N, 3)

    public init(tokens: Tensor, mask: Tensor, positions: [Int32]) {
        precondition(tokens.rank == 2 && mask.shape == tokens.shape && positions.count == 3 * tokens.shape[0],
                     "tokens \(tokens.shape), mask \(mask.shape) and \(positions.count) position entries do not describe one sequence")
        self.tokens = tokens
        self.mask = mask
        self.positions = positions
    }

    /// N: number of tokens.
    public var count: Int { tokens.shape[0] }
    /// d_t: values per token.
    public var tokenSize: Int { tokens.shape[1] }

    /// Sizes the layer and row position tables need for this sequence: max l + 1, max k + 1.
    public var positionExtent: (layers: Int, rows: Int) {
        var l: Int32 = -1, k: Int32 = -1
        for i in 0..<count { l = max(l, positions[3 * i + 1]); k = max(k, positions[3 * i + 2]) }
        return (Int(l) + 1, Int(k) + 1)
    }

    /// The `length` tokens starting at `start`, with their masks and positions. Rows past the
    /// end of the sequence are padding: zero tokens, zero mask, position `[0, 0, 0]`.
    public func window(start: Int, length: Int) -> TokenSequence {
        precondition(length > 0 && start >= 0 && (start < count || count == 0),
                     "window start \(start) outside a sequence of \(count) tokens")
        let d = tokenSize
        let real = min(length, count - start)
        /// Rows start..<start + real, then zero rows up to `length`.
        func padded(_ t: Tensor) -> Tensor {                            // (ws, d_t)
            let rows = t.rows(start..<(start + real))
            return real == length ? rows : Tensor.concatenated([rows, Tensor(zeros: [length - real, d])])
        }
        let tokens = padded(self.tokens), mask = padded(self.mask)
        var positions = [Int32](repeating: 0, count: 3 * length)        // (ws, 3)
        positions.replaceSubrange(0..<(3 * real), with: self.positions[(3 * start)..<(3 * (start + real))])
        return TokenSequence(tokens: tokens, mask: mask, positions: positions)
    }

    /// A window of `length` consecutive tokens with its start drawn uniformly from
    /// `0...N−length` (SANE-SPEC §3 "Windows"). When N ≤ `length` the window is the whole
    /// sequence, padded at the end to `length` tokens with mask 0 (see `window(start:length:)`).
    public func randomWindow(length: Int, using generator: inout SeededGenerator) -> TokenSequence {
        let start = count > length ? generator.int(below: count - length + 1) : 0
        return window(start: start, length: length)
    }
}
