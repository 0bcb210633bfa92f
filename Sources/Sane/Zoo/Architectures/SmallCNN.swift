// The small CNNs of the model zoos (SANE-SPEC §1), built layer by layer as the reference
// `CNN`/`CNN3` classes do, so state-dict keys are `module_list.<PyTorch index>.{weight,bias}`.
//
//   CNN  (28×28): Conv(c,8,5) MaxPool2 act [Drop] Conv(8,6,5) MaxPool2 act [Drop] Conv(6,4,2) act
//                 Flatten Linear(36,20) act [Drop] Linear(20,o)     [Drop] only when dropout > 0
//   CNN3 (32×32): Conv(c,16,3) MaxPool2 act Drop Conv(16,32,3) MaxPool2 act Drop Conv(32,15,3)
//                 MaxPool2 act Drop Flatten Linear(60,20) act Drop Linear(20,o)   (Drop always)

/// `CNN` and `CNN3`: sequential conv/linear chains under one `module_list`.
public struct SmallCNN: ZooArchitectureDefinition {
    public let name: String
    public let inputSize: Int
    public var defaultWidth: Int? { nil }

    public static let cnn = SmallCNN(name: "CNN", inputSize: 28)
    public static let cnn3 = SmallCNN(name: "CNN3", inputSize: 32)

    public func build(_ configuration: ZooNetworkConfiguration, using g: inout SeededGenerator) -> any Layer {
        let act = configuration.activation, c = configuration.channelsIn, p = configuration.dropout
        var layers: [any Layer] = []
        func conv(_ i: Int, _ o: Int, _ k: Int) { layers.append(Conv2d(i, o, kernelSize: k, using: &g)) }
        func linear(_ i: Int, _ o: Int) { layers.append(Linear(i, o, using: &g)) }
        func activation() { layers.append(ActivationLayer(act)) }
        func dropout(always: Bool) { if always || p > 0 { layers.append(Dropout(p, seed: g.next())) } }
        if name == SmallCNN.cnn.name {
            conv(c, 8, 5); layers.append(MaxPool2d(2)); activation(); dropout(always: false)
            conv(8, 6, 5); layers.append(MaxPool2d(2)); activation(); dropout(always: false)
            conv(6, 4, 2); activation()
            layers.append(Flatten()); linear(36, 20); activation(); dropout(always: false)
            linear(20, configuration.outputs)
        } else {
            conv(c, 16, 3); layers.append(MaxPool2d(2)); activation(); dropout(always: true)
            conv(16, 32, 3); layers.append(MaxPool2d(2)); activation(); dropout(always: true)
            conv(32, 15, 3); layers.append(MaxPool2d(2)); activation(); dropout(always: true)
            layers.append(Flatten()); linear(60, 20); activation(); dropout(always: true)
            linear(20, configuration.outputs)
        }
        // Re-initialize weights as the reference does, biases to 0.01.
        for layer in layers {
            let (w, b): (Variable, Variable?)
            if let l = layer as? Conv2d { (w, b) = (l.weight, l.bias) } else if let l = layer as? Linear { (w, b) = (l.weight, l.bias) } else { continue }
            if let t = configuration.initialization.weight(w.shape, using: &g) { w.value = t }
            b?.value = Tensor(shape: b!.shape, repeating: 0.01)
        }
        return NamedLayer("module_list", Sequential(layers))
    }

    /// A sequential chain: inferred from key order and shapes.
    public func permutationSpec(for stateDict: StateDict) throws -> PermutationSpec {
        try PermutationSpec(sequentialChain: stateDict)
    }
}
