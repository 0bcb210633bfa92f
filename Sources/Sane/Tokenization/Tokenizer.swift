// SANE's tokenizer: a state_dict ⇄ a sequence of fixed-size tokens (SANE-SPEC §2; Schürholt
// et al., ICML 2024, §3.1).
//
// Shape legend: N tokens of the model, d_t token size, c_out rows of a layer,
// r values per row of the weight, r' = r + 1 with a bias column.

/// Tokenizer settings.
public struct TokenizerConfig: Sendable, Equatable, Codable {
    /// d_t: values per token [289 for the CNN zoos, 288 for ResNets].
    public var tokenSize: Int
    /// Tokenize BatchNorm `running_mean` / `running_var` as layers of their own (SANE) or leave
    /// them out (MultiZoo) [false].
    public var includeBatchNormStatistics: Bool

    public init(tokenSize: Int = 289, includeBatchNormStatistics: Bool = false) {
        precondition(tokenSize > 0, "token size must be positive, got \(tokenSize)")
        self.tokenSize = tokenSize
        self.includeBatchNormStatistics = includeBatchNormStatistics
    }
}

/// Cuts a state_dict into tokens and puts tokens back into a state_dict.
///
/// Layers are found by walking the state_dict **in key order**:
/// - a key ending in `weight` is a layer; the key with the same prefix ending in `bias`, if
///   present, is appended as the last column (a BatchNorm `weight` `[c]` is a layer of c rows
///   of 1 value, plus its bias);
/// - keys ending in `running_mean` / `running_var` are layers of c rows of 1 value when
///   `includeBatchNormStatistics` is set, and left out otherwise;
/// - anything else (`num_batches_tracked`, …) is never tokenized.
///
/// Each row of r' values becomes `ceil(r'/d_t)` tokens, the last zero-padded; layers are
/// concatenated into `T ∈ R^{N×d_t}` with mask `M` and positions `P_n = [n, l, k]`.
/// Golden sizes with d_t 289: `CNN` → 48 tokens, 5 layers; `CNN3` → 93 tokens, 5 layers.
public struct Tokenizer: Sendable {
    public var configuration: TokenizerConfig

    public init(_ configuration: TokenizerConfig = TokenizerConfig()) {
        self.configuration = configuration
    }

    /// Whether the entry `key` is read into tokens (as a weight, a bias, or a BatchNorm running
    /// statistic when those are included); `num_batches_tracked` and the like never are.
    public func tokenizes(_ key: String) -> Bool {
        key.hasSuffix("weight") || key.hasSuffix("bias")
            || configuration.includeBatchNormStatistics && (key.hasSuffix("running_mean") || key.hasSuffix("running_var"))
    }

    /// The keys of `stateDict` that no tokenizer setting reads or deliberately leaves out, in key
    /// order: anything but a `*weight`, a `*bias` beside its `*weight`, a BatchNorm
    /// `*running_mean` / `*running_var` and a `*num_batches_tracked`. Keras/TensorFlow names
    /// (`kernel`, `gamma`, `beta`, `moving_mean`, `moving_variance`) and orphan biases end up here.
    public static func unrecognizedKeys(in stateDict: StateDict) -> [String] {
        stateDict.keys.filter { key in
            if ["weight", "running_mean", "running_var", "num_batches_tracked"].contains(where: key.hasSuffix) { return false }
            if key.hasSuffix("bias") { return stateDict[String(key.dropLast("bias".count)) + "weight"] == nil }
            return true
        }
    }

