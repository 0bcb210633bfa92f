/// An ordered map from dotted parameter names to tensors, as PyTorch's `state_dict()`.
/// Key order is meaningful (it defines SANE's token order) and is always preserved.
public struct StateDict: Sendable {
    public private(set) var keys: [String] = []
    private var values: [String: Tensor] = [:]
    /// Free-form string metadata (safetensors `__metadata__`).
    public var metadata: [String: String] = [:]

    public init() {}

    public init(_ pairs: [(String, Tensor)], metadata: [String: String] = [:]) {
        for (k, v) in pairs { self[k] = v }
        self.metadata = metadata
    }

    /// Gets a tensor, or sets one (a new key goes to the end; an existing key keeps its place).
    public subscript(key: String) -> Tensor? {
        get { values[key] }
        set {
            if let v = newValue {
                if values.updateValue(v, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var count: Int { keys.count }
    /// (name, tensor) pairs in order.
    public var items: [(String, Tensor)] { keys.map { ($0, values[$0]!) } }
    /// Total number of scalars.
    public var parameterCount: Int { values.values.reduce(0) { $0 + $1.count } }
}
