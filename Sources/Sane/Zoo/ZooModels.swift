import Foundation

// The networks of the model zoos (SANE-SPEC §1), built layer by layer as the reference
// `CNN`/`CNN3` classes do, so state-dict keys are `module_list.<PyTorch index>.{weight,bias}`.
//
//   CNN  (28×28): Conv(c,8,5) MaxPool2 act [Drop] Conv(8,6,5) MaxPool2 act [Drop] Conv(6,4,2) act
//                 Flatten Linear(36,20) act [Drop] Linear(20,o)     [Drop] only when dropout > 0
//   CNN3 (32×32): Conv(c,16,3) MaxPool2 act Drop Conv(16,32,3) MaxPool2 act Drop Conv(32,15,3)
//                 MaxPool2 act Drop Flatten Linear(60,20) act Drop Linear(20,o)   (Drop always)

/// Zoo architectures by their `model::type` name.
public enum ZooArchitecture: String, CaseIterable, Codable, Sendable {
    case cnn = "CNN"
    case cnn3 = "CNN3"

    /// Side of the square input images.
    public var inputSize: Int { self == .cnn ? 28 : 32 }
}

/// Weight initializations by their `model::init_type` name. Biases are always 0.01.
/// `kaiming_uniform` is PyTorch's default layer init (U(±1/√fan_in)), as the shared zoos were
/// trained (make_zoo.py); the others call the `torch.nn.init` function of that name with its
/// defaults (`uniform` U(0,1), `normal` N(0,1), `kaiming_normal` N(0, 2/fan_in)).
public enum ZooInitialization: String, CaseIterable, Codable, Sendable {
    case kaimingUniform = "kaiming_uniform"
    case kaimingNormal = "kaiming_normal"
    case xavierUniform = "xavier_uniform"
    case xavierNormal = "xavier_normal"
    case uniform, normal

    /// A weight of `shape` drawn from this initialization, or nil to keep the layer default.
    func weight(_ shape: [Int], using g: inout SeededGenerator) -> Tensor? {
        switch self {
        case .kaimingUniform: return nil
        case .kaimingNormal: return Initializer.kaimingNormal(shape, using: &g)
        case .xavierUniform: return Initializer.xavierUniform(shape, using: &g)
        case .xavierNormal: return Initializer.xavierNormal(shape, using: &g)
        case .uniform: return Tensor.uniform(shape, low: 0, high: 1, using: &g)
        case .normal: return Tensor.normal(shape, using: &g)
        }
    }
}

/// Everything that defines a zoo network (the `model::*` keys of params.json plus the seed).
/// Stored in `samples.json` as the architecture samples are decoded into.
public struct ZooNetworkConfiguration: Codable, Equatable, Sendable {
    public var architecture: ZooArchitecture
    public var channelsIn: Int
    public var outputs: Int
    public var activation: Activation
    public var dropout: Float
    public var initialization: ZooInitialization
    /// Seeds the initialization and the dropout masks.
    public var seed: UInt64
    /// Per-channel input normalization (x − mean[c]) / std[c], applied by the network to its
    /// input, from params.json `"dataset::mean"` / `"dataset::std"`; nil: inputs used as given
    /// (pixels in [0, 1], as the shared zoos are trained).
    public var inputMean: [Float]?
    public var inputStd: [Float]?

    public init(architecture: ZooArchitecture, channelsIn: Int = 1, outputs: Int = 10, activation: Activation = .tanh,
                dropout: Float = 0, initialization: ZooInitialization = .kaimingUniform, seed: UInt64 = 0) {
        self.architecture = architecture; self.channelsIn = channelsIn; self.outputs = outputs; self.activation = activation
        self.dropout = dropout; self.initialization = initialization; self.seed = seed
    }

    /// The same network with another seed (a fresh initialization of the architecture).
    public func seeded(_ seed: UInt64) -> ZooNetworkConfiguration {
        var c = self
        c.seed = seed
        return c
    }
}

/// A zoo network: one child `module_list` holding the layers under PyTorch's indices.
public final class ZooNetwork: Module, Layer {
    public let configuration: ZooNetworkConfiguration
    public let moduleList: Sequential

