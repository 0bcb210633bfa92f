// The on-disk token store: a zoo tokenized once, read back memory-mapped one window at a time
// (SANE-SPEC §3 "Windows", §9; issue 14 item 1). Memory while training is bounded by the batch,
// not by the zoo.
//
// Layout of a store folder:
//
//     STORE/index.json                 settings, zoo fingerprints, layouts, permutation specs,
//                                      standardization, the checkpoints (split, model, epoch,
//                                      shard, tensor) and the shards (file, bytes, FNV-1a hash);
//                                      written last, atomically: its presence marks a complete store
//     STORE/shard-NNNNN.safetensors    "c<i>" [N, d_t] F32: checkpoint i's aligned, standardized tokens;
//                                      "p<m>" [P, S] F32: model m's P random permutations (view 2),
//                                      the groups of the spec concatenated (S = Σ group sizes)
//     STORE/reference-K.safetensors    zoo K's alignment reference
//
// Shape legend: N tokens, d_t token size, ws window, P permutations per model, S units of all groups.

import Foundation
import SaneData
import SaneTensor

/// Where one checkpoint's tokens lie in a `TokenStore`, with what training needs to know about it.
public struct WeightSample: Sendable, Codable, Equatable {
    /// Zoo index in the run's selections.
    public var zoo: Int
    public var model: String
    public var epoch: Int
    /// Index of the model in the store (its permutations are "p<modelIndex>").
    public var modelIndex: Int
    /// N: tokens of the checkpoint.
    public var tokens: Int
    public var shard: Int
}

public final class TokenStore: @unchecked Sendable {
    // @unchecked: every stored property is immutable after init; the mappings are read-only.
    public static let indexName = "index.json"
    static let format = 1

    /// What the stored tokens depend on besides the zoo files: a store made with other settings
    /// is stale.
    public struct Settings: Codable, Equatable, Sendable {
        public struct Selection: Codable, Equatable, Sendable {
            public var path: String
            public var epochs: [Int]?
            public var splitSeed: Int
        }
        public var format = TokenStore.format
        public var tokenizer: TokenizerConfig
        public var standardize: Bool
        public var align: Bool
        public var permutations: Int
        public var seed: UInt64
        public var zoos: [Selection]

        public init(selections: [ZooSelection], tokenizer: TokenizerConfig, standardize: Bool, align: Bool, permutations: Int, seed: UInt64) {
            self.tokenizer = tokenizer; self.standardize = standardize; self.align = align
            self.permutations = permutations; self.seed = seed
            zoos = selections.map { Selection(path: $0.canonicalPath, epochs: $0.epochs, splitSeed: $0.splitSeed) }
        }
    }

    struct ZooEntry: Codable {
        var contents: ZooContents
        var layout: TokenLayout
        var spec: PermutationSpec
        var standardization: LayerStandardization?
        var skipped: [String]
    }

    struct Shard: Codable {
        var file: String
        var bytes: Int
        /// FNV-1a 64 of the file's bytes, 16 hex digits.
        var hash: String
    }

    struct Index: Codable {
        var settings: Settings
        var zoos: [ZooEntry]
        var shards: [Shard]
        /// Checkpoints per split, in the order training sees them.
        var train: [WeightSample], validation: [WeightSample], test: [WeightSample]
        /// Shard holding model m's permutations.
        var permutationShards: [Int]
    }

    public let directory: URL
    let index: Index
    let shards: [MappedSafetensors]
    /// Per zoo: where a permutation of the spec moves each layer's rows and columns.
    let maps: [LayerPermutationMap]
    /// Per zoo: positions (N·3) and real values per token (N), from the layout.
    let positions: [[Int32]]
    let realValues: [[Int32]]
    /// Removed with the store object (a store built for one process only).
    let temporary: Bool

    public var settings: Settings { index.settings }
    public var train: [WeightSample] { index.train }
    public var validation: [WeightSample] { index.validation }
    public var test: [WeightSample] { index.test }
    public var layouts: [TokenLayout] { index.zoos.map(\.layout) }
    public var skipped: [String] { index.zoos.flatMap(\.skipped) }

    deinit { if temporary { try? FileManager.default.removeItem(at: directory) } }

    /// The hint every stale or damaged store error carries.
    static func rebuildHint(_ directory: URL) -> String {
        "delete \(directory.path) or pass --rebuild-token-store to tokenize the zoo again"
    }