    /// Throws a one-line error naming `source` (a file), the keys that are not understood (the
    /// first few, with their shapes) and how to convert them, when `stateDict` has any
    /// (`unrecognizedKeys(in:)`) or has no `*weight` at all — it would tokenize into 0 tokens or
    /// silently drop those entries.
    public static func checkUnderstood(_ stateDict: StateDict, source: String? = nil) throws {
        let unknown = unrecognizedKeys(in: stateDict)
        let hasLayer = stateDict.keys.contains { $0.hasSuffix("weight") }
        guard !unknown.isEmpty || !hasLayer else { return }
        let shown = (unknown.isEmpty ? stateDict.keys : unknown)
        let list = shown.prefix(4).map { "\($0) \(stateDict[$0]!.shape)" }.joined(separator: ", ") + (shown.count > 4 ? ", …" : "")
        let what = unknown.isEmpty
            ? "has no '*weight' entry, so it tokenizes into 0 tokens (\(stateDict.count) keys: \(list.isEmpty ? "none" : list))"
            : "has \(unknown.count) of \(stateDict.count) keys the tokenizer does not understand: \(list)"
        let keras = ["kernel", "gamma", "beta", "moving_mean", "moving_variance"]
        let hint = stateDict.keys.contains { key in keras.contains { key.hasSuffix($0) } }
            ? "these are Keras/TensorFlow names; convert to PyTorch's: conv kernel [kh, kw, in, out] (HWIO) → weight = kernel.transpose(3, 2, 0, 1), dense kernel [in, out] → weight = kernel.T, gamma/beta → weight/bias, moving_mean/moving_variance → running_mean/running_var"
            : "Sane reads PyTorch state_dicts: <layer>.weight [c_out, …] with an optional <layer>.bias [c_out], BatchNorm running_mean/running_var/num_batches_tracked; rename other entries or leave them out"
        throw SaneError("\(source.map { "\($0): " } ?? "")state_dict \(what)", hint: hint)
    }

    /// The layout of the layers of `stateDict` (names and shapes only; values are not read).
    /// Throws when a key is not understood or no layer is found (`checkUnderstood`), when a
    /// weight is a scalar or empty, or when a bias does not have one value per row.
    public func layout(for stateDict: StateDict) throws -> TokenLayout {
        try Tokenizer.checkUnderstood(stateDict)
        let d = configuration.tokenSize
        var layers: [LayerLayout] = []
        var nextToken = 0
        for key in stateDict.keys {
            let shape = stateDict[key]!.shape
            var biasKey: String?
            if key.hasSuffix("weight") {
                let candidate = String(key.dropLast("weight".count)) + "bias"
                if let bias = stateDict[candidate] {
                    guard shape.count >= 1, bias.count == shape[0] else {
                        throw SaneError("bias '\(candidate)' of shape \(bias.shape) does not match weight '\(key)' of shape \(shape)",
                                        hint: "a bias needs one value per output row of its weight")
                    }
                    biasKey = candidate
                }
            } else if !(configuration.includeBatchNormStatistics
                        && (key.hasSuffix("running_mean") || key.hasSuffix("running_var"))) {
                continue
            }
            guard shape.count >= 1, shape[0] > 0, Tensor.elementCount(shape) > 0 else {
                throw SaneError("cannot tokenize '\(key)' of shape \(shape)",
                                hint: "a tokenized layer needs at least one row with at least one value")
            }
            let rows = shape[0]
            let rowLength = Tensor.elementCount(shape) / rows
            let valuesPerRow = rowLength + (biasKey == nil ? 0 : 1)
            let chunksPerRow = (valuesPerRow + d - 1) / d
            layers.append(LayerLayout(index: layers.count, weightKey: key, biasKey: biasKey,
                                      weightShape: shape, rows: rows, rowLength: rowLength,
                                      valuesPerRow: valuesPerRow, chunksPerRow: chunksPerRow,
                                      firstToken: nextToken))
            nextToken += rows * chunksPerRow
        }
        guard nextToken > 0 else {
            throw SaneError("state_dict tokenizes into 0 tokens (keys: \(stateDict.keys.prefix(4).joined(separator: ", ")))",
                            hint: "a checkpoint needs at least one '<layer>.weight' entry")
        }
        return TokenLayout(tokenSize: d, layers: layers)
    }