    public init(_ configuration: ZooNetworkConfiguration) {
        self.configuration = configuration
        var g = SeededGenerator(seed: configuration.seed)
        let act = configuration.activation, c = configuration.channelsIn, p = configuration.dropout
        var layers: [any Layer] = []
        func conv(_ i: Int, _ o: Int, _ k: Int) { layers.append(Conv2d(i, o, kernelSize: k, using: &g)) }
        func linear(_ i: Int, _ o: Int) { layers.append(Linear(i, o, using: &g)) }
        func activation() { layers.append(ActivationLayer(act)) }
        func dropout(always: Bool) { if always || p > 0 { layers.append(Dropout(p, seed: g.next())) } }
        switch configuration.architecture {
        case .cnn:
            conv(c, 8, 5); layers.append(MaxPool2d(2)); activation(); dropout(always: false)
            conv(8, 6, 5); layers.append(MaxPool2d(2)); activation(); dropout(always: false)
            conv(6, 4, 2); activation()
            layers.append(Flatten()); linear(36, 20); activation(); dropout(always: false)
            linear(20, configuration.outputs)
        case .cnn3:
            conv(c, 16, 3); layers.append(MaxPool2d(2)); activation(); dropout(always: true)
            conv(16, 32, 3); layers.append(MaxPool2d(2)); activation(); dropout(always: true)
            conv(32, 15, 3); layers.append(MaxPool2d(2)); activation(); dropout(always: true)
            layers.append(Flatten()); linear(60, 20); activation(); dropout(always: true)
            linear(20, configuration.outputs)
        }
        moduleList = Sequential(layers)
        super.init()
        register("module_list", module: moduleList)
        // Re-initialize weights as the reference does, biases to 0.01.
        for layer in layers {
            let (w, b): (Variable, Variable?)
            if let l = layer as? Conv2d { (w, b) = (l.weight, l.bias) } else if let l = layer as? Linear { (w, b) = (l.weight, l.bias) } else { continue }
            if let t = configuration.initialization.weight(w.shape, using: &g) { w.value = t }
            b?.value = Tensor(shape: b!.shape, repeating: 0.01)
        }
    }

    /// x [B, c_in, S, S] → logits [B, outputs]. With an input normalization the images are
    /// normalized first (as constants: no gradient flows back to x). Input of another channel
    /// count goes to the first layer as is, which reports the mismatch.
    public func callAsFunction(_ x: Variable) -> Variable {
        guard let mean = configuration.inputMean, let std = configuration.inputStd, x.shape.count == 4,
              x.shape[1] == mean.count, std.count == mean.count else { return moduleList(x) }
        return moduleList(Variable(ImageTransforms.normalize(x.value, mean: mean, std: std)))
    }
}

