// Which axes of which tensors move together when hidden units are permuted
// (SANE-SPEC §3 "Alignment"; Ainsworth et al., "Git Re-Basin", ICLR 2023, §3).

/// The permutation symmetries of an architecture: a list of groups, each a set of hidden units
/// (e.g. the output channels of a conv) together with every tensor axis indexed by them
/// (the conv's weight rows and bias, a following BatchNorm, the next layer's input axis).
/// Permuting a group on all its axes at once leaves the network's function unchanged.
public struct PermutationSpec: Sendable, Equatable, Codable {
    /// One tensor axis moved by a group: dimension `axis` of tensor `key`, viewed as
    /// `[size, blockSize]` and permuted along the first factor. `blockSize` is 1 except for the
    /// input axis of a Linear after Flatten, where each channel owns a block of H·W inputs.
    public struct Axis: Sendable, Equatable, Codable {
        public var key: String
        public var axis: Int
        public var blockSize: Int

        public init(key: String, axis: Int, blockSize: Int = 1) {
            self.key = key
            self.axis = axis
            self.blockSize = blockSize
        }
    }

    /// One permutation group: `size` units and the axes they index.
    public struct Group: Sendable, Equatable, Codable {
        /// A readable name (the weight key of the layer whose outputs the group is).
        public var name: String
        public var size: Int
        public var axes: [Axis]

        public init(name: String, size: Int, axes: [Axis]) {
            self.name = name
            self.size = size
            self.axes = axes
        }
    }

    public var groups: [Group]

    public init(groups: [Group]) { self.groups = groups }

    /// The spec of a **sequential chain** of conv (4-D weight) and linear (2-D weight) layers,
    /// inferred from the state_dict's key order and shapes alone — the `CNN` / `CNN3` zoo models
    /// (SANE-SPEC §1). Assumptions:
    /// - the layers with a ≥ 2-D `*weight`, in key order, are applied one after the other, each
    ///   feeding the next (dropout, pooling, activations and Flatten have no parameters);
    /// - the outputs of every layer but the last form a group, permuting that layer's weight
    ///   axis 0, its `*bias`, the `*weight`/`*bias`/`*running_mean`/`*running_var` of 1-D
    ///   layers (BatchNorm) that follow it before the next conv/linear, and the next layer's
    ///   input axis 1;
    /// - a Linear after a conv with C channels has in_features = C·H·W (Flatten of `[C, H, W]`),
    ///   so its input axis is permuted in blocks of H·W;
    /// - `num_batches_tracked` is ignored; any other key is an error.
    /// Residual networks are not chains; they are rejected when a layer's input size does not
    /// match the previous layer's output size, but a ResNet needs its own spec.
    public init(sequentialChain stateDict: StateDict) throws {
        struct Layer { var weight: String; var outputs: Int; var inputs: Int; var isConv: Bool; var followers: [String] }
        var layers: [Layer] = []
        for key in stateDict.keys {
            let shape = stateDict[key]!.shape
            if key.hasSuffix("weight") && shape.count >= 2 {
                guard shape.count == 2 || shape.count == 4 else {
                    throw SaneError("'\(key)' of shape \(shape) is neither a linear nor a 2-D conv weight",
                                    hint: "permutation specs are inferred for chains of Conv2d and Linear layers only")
                }
                layers.append(Layer(weight: key, outputs: shape[0], inputs: shape[1], isConv: shape.count == 4, followers: []))
            } else if key.hasSuffix("num_batches_tracked") {
                continue
            } else if ["weight", "bias", "running_mean", "running_var"].contains(where: { key.hasSuffix($0) }) && shape.count == 1 {
                guard let last = layers.last, shape[0] == last.outputs else {
                    throw SaneError("'\(key)' of shape \(shape) does not follow a layer with \(shape[0]) outputs",
                                    hint: "permutation specs are inferred for sequential chains such as CNN and CNN3")
                }
                layers[layers.count - 1].followers.append(key)
            } else {
                throw SaneError("'\(key)' of shape \(shape) is not a weight, bias or BatchNorm entry",
                                hint: "permutation specs are inferred for sequential chains such as CNN and CNN3")
            }
        }
        var groups: [Group] = []
        for (layer, next) in zip(layers, layers.dropFirst()) {
            let blockSize: Int
            switch (layer.isConv, next.isConv) {
            case (_, true) where next.inputs == layer.outputs, (false, false) where next.inputs == layer.outputs:
                blockSize = 1
            case (true, false) where next.inputs % layer.outputs == 0:
                blockSize = next.inputs / layer.outputs                 // Flatten: H·W inputs per channel
            default:
                throw SaneError("'\(next.weight)' takes \(next.inputs) inputs, which does not fit the \(layer.outputs) outputs of '\(layer.weight)'",
                                hint: "the state_dict is not a sequential conv/linear chain (a ResNet needs its own spec)")
            }
            let axes = [Axis(key: layer.weight, axis: 0)]
                + layer.followers.map { Axis(key: $0, axis: 0) }
                + [Axis(key: next.weight, axis: 1, blockSize: blockSize)]
            groups.append(Group(name: layer.weight, size: layer.outputs, axes: axes))
        }
        self.groups = groups
    }

