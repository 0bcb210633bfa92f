import SaneTensor

/// y = x·Wᵀ + b over the last axis (PyTorch `nn.Linear`). weight [out, in], bias [out].
public final class Linear: Module, Layer {
    public let weight: Variable
    public let bias: Variable?

    /// PyTorch's default init (kaiming-uniform weight, uniform bias) unless `weightStd` is given,
    /// in which case weight ~ N(0, weightStd²) and bias = 0 (GPT-2 style).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, weightStd: Float? = nil, using g: inout SeededGenerator) {
        let shape = [outFeatures, inFeatures]
        if let std = weightStd {
            weight = Variable(Tensor.normal(shape, std: std, using: &g), requiresGrad: true)
            self.bias = bias ? Variable(Tensor(zeros: [outFeatures]), requiresGrad: true) : nil
        } else {
            weight = Variable(Initializer.kaimingUniform(shape, using: &g), requiresGrad: true)
            self.bias = bias ? Variable(Initializer.defaultBias(outFeatures, fanIn: inFeatures, using: &g), requiresGrad: true) : nil
        }
        super.init()
        register("weight", parameter: weight)
        if let b = self.bias { register("bias", parameter: b) }
    }

    public func callAsFunction(_ x: Variable) -> Variable { Variable.linear(x, weight: weight, bias: bias) }
}

/// Layer normalization over the last axis with weight (init 1) and optional bias (init 0).
public final class LayerNorm: Module, Layer {
    public let weight: Variable
    public let bias: Variable?
    public let epsilon: Float

    public init(_ features: Int, bias: Bool = true, epsilon: Float = 1e-5) {
        weight = Variable(Tensor(shape: [features], repeating: 1), requiresGrad: true)
        self.bias = bias ? Variable(Tensor(zeros: [features]), requiresGrad: true) : nil
        self.epsilon = epsilon
        super.init()
        register("weight", parameter: weight)
        if let b = self.bias { register("bias", parameter: b) }
    }

    public func callAsFunction(_ x: Variable) -> Variable { Variable.layerNorm(x, weight: weight, bias: bias, epsilon: epsilon) }
}

/// A learned lookup table [count, features] (PyTorch `nn.Embedding`), init N(0, std²).
public final class Embedding: Module {
    public let weight: Variable

    public init(_ count: Int, _ features: Int, std: Float = 1, using g: inout SeededGenerator) {
        weight = Variable(Tensor.normal([count, features], std: std, using: &g), requiresGrad: true)
        super.init()
        register("weight", parameter: weight)
    }

    /// Rows for `indices` → [indices.count, features].
    public func callAsFunction(_ indices: [Int32]) -> Variable { weight.gathered(rows: indices) }
}

/// Elementwise activation functions by name, as in the zoos' `model::nlin`.
public enum Activation: String, CaseIterable, Codable, Sendable {
    case tanh, relu, sigmoid, gelu, silu, leakyrelu

    public func callAsFunction(_ x: Variable) -> Variable {
        switch self {
        case .tanh: return x.tanh()
        case .relu: return x.relu()
        case .sigmoid: return x.sigmoid()
        case .gelu: return x.gelu()
        case .silu: return x.silu()
        case .leakyrelu: return x.leakyRelu()
        }
    }
}

/// An activation as a module (no parameters), for sequential containers.
public final class ActivationLayer: Module, Layer {
    public let activation: Activation
    public init(_ activation: Activation) { self.activation = activation }
    public func callAsFunction(_ x: Variable) -> Variable { activation(x) }
}

/// Flattens all dims after the batch dim.
public final class Flatten: Module, Layer {
    public override init() {}
    public func callAsFunction(_ x: Variable) -> Variable { x.flattened(from: 1) }
}

/// Applies layers in order; children are named "0", "1", … like PyTorch's ModuleList/Sequential.
public final class Sequential: Module, Layer {
    public let layers: [any Layer]

    public init(_ layers: [any Layer]) {
        self.layers = layers
        super.init()
        for (i, l) in layers.enumerated() { register(String(i), module: l) }
    }

    public func callAsFunction(_ x: Variable) -> Variable { layers.reduce(x) { $1($0) } }
}

/// One layer registered under a name (e.g. `module_list`), so its state-dict keys carry that
/// prefix; calls pass through.
public final class NamedLayer: Module, Layer {
    public let layer: any Layer

    public init(_ name: String, _ layer: any Layer) {
        self.layer = layer
        super.init()
        register(name, module: layer)
    }

    public func callAsFunction(_ x: Variable) -> Variable { layer(x) }
}
