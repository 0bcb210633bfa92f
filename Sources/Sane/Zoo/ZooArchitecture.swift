// The registry of zoo architectures (SANE-SPEC §1 and §9). Each architecture is one file in
// Zoo/Architectures/ holding a `ZooArchitectureDefinition`; `ZooArchitecture.registry` lists them.
// Everything else (params.json parsing, zoo training, evaluation, sampling) asks the registry,
// so adding an architecture is that file plus one line in `registry`
// (Documentation/AddingAnArchitecture.md).

/// What an architecture provides: its `model::type` name, input shape, how to build it, and its
/// permutation symmetry.
public protocol ZooArchitectureDefinition: Sendable {
    /// The `model::type` of params.json (e.g. "CNN", "Resnet18").
    var name: String { get }
    /// Side of the square input images the architecture is built for.
    var inputSize: Int { get }
    /// Base channel count when params.json has no `model::width`; nil when the architecture has
    /// no width multiplier (then `model::width` is an error).
    var defaultWidth: Int? { get }
    /// A freshly initialized network for `configuration`, drawing every random number from `g`.
    /// The returned module's `namedState()` keys are the PyTorch checkpoint's keys.
    func build(_ configuration: ZooNetworkConfiguration, using g: inout SeededGenerator) -> any Layer
    /// The permutation groups of a network of this architecture (`stateDict` is one of its
    /// checkpoints, used for names and shapes only).
    func permutationSpec(for stateDict: StateDict) throws -> PermutationSpec
}

/// A registered architecture, by its `model::type` name. Encodes as that name (so samples.json
/// stays `"architecture": "CNN"`); decoding an unregistered name fails.
public struct ZooArchitecture: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Every architecture the zoo side knows, one line each.
    public static let registry: [any ZooArchitectureDefinition] = [
        SmallCNN.cnn, SmallCNN.cnn3,
        ResNetArchitecture.resnet18, ResNetArchitecture.resnet34,
    ]

    /// The architecture called `rawValue`, or nil when none is registered under that name.
    public init?(rawValue: String) {
        guard Self.registry.contains(where: { $0.name == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    /// The architecture called `name`, or an error that lists the known ones.
    public init(named name: String) throws {
        guard let a = ZooArchitecture(rawValue: name) else {
            throw SaneError("unknown model::type \"\(name)\"", hint: "known: \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = a
    }

    public static var allCases: [ZooArchitecture] { registry.map { ZooArchitecture(rawValue: $0.name)! } }

    public static let cnn = ZooArchitecture(rawValue: "CNN")!
    public static let cnn3 = ZooArchitecture(rawValue: "CNN3")!
    public static let resnet18 = ZooArchitecture(rawValue: "Resnet18")!
    public static let resnet34 = ZooArchitecture(rawValue: "Resnet34")!

    /// The registered definition (exists by construction).
    public var definition: any ZooArchitectureDefinition { Self.registry.first { $0.name == rawValue }! }

    /// Side of the square input images.
    public var inputSize: Int { definition.inputSize }

    public var description: String { rawValue }

    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let a = ZooArchitecture(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "unknown architecture \"\(name)\" (known: \(Self.allCases.map(\.rawValue).joined(separator: ", ")))"))
        }
        self = a
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}

extension PermutationSpec {
    /// The permutation symmetry of a model of type `modelType` (`model::type` of params.json, or
    /// a sampling target's name): its registered architecture's, or for an unregistered type the
    /// sequential-chain inference. A model that is neither gets a one-line error (alignment and
    /// permutation augmentation need its symmetry) or, when `allowingNone` (training without
    /// alignment, `--no-align`), the spec without groups: no unit is ever permuted.
    public init(modelType: String?, reference: StateDict, allowingNone: Bool = false) throws {
        if let modelType, let architecture = ZooArchitecture(rawValue: modelType) {
            self = try architecture.definition.permutationSpec(for: reference)
            return
        }
        do {
            self = try PermutationSpec(sequentialChain: reference)
        } catch let error as SaneError {
            if allowingNone { self = PermutationSpec(groups: []); return }
            throw SaneError("no permutation spec for model::type \(modelType.map { "\"\($0)\"" } ?? "(none)"): not a registered architecture (\(ZooArchitecture.allCases.map(\.rawValue).joined(separator: ", "))), and not a sequential chain: \(error.message)",
                            hint: "pretrain with --no-align (no alignment, no permutation augmentation), or register the architecture with its permutationSpec (Documentation/AddingAnArchitecture.md)")
        }
    }
}

extension ZooArchitecture {
    /// The network configuration of a checkpoint, told from its keys and shapes by the registry:
    /// the first architecture whose network — built with the input channels (`shape[1]` of the
    /// first weight of rank ≥ 2), outputs (`shape[0]` of the last) and, for a width-scaled
    /// architecture, width (`shape[0]` of the first) — has exactly the checkpoint's keys (a
    /// wrapper prefix such as `model.` allowed), in its order, with its shapes. Nil when none does.
    ///
    /// Weights do not tell activation, dropout, initialization, input normalization or seed:
    /// those are `settings`' (the defaults without it). A dropout rate of `settings` that
    /// changes the layer indices must be the checkpoint's for it to be recognized.
    public static func identify(_ stateDict: StateDict, settings: ZooNetworkConfiguration? = nil) -> ZooNetworkConfiguration? {
        let weights = stateDict.items.filter { $0.0.hasSuffix("weight") && $0.1.shape.count >= 2 }.map(\.1.shape)
        guard let first = weights.first, let last = weights.last,
              (1...4096).contains(first[0]), (1...4096).contains(first[1]), (1...1_000_000).contains(last[0]) else { return nil }
        for architecture in allCases {
            var c = settings ?? ZooNetworkConfiguration(architecture: architecture)
            c.architecture = architecture
            c.channelsIn = first[1]
            c.outputs = last[0]
            c.width = architecture.definition.defaultWidth == nil ? nil : first[0]
            if c.inputMean?.count != c.channelsIn { (c.inputMean, c.inputStd) = (nil, nil) }
            // Keys first, on the narrowest network (names do not depend on the width); then the
            // network at the checkpoint's width only when its size (≤ width²·size at width 1)
            // cannot be far beyond the checkpoint's.
            var narrow = c
            narrow.width = c.width.map { _ in 1 }
            let small = ZooNetwork(narrow)
            let unwrapped = ZooModelFactory.unwrapped(stateDict, for: small)
            guard small.namedState().map(\.0) == unwrapped.keys else { continue }
            let width = Double(c.width ?? 1), smallSize = Double(small.namedState().reduce(0) { $0 + $1.1.value.count })
            guard width * width * smallSize <= 16 * Double(stateDict.parameterCount) + 1e6 else { continue }
            let network = c.width == nil ? small : ZooNetwork(c)
            guard zip(network.namedState(), unwrapped.items).allSatisfy({ $0.1.value.shape == $1.1.shape }) else { continue }
            return c
        }
        return nil
    }
}