    /// Tokens, mask and positions of `stateDict`.
    public func tokenize(_ stateDict: StateDict) throws -> TokenSequence {
        try tokenize(stateDict, layout: layout(for: stateDict))
    }

    /// Tokens, mask and positions of `stateDict`, with a layout computed once for its
    /// architecture (the fast path for a whole zoo). Throws when a layer's tensor is missing
    /// or has another shape than in `layout`.
    public func tokenize(_ stateDict: StateDict, layout: TokenLayout) throws -> TokenSequence {
        let d = layout.tokenSize
        var tokens = Tensor(zeros: [layout.tokenCount, d])              // (N, d_t)
        try tokens.withMutableHostBuffer { t in
            for layer in layout.layers {
                let weight = try Tokenizer.tensor(layer.weightKey, shape: layer.weightShape, in: stateDict)
                let bias = try layer.biasKey.map { try Tokenizer.tensor($0, shape: [layer.rows], in: stateDict) }
                let span = layer.chunksPerRow * d                       // one row's tokens, padded
                let first = t.baseAddress! + layer.firstToken * d
                weight.withHostBuffer { w in                            // (c_out, r)
                    for row in 0..<layer.rows {
                        (first + row * span).update(from: w.baseAddress! + row * layer.rowLength, count: layer.rowLength)
                    }
                }
                bias?.withHostBuffer { b in                             // (c_out)
                    for row in 0..<layer.rows { first[row * span + layer.rowLength] = b[row] }
                }
            }
        }
        return TokenSequence(tokens: tokens, mask: layout.mask(), positions: layout.positions())
    }

    /// The exact inverse of `tokenize`: a state_dict with the keys, shapes and key order of
    /// `reference`, whose tokenized layers are refilled from `tokens` (padding dropped, the
    /// bias is the first value after a row's weights) and whose other entries
    /// (`num_batches_tracked`, BatchNorm statistics when left out, …) are copied from `reference`.
    /// - Parameter tokens: `[N, d_t]` with N and d_t of `reference`'s layout.
    public func detokenize(_ tokens: Tensor, like reference: StateDict) throws -> StateDict {
        let layout = try layout(for: reference)
        let d = layout.tokenSize
        guard tokens.shape == [layout.tokenCount, d] else {
            throw SaneError("tokens of shape \(tokens.shape) do not fit the reference architecture, which needs [\(layout.tokenCount), \(d)]",
                            hint: "de-tokenize with the reference state_dict and token size the tokens were made with")
        }
        var filled: [String: Tensor] = [:]
        tokens.withHostBuffer { t in                                    // (N, d_t)
            for layer in layout.layers {
                let span = layer.chunksPerRow * d
                let first = t.baseAddress! + layer.firstToken * d
                filled[layer.weightKey] = Tensor(hostShape: layer.weightShape) { w in
                    for row in 0..<layer.rows {
                        (w.baseAddress! + row * layer.rowLength).update(from: first + row * span, count: layer.rowLength)
                    }
                }
                if let biasKey = layer.biasKey {
                    filled[biasKey] = Tensor(hostShape: reference[biasKey]!.shape) { b in
                        for row in 0..<layer.rows { b[row] = first[row * span + layer.rowLength] }
                    }
                }
            }
        }
        return StateDict(reference.items.map { key, value in (key, filled[key] ?? value) },
                         metadata: reference.metadata)
    }

    /// `stateDict[key]`, checked to exist with `shape` (a bias is checked by element count).
    private static func tensor(_ key: String, shape: [Int], in stateDict: StateDict) throws -> Tensor {
        guard let tensor = stateDict[key] else {
            throw SaneError("state_dict has no '\(key)'", hint: "tokenize checkpoints of one architecture with that architecture's layout")
        }
        guard tensor.shape == shape || (shape.count == 1 && tensor.count == shape[0]) else {
            throw SaneError("'\(key)' has shape \(tensor.shape), the layout expects \(shape)",
                            hint: "tokenize checkpoints of one architecture with that architecture's layout")
        }
        return tensor
    }
}