    // MARK: opening

    /// Opens the store at `directory`, checking that it is complete, undamaged (sizes, headers,
    /// hashes) and made with `settings` from the zoo files as they are now (`contents`).
    public init(opening directory: URL, settings: Settings, contents: [ZooContents], temporary: Bool = false) throws {
        self.directory = directory
        self.temporary = temporary
        let hint = TokenStore.rebuildHint(directory)
        let indexURL = directory.appendingPathComponent(TokenStore.indexName)
        guard let data = FileManager.default.contents(atPath: indexURL.path) else {
            throw SaneError("token store \(directory.path) has no \(TokenStore.indexName) (not a store, or its build was interrupted)", hint: hint)
        }
        let index: Index
        do { index = try SaneJSON.decoder().decode(Index.self, from: data) } catch {
            throw SaneError("token store index \(indexURL.path) is unreadable: \(String(describing: error).prefix(200))", hint: hint)
        }
        guard index.settings == settings else {
            throw SaneError("token store \(directory.path) was made with other settings (\(TokenStore.settingsDifference(index.settings, settings)))", hint: hint)
        }
        guard index.zoos.count == contents.count else {
            throw SaneError("token store \(directory.path) holds \(index.zoos.count) zoos, the run selects \(contents.count)", hint: hint)
        }
        for (k, zoo) in index.zoos.enumerated() {
            if let change = zoo.contents.difference(to: contents[k]) {
                throw SaneError("zoo \(settings.zoos[k].path) changed since token store \(directory.path) was made: \(change)", hint: hint)
            }
        }
        var shards: [MappedSafetensors] = []
        for shard in index.shards {
            let url = directory.appendingPathComponent(shard.file)
            let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? nil
            guard let size else { throw SaneError("token store shard \(url.path) is missing", hint: hint) }
            guard size == shard.bytes else {
                throw SaneError("token store shard \(url.path) has \(size) bytes, the index says \(shard.bytes) (truncated or overwritten)", hint: hint)
            }
            let mapped = try MappedSafetensors(url, hint: hint)
            guard TokenStore.hash(mapped) == shard.hash else {
                throw SaneError("token store shard \(url.path) does not match its hash in the index (corrupt)", hint: hint)
            }
            shards.append(mapped)
        }
        for sample in index.train + index.validation + index.test {
            let d = index.zoos[sample.zoo].layout.tokenSize
            guard sample.shard < shards.count, let e = shards[sample.shard].entry("c\(TokenStore.checkpointKey(sample))"),
                  e.dtype == .float32, e.shape == [sample.tokens, d] else {
                throw SaneError("token store \(directory.path): checkpoint \(sample.model) epoch \(sample.epoch) is not in shard \(sample.shard) as [\(sample.tokens), \(d)] F32", hint: hint)
            }
        }
        self.index = index
        self.shards = shards
        maps = try index.zoos.map { try LayerPermutationMap(spec: $0.spec, layout: $0.layout) }
        positions = index.zoos.map { $0.layout.positions() }
        realValues = index.zoos.map { TokenStore.realValues($0.layout) }
    }

    /// Checkpoint tensor name: unique per (zoo, model, epoch).
    static func checkpointKey(_ s: WeightSample) -> String { "\(s.zoo)/\(s.model)/\(s.epoch)" }

