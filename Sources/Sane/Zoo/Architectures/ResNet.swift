// ResNet-18 and ResNet-34 as in the published ResNet zoos (SANE-SPEC §9): torchvision's ResNet
// with BasicBlocks and a CIFAR stem (3×3 stride-1 conv1, no max-pool), `model::width` base
// channels (64 = the real models). The network itself is `SaneNN.ResNet`.

/// `Resnet18` ([2, 2, 2, 2] blocks) and `Resnet34` ([3, 4, 6, 3]).
public struct ResNetArchitecture: ZooArchitectureDefinition {
    public let name: String
    /// BasicBlocks per stage.
    public let blocks: [Int]
    public var inputSize: Int { 32 }
    public var defaultWidth: Int? { 64 }

    public static let resnet18 = ResNetArchitecture(name: "Resnet18", blocks: [2, 2, 2, 2])
    public static let resnet34 = ResNetArchitecture(name: "Resnet34", blocks: [3, 4, 6, 3])

    /// torchvision's ResNet; always ReLU, no dropout, torchvision's initialization (the
    /// configuration's activation, dropout and init type do not apply).
    public func build(_ configuration: ZooNetworkConfiguration, using g: inout SeededGenerator) -> any Layer {
        ResNet(blocks: blocks, width: configuration.width ?? 64, channelsIn: configuration.channelsIn,
               classes: configuration.outputs, using: &g)
    }

    /// The residual network's symmetry (SANE-SPEC §9 "Permutation symmetry"), derived from the
    /// torchvision key names of `stateDict` (any wrapper prefix):
    /// - each block's inner channels: `conv1` rows, `bn1`, `conv2` input axis;
    /// - each stage's residual stream: the stem (`conv1`, `bn1`) or the first block's
    ///   `downsample` (conv rows, BN), every block's `conv2` rows and `bn2`, the input axis of
    ///   every `conv1` and `downsample.0` reading the stream, and for the last stage `fc`'s input.
    public func permutationSpec(for stateDict: StateDict) throws -> PermutationSpec {
        guard let stem = stateDict.keys.first(where: { $0 == "conv1.weight" || $0.hasSuffix(".conv1.weight") && !$0.contains("layer") }) else {
            throw SaneError("no stem 'conv1.weight' in the state_dict", hint: "a \(name) checkpoint has torchvision's keys (conv1.weight, layer1.0.conv1.weight, …, fc.weight)")
        }
        let prefix = String(stem.dropLast("conv1.weight".count))
        func rows(_ key: String) throws -> Int {
            guard let t = stateDict[prefix + key] else {
                throw SaneError("state_dict has no '\(prefix + key)'", hint: "a \(name) checkpoint has torchvision's keys")
            }
            return t.shape[0]
        }
        func batchNorm(_ module: String) -> [PermutationSpec.Axis] {
            ["weight", "bias", "running_mean", "running_var"].map { prefix + module + "." + $0 }
                .filter { stateDict[$0] != nil }.map { PermutationSpec.Axis(key: $0, axis: 0) }
        }
        func axis(_ key: String, _ a: Int) -> PermutationSpec.Axis { PermutationSpec.Axis(key: prefix + key, axis: a) }
        var groups: [PermutationSpec.Group] = []
        var stream = (name: prefix + "conv1.weight", size: try rows("conv1.weight"), axes: [axis("conv1.weight", 0)] + batchNorm("bn1"))
        for s in 1...blocks.count {
            for b in 0..<blocks[s - 1] {
                let block = "layer\(s).\(b)."
                groups.append(.init(name: prefix + block + "conv1.weight", size: try rows(block + "conv1.weight"),
                                    axes: [axis(block + "conv1.weight", 0)] + batchNorm(block + "bn1") + [axis(block + "conv2.weight", 1)]))
                if stateDict[prefix + block + "downsample.0.weight"] != nil {
                    stream.axes += [axis(block + "conv1.weight", 1), axis(block + "downsample.0.weight", 1)]
                    groups.append(.init(name: stream.name, size: stream.size, axes: stream.axes))
                    stream = (prefix + block + "downsample.0.weight", try rows(block + "downsample.0.weight"),
                              [axis(block + "downsample.0.weight", 0)] + batchNorm(block + "downsample.1"))
                } else {
                    stream.axes.append(axis(block + "conv1.weight", 1))
                }
                stream.axes += [axis(block + "conv2.weight", 0)] + batchNorm(block + "bn2")
            }
        }
        stream.axes.append(axis("fc.weight", 1))
        groups.append(.init(name: stream.name, size: stream.size, axes: stream.axes))
        return PermutationSpec(groups: groups)
    }
}