    /// The permutation that changes nothing.
    public var identity: Permutation { Permutation(groups: groups.map { Array(0..<$0.size) }) }

    /// A uniformly random permutation of every group (SANE-SPEC §3 "Augmentation", view 2).
    public func randomPermutation(using generator: inout SeededGenerator) -> Permutation {
        Permutation(groups: groups.map { generator.permutation($0.size) })
    }

    /// `stateDict` with every group's units reordered by `permutation`: along each axis of the
    /// group, new unit i is old unit `permutation.groups[g][i]`. Entries no group touches are
    /// copied. For a model saved at several epochs, compute the permutation once (on the last
    /// epoch, `WeightMatching.align`) and apply it to every epoch.
    public func apply(_ permutation: Permutation, to stateDict: StateDict) throws -> StateDict {
        guard permutation.groups.map(\.count) == groups.map(\.size) else {
            throw SaneError("permutation with group sizes \(permutation.groups.map(\.count)) does not fit a spec with \(groups.map(\.size))")
        }
        var result = stateDict
        for (g, group) in groups.enumerated() {
            for axis in group.axes {
                guard let tensor = result[axis.key] else {
                    throw SaneError("state_dict has no '\(axis.key)', which the permutation spec expects",
                                    hint: "align checkpoints of the architecture the spec was made for")
                }
                result[axis.key] = try PermutationSpec.permute(tensor, along: axis, groupSize: group.size, by: permutation.groups[g])
            }
        }
        return result
    }

    /// `tensor` with its dimension `axis.axis`, viewed as `[groupSize, blockSize]`, reordered:
    /// `out[…, i, β, …] = tensor[…, order[i], β, …]`.
    static func permute(_ tensor: Tensor, along axis: Axis, groupSize: Int, by order: [Int]) throws -> Tensor {
        guard axis.axis < tensor.rank, tensor.shape[axis.axis] == groupSize * axis.blockSize else {
            throw SaneError("'\(axis.key)' of shape \(tensor.shape) has no axis \(axis.axis) of \(groupSize)·\(axis.blockSize) entries",
                            hint: "align checkpoints of the architecture the spec was made for")
        }
        let outer = tensor.shape[..<axis.axis].reduce(1, *)
        let span = tensor.count / (outer * groupSize)                   // blockSize · (product of later dims)
        return Tensor(hostShape: tensor.shape) { out in                 // (outer, groupSize, span)
            tensor.withHostBuffer { source in
                for o in 0..<outer {
                    for i in 0..<groupSize {
                        (out.baseAddress! + (o * groupSize + i) * span)
                            .update(from: source.baseAddress! + (o * groupSize + order[i]) * span, count: span)
                    }
                }
            }
        }
    }
}

/// One reordering of the units of every group of a `PermutationSpec`:
/// `groups[g][i]` is the old index of the unit that lands at index i.
public struct Permutation: Sendable, Equatable, Codable {
    public var groups: [[Int]]

    public init(groups: [[Int]]) { self.groups = groups }
}
