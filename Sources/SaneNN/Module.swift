import SaneTensor

/// Base class of layers and models: named parameters, buffers and child modules in a
/// deterministic order, PyTorch-style dotted state-dict names (`module_list.0.weight`).
///
/// Subclasses register what they own in `init`, in the order PyTorch would list it:
/// `register("weight", w)`, `register("bias", b)`, `register("0", child)`.
open class Module {
    public private(set) var ownParameters: [(name: String, variable: Variable)] = []
    /// Non-trainable state that belongs in the state dict (e.g. BatchNorm running statistics).
    public private(set) var ownBuffers: [(name: String, variable: Variable)] = []
    public private(set) var children: [(name: String, module: Module)] = []
    /// Training mode (dropout active, batch-norm batch statistics). Set with `train(_:)`.
    public private(set) var isTraining = true

    public init() {}

    public func register(_ name: String, parameter: Variable) { ownParameters.append((name, parameter)) }
    public func register(_ name: String, buffer: Variable) { ownBuffers.append((name, buffer)) }
    public func register(_ name: String, module: Module) { children.append((name, module)) }

    /// Sets training mode on this module and all children.
    public func train(_ on: Bool = true) {
        isTraining = on
        for c in children { c.module.train(on) }
    }

    /// All trainable parameters with dotted names, depth-first in registration order.
    public func namedParameters(prefix: String = "") -> [(String, Variable)] {
        var out = ownParameters.map { (prefix + $0.name, $0.variable) }
        for c in children { out += c.module.namedParameters(prefix: prefix + c.name + ".") }
        return out
    }

    public var parameters: [Variable] { namedParameters().map(\.1) }

    /// Parameters and buffers, as PyTorch's `state_dict()` orders them (per module: parameters,
    /// then buffers, then children).
    public func namedState(prefix: String = "") -> [(String, Variable)] {
        var out = ownParameters.map { (prefix + $0.name, $0.variable) } + ownBuffers.map { (prefix + $0.name, $0.variable) }
        for c in children { out += c.module.namedState(prefix: prefix + c.name + ".") }
        return out
    }

    /// The module's state as a StateDict (copies of the values).
    public func stateDict() -> StateDict { StateDict(namedState().map { ($0.0, $0.1.value) }) }

    /// Loads values by name. Every state entry must be present with the right shape; extra keys
    /// in `state` are an error unless `strict` is false.
    public func load(_ state: StateDict, strict: Bool = true) throws {
        let mine = namedState()
        for (name, v) in mine {
            guard let t = state[name] else { throw SaneError("state dict has no entry '\(name)'", hint: "keys present: \(state.keys.prefix(8).joined(separator: ", "))") }
            guard t.shape == v.shape || t.count == v.count && t.shape.count == 0 else {
                throw SaneError("'\(name)' has shape \(t.shape), the model expects \(v.shape)")
            }
            v.value = t.reshaped(v.shape)
        }
        FlatParameters.existing(for: namedParameters())?.attach()   // copies the loaded values into the flat buffer
        if strict {
            let known = Set(mine.map(\.0))
            if let extra = state.keys.first(where: { !known.contains($0) }) {
                throw SaneError("state dict entry '\(extra)' does not belong to this model", hint: "architecture mismatch?")
            }
        }
    }

    /// This module and its descendants that are a `T`, depth-first in registration order.
    public func modules<T: Module>(of type: T.Type) -> [T] {
        ((self as? T).map { [$0] } ?? []) + children.flatMap { $0.module.modules(of: type) }
    }

    /// Number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// The flat buffers (`FlatParameters`) this module's parameters live in, binding them on the
    /// first call; an optimizer made for `namedParameters()` binds the same ones.
    public func flatParameters() -> FlatParameters { FlatParameters.binding(namedParameters()) }

    /// Clears all parameter gradients: one zero-fill of the flat gradient buffer when the
    /// parameters are bound (an optimizer was made for them), else parameter by parameter.
    public func zeroGradients() {
        let named = namedParameters()
        if let flat = FlatParameters.existing(for: named) { flat.zeroGradients() } else { for p in named { p.1.clearGradient() } }
    }
}

/// A module with one input and one output.
public protocol Layer: Module {
    func callAsFunction(_ x: Variable) -> Variable
}