    static func hash(_ file: MappedSafetensors) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let chunk = 1 << 24
        for start in stride(from: 0, to: file.size, by: chunk) {
            let range = start..<min(file.size, start + chunk)
            h = ZooContents.fnv1a(file.bytes(range), continuing: h)
            file.release(range)
        }
        return ZooContents.hex(h)
    }

    static func settingsDifference(_ a: Settings, _ b: Settings) -> String {
        var parts: [String] = []
        if a.tokenizer != b.tokenizer { parts.append("tokenizer") }
        if a.standardize != b.standardize { parts.append("standardize \(a.standardize) vs \(b.standardize)") }
        if a.align != b.align { parts.append("align \(a.align) vs \(b.align)") }
        if a.permutations != b.permutations { parts.append("permutations \(a.permutations) vs \(b.permutations)") }
        if a.seed != b.seed { parts.append("seed \(a.seed) vs \(b.seed)") }
        if a.zoos != b.zoos { parts.append("zoos or epochs") }
        if a.format != b.format { parts.append("format \(a.format) vs \(b.format)") }
        return parts.joined(separator: ", ")
    }

    /// Real (unpadded) values of each token: the first `realValues[n]` entries of token n.
    static func realValues(_ layout: TokenLayout) -> [Int32] {
        var real = [Int32](repeating: 0, count: layout.tokenCount)
        for layer in layout.layers {
            for row in 0..<layer.rows {
                for chunk in 0..<layer.chunksPerRow {
                    real[layer.firstToken + row * layer.chunksPerRow + chunk] = Int32(min(layout.tokenSize, layer.valuesPerRow - chunk * layout.tokenSize))
                }
            }
        }
        return real
    }

    // MARK: reading

    /// Permutation `p` of `sample`'s model (the groups of the zoo's spec).
    func permutation(_ p: Int, of sample: WeightSample) -> Permutation {
        let file = shards[index.permutationShards[sample.modelIndex]]
        let e = file.entry("p\(sample.modelIndex)")!
        let s = e.shape[1]
        var flat = [Float](repeating: 0, count: s)
        flat.withUnsafeMutableBufferPointer { file.copyFloats(of: e, elements: (p * s)..<((p + 1) * s), into: $0.baseAddress!) }
        file.releaseMapped(around: (file.header.dataStart + e.begin)..<(file.header.dataStart + e.end))
        var groups: [[Int]] = [], offset = 0
        for g in index.zoos[sample.zoo].spec.groups {
            groups.append(flat[offset..<(offset + g.size)].map { Int($0) })
            offset += g.size
        }
        return Permutation(groups: groups)
    }

    /// Permutations stored per model.
    public var permutationsPerModel: Int { index.settings.permutations }

    /// The `length` tokens of `sample` from `start` (padded past the end as
    /// `TokenSequence.window`), under its model's stored permutation `permutation` (nil: the
    /// aligned model itself). Reads only what the window needs from the mapped shard and then
    /// drops the shard's pages from the resident set (as the permutation's).
    public func window(_ sample: WeightSample, start: Int, length: Int, permutation: Int? = nil) -> TokenSequence {
        let n = sample.tokens, d = index.zoos[sample.zoo].layout.tokenSize
        precondition(length > 0 && start >= 0 && (start < n || n == 0), "window start \(start) outside a sequence of \(n) tokens")
        let real = min(length, n - start)
        let file = shards[sample.shard]
        let entry = file.entry("c\(TokenStore.checkpointKey(sample))")!
        let counts = realValues[sample.zoo]
        var tokens = Tensor(zeros: [length, d])                         // (ws, d_t)
        if let permutation {
            let map = maps[sample.zoo], perm = self.permutation(permutation, of: sample)
            let source = file.data(of: entry)
            tokens.withMutableHostBuffer { out in
                for t in 0..<real {
                    let token = start + t
                    for j in 0..<Int(counts[token]) {
                        let from = map.source(token: token, value: j, permutation: perm)
                        out[t * d + j] = StoredScalarType.float32.element(source, from)
                    }
                }
            }
        } else {
            tokens.withMutableHostBuffer { out in file.copyFloats(of: entry, elements: (start * d)..<((start + real) * d), into: out.baseAddress!) }
        }
        // Widened to the blocks a fault maps (fault-around, large folios): releasing only the
        // entry's bytes left 1–3.5 MB of every 64 MB shard read resident (BENCHMARKS.md).
        file.releaseMapped(around: (file.header.dataStart + entry.begin)..<(file.header.dataStart + entry.end))
        var mask = Tensor(zeros: [length, d])                           // (ws, d_t)
        mask.withMutableHostBuffer { m in
            for t in 0..<real { (m.baseAddress! + t * d).update(repeating: 1, count: Int(counts[start + t])) }
        }
        var windowPositions = [Int32](repeating: 0, count: 3 * length)  // (ws, 3)
        windowPositions.replaceSubrange(0..<(3 * real), with: positions[sample.zoo][(3 * start)..<(3 * (start + real))])
        return TokenSequence(tokens: tokens, mask: mask, positions: windowPositions)
    }

    /// The whole aligned sequence of `sample`.
    public func sequence(_ sample: WeightSample) -> TokenSequence {
        sample.tokens == 0 ? TokenSequence(tokens: Tensor(zeros: [0, index.zoos[sample.zoo].layout.tokenSize]), mask: Tensor(zeros: [0, index.zoos[sample.zoo].layout.tokenSize]), positions: [])
                           : window(sample, start: 0, length: sample.tokens)
    }

    /// The whole sequence of `sample` under its stored permutation `p`.
    public func permutedSequence(_ sample: WeightSample, permutation p: Int) -> TokenSequence {
        window(sample, start: 0, length: sample.tokens, permutation: p)
    }

    /// Zoo `k`'s preprocessing (for the run folder and for embedding like training did).
    public func preprocessing(zoo k: Int) throws -> ZooPreprocessing {
        let reference = try Safetensors.read(directory.appendingPathComponent("reference-\(k).safetensors"))
        let z = index.zoos[k]
        return ZooPreprocessing(tokenizer: Tokenizer(index.settings.tokenizer), spec: z.spec, reference: reference,
                                standardization: z.standardization, align: index.settings.align)
    }
}

