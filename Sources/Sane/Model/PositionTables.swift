// The position tables of SANE (SANE-SPEC §4: E_n, E_l, E_k) sized from the zoo, so a ResNet
// whose layers have more rows than the preset (512 rows in ResNet-18's layer4) trains instead of
// stopping on the table-size check in `PositionEmbedding`.

extension SANEConfig {
    /// Grows `maxTokens`, `maxLayers` and `maxRows` to the largest global index, layer index and
    /// row index of `sequences` (+ 1); never shrinks them (a preset that already fits is unchanged,
    /// so runs of zoos that fit keep their exact initialization). Returns the names of the tables
    /// that grew, e.g. ["maxRows 256 → 512"].
    @discardableResult
    public mutating func growPositionTables(toFit sequences: [TokenSequence]) -> [String] {
        growPositionTables(toFit: sequences.map { ($0.count, $0.positionExtent.layers, $0.positionExtent.rows) })
    }

    /// `growPositionTables(toFit:)` for the sequences of token layouts (the token store's zoos).
    @discardableResult
    public mutating func growPositionTables(toFit layouts: [TokenLayout]) -> [String] {
        growPositionTables(toFit: layouts.map(\.positionExtent))
    }

    /// The tables sized to (tokens, layers, rows) extents.
    mutating func growPositionTables(toFit extents: [(tokens: Int, layers: Int, rows: Int)]) -> [String] {
        var tokens = 0, layers = 0, rows = 0
        for e in extents {
            tokens = max(tokens, e.tokens); layers = max(layers, e.layers); rows = max(rows, e.rows)
        }
        var grown: [String] = []
        func grow(_ name: String, _ value: inout Int, _ needed: Int) {
            if needed > value { grown.append("\(name) \(value) → \(needed)"); value = needed }
        }
        grow("maxTokens", &maxTokens, tokens)
        grow("maxLayers", &maxLayers, layers)
        grow("maxRows", &maxRows, rows)
        return grown
    }
}

extension TokenLayout {
    /// Position table sizes the layout's sequence needs: N, max l + 1, max k + 1.
    public var positionExtent: (tokens: Int, layers: Int, rows: Int) {
        (tokenCount, (layers.map(\.index).max() ?? -1) + 1, layers.map(\.rows).max() ?? 0)
    }
}
