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
        var tokens = 0, layers = 0, rows = 0
        for s in sequences {
            tokens = max(tokens, s.count)
            let extent = s.positionExtent
            layers = max(layers, extent.layers); rows = max(rows, extent.rows)
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
