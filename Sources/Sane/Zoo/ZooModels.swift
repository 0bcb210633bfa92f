import Foundation

// The networks of the model zoos: a configuration (the `model::*` keys of params.json) built by
// the architecture registry (ZooArchitecture.swift, one file per architecture in Architectures/).

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
    /// Base channels (`model::width`) of architectures with a width multiplier; nil = the
    /// architecture's default.
    public var width: Int?

    public init(architecture: ZooArchitecture, channelsIn: Int = 1, outputs: Int = 10, activation: Activation = .tanh,
                dropout: Float = 0, initialization: ZooInitialization = .kaimingUniform, seed: UInt64 = 0, width: Int? = nil) {
        self.architecture = architecture; self.channelsIn = channelsIn; self.outputs = outputs; self.activation = activation
        self.dropout = dropout; self.initialization = initialization; self.seed = seed; self.width = width
    }

    /// The same network with another seed (a fresh initialization of the architecture).
    public func seeded(_ seed: UInt64) -> ZooNetworkConfiguration {
        var c = self
        c.seed = seed
        return c
    }
}

/// A zoo network: the module its architecture builds, with that module's parameters, buffers
/// and children as its own, so state-dict keys are the checkpoint's (`module_list.0.weight`,
/// `layer2.0.downsample.1.running_var`, …).
public final class ZooNetwork: Module, Layer {
    public let configuration: ZooNetworkConfiguration
    let body: any Layer

    public init(_ configuration: ZooNetworkConfiguration) {
        self.configuration = configuration
        var g = SeededGenerator(seed: configuration.seed)
        body = configuration.architecture.definition.build(configuration, using: &g)
        super.init()
        for (name, p) in body.ownParameters { register(name, parameter: p) }
        for (name, b) in body.ownBuffers { register(name, buffer: b) }
        for (name, m) in body.children { register(name, module: m) }
    }

    /// x [B, c_in, S, S] → logits [B, outputs]. With an input normalization the images are
    /// normalized first (as constants: no gradient flows back to x). Input of another channel
    /// count goes to the first layer as is, which reports the mismatch.
    public func callAsFunction(_ x: Variable) -> Variable {
        guard let mean = configuration.inputMean, let std = configuration.inputStd, x.shape.count == 4,
              x.shape[1] == mean.count, std.count == mean.count else { return body(x) }
        return body(Variable(ImageTransforms.normalize(x.value, mean: mean, std: std)))
    }

    /// One epoch of supervised training, the loop zoo training and fine-tuning share: training
    /// mode; batches of `batchSize` in an order drawn from `shuffle`; each batch's images through
    /// `transform` (augmentation); cross-entropy, backward, `optimizer.step()`. `check(loss, batch)`
    /// sees every batch's loss (batches counted from 1) and stops the epoch by throwing.
    /// Returns the mean batch loss.
    @discardableResult
    public func trainEpoch(on data: ImageDataset, batchSize: Int, optimizer: Optimizer, shuffle: inout SeededGenerator,
                           transform: (Tensor) -> Tensor = { $0 },
                           check: (_ loss: Double, _ batch: Int) throws -> Void) rethrows -> Double {
        train(true)
        var sum = 0.0, batches = 0
        for batch in data.shuffledBatches(size: batchSize, using: &shuffle) {
            zeroGradients()
            let loss = Variable.crossEntropy(logits: self(Variable(transform(batch.images))), labels: batch.labels)
            loss.backward()
            optimizer.step()
            batches += 1
            sum += Double(loss.value.scalar)
            try check(Double(loss.value.scalar), batches)
        }
        return sum / Double(max(batches, 1))
    }
}

/// Builds zoo networks from a zoo's `params.json`.
public enum ZooModelFactory {
    /// The network configuration in `params` (missing keys take the shared zoos' defaults:
    /// 1 input channel, 10 outputs, no dropout, kaiming_uniform, seed 0).
    public static func configuration(params: ZooParams) throws -> ZooNetworkConfiguration {
        let arch = try ZooArchitecture(named: params.modelType ?? "CNN")
        let width = try checkedWidth(params.width, for: arch)
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
                                        seed: UInt64(truncatingIfNeeded: params.seed ?? 0), width: width)
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

    /// `width` (`model::width`) checked against the architecture: nil or 1…4096 where it has a width
    /// multiplier, nil otherwise.
    public static func checkedWidth(_ width: Int?, for architecture: ZooArchitecture) throws -> Int? {
        guard let width else { return nil }
        guard architecture.definition.defaultWidth != nil else {
            throw SaneError("model::width \(width) given for \(architecture), which has no width multiplier",
                            hint: "model::width applies to: \(ZooArchitecture.allCases.filter { $0.definition.defaultWidth != nil }.map(\.rawValue).joined(separator: ", "))")
        }
        guard (1...4096).contains(width) else {
            throw SaneError("model::width \(width) for \(architecture) is out of range", hint: "base channels from 1 to 4096 (64 is the real \(architecture))")
        }
        return width
    }

    /// A freshly initialized network for `params`.
    public static func make(params: ZooParams) throws -> ZooNetwork {
        ZooNetwork(try configuration(params: params))
    }

    /// The network of `params` with the weights of `stateDict` (a checkpoint of that model, its
    /// keys possibly under a wrapper prefix such as `model.`).
    public static func make(params: ZooParams, stateDict: StateDict) throws -> ZooNetwork {
        let net = try make(params: params)
        try net.load(unwrapped(stateDict, for: net))
        return net
    }

    /// `stateDict` with a wrapper prefix (`model.`, `module.`, …) removed from every key when that
    /// makes its keys `network`'s; otherwise unchanged.
    public static func unwrapped(_ stateDict: StateDict, for network: Module) -> StateDict {
        let mine = Set(network.namedState().map(\.0))
        guard let first = stateDict.keys.first, !mine.contains(first) else { return stateDict }
        var prefix = ""
        for part in first.split(separator: ".").dropLast() {
            prefix += part + "."
            let keys = stateDict.keys
            guard keys.allSatisfy({ $0.hasPrefix(prefix) }) else { break }
            if Set(keys.map { String($0.dropFirst(prefix.count)) }) == mine {
                return StateDict(stateDict.items.map { (String($0.0.dropFirst(prefix.count)), $0.1) }, metadata: stateDict.metadata)
            }
        }
        return stateDict
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
        func run(_ chunk: Int) -> (correct: Int, loss: Double) {
            let lo = chunk * batchSize, hi = min(data.count, lo + batchSize)
            let logits = network(Variable(data.images.rows(lo..<hi))).value                  // [b, K]
            let k = logits.shape[1]
            var c = 0, l: Double = 0
            logits.withHostBuffer { p in
                for r in 0..<(hi - lo) {
                    let row = p.baseAddress! + r * k
                    var best = 0, m = row[0]
                    for j in 1..<k where row[j] > m { m = row[j]; best = j }
                    var s: Double = 0
                    for j in 0..<k { s += Foundation.exp(Double(row[j] - m)) }
                    let label = data.labels[lo + r]
                    if best == label { c += 1 }
                    l += Double(m) + Foundation.log(s) - Double(row[label])
                }
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