/// Where a permutation of a `PermutationSpec` moves the values of each tokenized layer: the
/// rows follow the group on the weight's axis 0 (and the bias, which must be permuted by the
/// same group), the columns the group on axis 1, whose units own blocks of `unit` consecutive
/// columns (blockSize · product of the later dimensions). Other axes cannot be permuted
/// window by window and are refused when the store is opened.
struct LayerPermutationMap: Sendable {
    struct Layer: Sendable {
        var firstToken: Int, chunksPerRow: Int, rowLength: Int
        var rowGroup: Int?
        var columnGroup: Int?, unit: Int
    }
    var tokenSize: Int
    var layers: [Layer]
    /// Layer of every token.
    var layerOfToken: [Int32]

    init(spec: PermutationSpec, layout: TokenLayout) throws {
        tokenSize = layout.tokenSize
        var byKey: [String: Int] = [:]
        layers = layout.layers.enumerated().map { l, layer in
            byKey[layer.weightKey] = l
            if let b = layer.biasKey { byKey[b] = l }
            return Layer(firstToken: layer.firstToken, chunksPerRow: layer.chunksPerRow, rowLength: layer.rowLength,
                         rowGroup: nil, columnGroup: nil, unit: 1)
        }
        for (g, group) in spec.groups.enumerated() {
            for axis in group.axes {
                guard let l = byKey[axis.key] else { continue }              // not tokenized (e.g. BN statistics left out)
                let layer = layout.layers[l]
                let isBias = axis.key == layer.biasKey
                switch (axis.axis, isBias) {
                case (0, _):
                    guard layers[l].rowGroup == nil || layers[l].rowGroup == g else {
                        throw SaneError("permutation spec permutes the rows of layer '\(layer.weightKey)' by two groups", hint: "the spec does not fit the tokenizer's layout")
                    }
                    layers[l].rowGroup = g
                case (1, false):
                    let rest = layer.weightShape.dropFirst(2).reduce(1, *)
                    layers[l].columnGroup = g
                    layers[l].unit = axis.blockSize * rest
                default:
                    throw SaneError("permutation spec group '\(group.name)' permutes axis \(axis.axis) of '\(axis.key)', which windows cannot permute on the fly",
                                    hint: "only output (axis 0) and input (axis 1) axes of tokenized layers are supported")
                }
            }
        }
        layerOfToken = [Int32](repeating: 0, count: layout.tokenCount)
        for layer in layout.layers { for t in 0..<layer.tokenCount { layerOfToken[layer.firstToken + t] = Int32(layer.index) } }
    }

    /// Flat index (token · d_t + value) in the aligned sequence of value `value` of token `token`
    /// in the sequence permuted by `permutation`: new row k holds old row order[k], new column c
    /// old column order[c / unit]·unit + c mod unit; the bias column stays last.
    @inline(__always) func source(token: Int, value: Int, permutation: Permutation) -> Int {
        let layer = layers[Int(layerOfToken[token])]
        let local = token - layer.firstToken
        let row = local / layer.chunksPerRow, chunk = local % layer.chunksPerRow
        let column = chunk * tokenSize + value
        let sourceRow = layer.rowGroup.map { permutation.groups[$0][row] } ?? row
        var sourceColumn = column
        if let g = layer.columnGroup, column < layer.rowLength {
            sourceColumn = permutation.groups[g][column / layer.unit] * layer.unit + column % layer.unit
        }
        return (layer.firstToken + sourceRow * layer.chunksPerRow) * tokenSize + sourceColumn
    }
}