/// Builds zoo networks from a zoo's `params.json`.
public enum ZooModelFactory {
    /// The network configuration in `params` (missing keys take the shared zoos' defaults:
    /// 1 input channel, 10 outputs, no dropout, kaiming_uniform, seed 0).
    public static func configuration(params: ZooParams) throws -> ZooNetworkConfiguration {
        let type = params.modelType ?? "CNN"
        guard let arch = ZooArchitecture(rawValue: type) else {
            throw SaneError("unknown model::type \"\(type)\"", hint: "known: \(ZooArchitecture.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let nlin = params.nonlinearity ?? "tanh"
        guard let act = Activation(rawValue: nlin) else {
            throw SaneError("unknown model::nlin \"\(nlin)\"", hint: "known: \(Activation.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let initName = params.initType ?? "kaiming_uniform"
        guard let initType = ZooInitialization(rawValue: initName) else {
            throw SaneError("unknown model::init_type \"\(initName)\"", hint: "known: \(ZooInitialization.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var c = ZooNetworkConfiguration(architecture: arch, channelsIn: params.channelsIn ?? 1, outputs: params.outputDim ?? 10,
                                        activation: act, dropout: Float(params.dropout ?? 0), initialization: initType,
                                        seed: UInt64(truncatingIfNeeded: params.seed ?? 0))
        (c.inputMean, c.inputStd) = try inputNormalization(params.values["dataset::mean"], params.values["dataset::std"], channels: c.channelsIn)
        return c
    }

    /// The per-channel normalization given by `"dataset::mean"` and `"dataset::std"` (lists of
    /// one number per input channel, std > 0; both or neither), or (nil, nil).
    public static func inputNormalization(_ mean: JSONValue?, _ std: JSONValue?, channels: Int) throws -> ([Float]?, [Float]?) {
        if mean == nil && std == nil { return (nil, nil) }
        let m = mean?.arrayValue?.compactMap(\.doubleValue).map(Float.init), s = std?.arrayValue?.compactMap(\.doubleValue).map(Float.init)
        guard let m, let s, m.count == channels, s.count == channels, mean?.arrayValue?.count == channels,
              std?.arrayValue?.count == channels, s.allSatisfy({ $0 > 0 && $0.isFinite }), m.allSatisfy(\.isFinite) else {
            throw SaneError("dataset::mean \(mean?.jsonText ?? "missing") / dataset::std \(std?.jsonText ?? "missing") is not a per-channel normalization",
                            hint: "give both, as lists of \(channels) numbers (std > 0), e.g. [0.4914, 0.4822, 0.4465] / [0.2470, 0.2435, 0.2616]")
        }
        return (m, s)
    }

    /// A freshly initialized network for `params`.
    public static func make(params: ZooParams) throws -> ZooNetwork {
        ZooNetwork(try configuration(params: params))
    }

    /// The network of `params` with the weights of `stateDict` (a checkpoint of that model).
    public static func make(params: ZooParams, stateDict: StateDict) throws -> ZooNetwork {
        let net = try make(params: params)
        try net.load(stateDict)
        return net
    }
}

/// Accuracy and mean cross-entropy of a network on a labelled dataset.
public struct ZooEvaluation: Sendable, Equatable {
    /// Fraction of examples whose largest logit (first one on ties) is the label.
    public var accuracy: Double
    /// Mean cross-entropy −log softmax(logits)[label], accumulated in Float64.
    public var loss: Double

    /// Evaluates `network` in evaluation mode (dropout off) on `data`, in chunks of `batchSize`
    /// spread over the cores when `parallel` (BLAS single-threaded meanwhile). Restores the
    /// network's training mode afterwards.
    public static func evaluate(_ network: ZooNetwork, on data: ImageDataset, batchSize: Int = 250, parallel: Bool = true) -> ZooEvaluation {
        let wasTraining = network.isTraining
        network.train(false)
        defer { network.train(wasTraining) }
        let chunks = (data.count + batchSize - 1) / batchSize
        var correct = [Int](repeating: 0, count: chunks), losses = [Double](repeating: 0, count: chunks)
        let per = data.channels * data.height * data.width
        func run(_ chunk: Int) -> (correct: Int, loss: Double) {
            let lo = chunk * batchSize, hi = min(data.count, lo + batchSize)
            let x = Tensor(shape: [hi - lo, data.channels, data.height, data.width]) {
                $0.update(from: data.images.readPointer + lo * per, count: (hi - lo) * per)
            }
            let logits = network(Variable(x)).value
            let k = logits.shape[1], p = logits.readPointer
            var c = 0, l: Double = 0
            for r in 0..<(hi - lo) {
                let row = p + r * k
                var best = 0, m = row[0]
                for j in 1..<k where row[j] > m { m = row[j]; best = j }
                var s: Double = 0
                for j in 0..<k { s += Foundation.exp(Double(row[j] - m)) }
                let label = data.labels[lo + r]
                if best == label { c += 1 }
                l += Double(m) + Foundation.log(s) - Double(row[label])
            }
            return (c, l)
        }
        if parallel {
            correct.withUnsafeMutableBufferPointer { cb in losses.withUnsafeMutableBufferPointer { lb in
                let (cp, lp) = (cb.baseAddress!, lb.baseAddress!)
                Parallel.forEach(chunks) { (cp[$0], lp[$0]) = run($0) }
            } }
        } else {
            for i in 0..<chunks { (correct[i], losses[i]) = run(i) }
        }
        let n = Double(max(data.count, 1))
        return ZooEvaluation(accuracy: Double(correct.reduce(0, +)) / n, loss: losses.reduce(0, +) / n)
    }
}
