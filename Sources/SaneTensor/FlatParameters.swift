// Flat parameters (llm.c style): the values of a list of parameters live in one contiguous
// buffer, their gradients in a second one, and an optimizer's moments in buffers of the same
// layout, so the optimizer update, zero-grad, the gradient allreduce, checkpoint I/O and a copy
// between devices are one call each over a buffer instead of a walk over tensors.

/// One contiguous, 64-byte aligned, zero-initialized Float32 allocation on the host. Tensor
/// views into it (`TensorStorage(view:offset:count:)`) keep it alive.
public final class FlatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(zeros count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }
}

/// Parameters whose values and gradients live in two flat buffers with a named layout.
///
/// Layout: every parameter has a slot `offset ..< offset + count` (its name and shape are kept
/// with it), 64-byte aligned. Slots are in parameter order within two sections,
///
///     values:    [ ≥2-D parameters (matrices, kernels) | < 2-D parameters (biases, norms) ]
///     gradients: [ the same slots                                  | present₀ … present_{P−1} ]
///
/// so AdamW's decoupled weight decay, which only ≥2-D parameters take, is two contiguous runs.
/// The presence flags after the gradients carry "this parameter has a gradient" through an
/// allreduce (a parameter with a gradient on no rank stays without one, as in one process).
///
/// Each parameter's `value` is a tensor view of its value slot, its gradient a view of its
/// gradient slot, so layers read and write them unchanged. Code may still assign a parameter a
/// new tensor (`Module.load`) or make a copy-on-write copy of a view (holding a snapshot across
/// a write): every bulk operation first calls `attach()`, which copies such values back into
/// their slots and gives views that other tensors still hold memory of their own before the
/// slots are written in place, so tensors keep value semantics.
public final class FlatParameters {
    /// A named slot of the layout.
    public struct Slot: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public let count: Int
    }

    /// The slots in parameter order (the order the parameters were given in).
    public let slots: [Slot]
    /// The parameters, in the order of `slots`.
    public let variables: [Variable]
    /// Slot indices in buffer order (ascending offset).
    public let bufferOrder: [Int]
    /// Number of parameter scalars (the length of the value buffer).
    public let count: Int
    /// The values; the gradients followed by one presence flag per parameter.
    public let values: FlatBuffer, gradients: FlatBuffer

    /// The views handed to the parameters, to tell an assigned or copied value from the slot.
    private var valueViews: [WeakStorage], gradientViews: [WeakStorage]

    /// The flat parameters that `parameters` are bound to, binding them (moving their values and
    /// gradients into new buffers) unless they already are exactly these, in this order.
    public static func binding(_ parameters: [(String, Variable)]) -> FlatParameters {
        existing(for: parameters) ?? FlatParameters(parameters)
    }

    /// The flat parameters `parameters` are bound to, if they are exactly one's, in order.
    public static func existing(for parameters: [(String, Variable)]) -> FlatParameters? {
        guard let first = parameters.first?.1.flatParameters, first.variables.count == parameters.count else { return nil }
        for (k, p) in parameters.enumerated() where p.1 !== first.variables[k] || p.0 != first.slots[k].name { return nil }
        return first
    }

    private init(_ parameters: [(String, Variable)]) {
        var seen = Set<ObjectIdentifier>()
        for (name, v) in parameters {
            precondition(seen.insert(ObjectIdentifier(v)).inserted, "parameter '\(name)' is listed twice (a shared parameter must be registered once)")
        }
        let matrices = parameters.indices.filter { parameters[$0].1.shape.count >= 2 }
        let vectors = parameters.indices.filter { parameters[$0].1.shape.count < 2 }
        // Each slot starts at a multiple of 16 floats (64 bytes, like a tensor of its own); the
        // padding stays zero, so runs may span it (an Adam or SGD update of zeros is zero).
        var offsets = [Int](repeating: 0, count: parameters.count), next = 0
        for k in matrices + vectors { offsets[k] = next; next = (next + parameters[k].1.count + 15) / 16 * 16 }
        slots = parameters.indices.map { Slot(name: parameters[$0].0, shape: parameters[$0].1.shape, offset: offsets[$0], count: parameters[$0].1.count) }
        variables = parameters.map(\.1)
        bufferOrder = matrices + vectors
        count = next
        values = FlatBuffer(zeros: next)
        gradients = FlatBuffer(zeros: next + parameters.count)
        valueViews = Array(repeating: WeakStorage(), count: parameters.count)
        gradientViews = valueViews
        for (k, v) in variables.enumerated() {
            v.flatParameters = self
            if isKnownUniquelyReferenced(&v.value.storage) { v.value.storage.recycles = false }
            if v.spareGradient != nil, isKnownUniquelyReferenced(&v.spareGradient!.storage) { v.spareGradient!.storage.recycles = false }
            bindValue(k, copying: v.value)
            let s = makeGradientView(k)
            if let g = v.grad {
                s.pointer.update(from: g.readPointer, count: g.count)
                v.grad = Tensor(storage: s, shape: slots[k].shape)
                v.spareGradient = nil
            } else {
                v.spareGradient = Tensor(storage: s, shape: slots[k].shape)
                v.spareIsZero = true
            }
        }
    }

    // MARK: Binding

    private struct WeakStorage { weak var storage: TensorStorage? }

    /// Copies `t` into value slot k and makes the parameter's value a fresh view of it.
    private func bindValue(_ k: Int, copying t: Tensor) {
        precondition(t.count == slots[k].count, "parameter '\(slots[k].name)' changed size from \(slots[k].shape) to \(t.shape)")
        let slot = values.pointer + slots[k].offset
        if t.readPointer != UnsafePointer(slot) { slot.update(from: t.readPointer, count: t.count) }
        let s = TensorStorage(view: values, offset: slots[k].offset, count: slots[k].count)
        valueViews[k].storage = s
        variables[k].value = Tensor(storage: s, shape: slots[k].shape)
    }

    private func makeGradientView(_ k: Int) -> TensorStorage {
        let s = TensorStorage(view: gradients, offset: slots[k].offset, count: slots[k].count)
        gradientViews[k].storage = s
        return s
    }

    /// Brings every parameter back into the buffers: a value or gradient assigned since (or a
    /// copy-on-write copy of a view) is copied into its slot, and a view that a tensor other than
    /// the parameter still holds is first given memory of its own (that tensor keeps its
    /// elements). Afterwards each value and gradient is the only holder of its slot, so the
    /// buffers may be written in place. Cheap when nothing changed: identity and reference
    /// count checks only.
    public func attach() {
        for (k, v) in variables.enumerated() {
            // values
            if v.value.storage !== valueViews[k].storage {
                valueViews[k].storage?.detachFromArena()
                bindValue(k, copying: v.value)
            } else if !isKnownUniquelyReferenced(&v.value.storage) {
                valueViews[k].storage!.detachFromArena()   // v.value, holding it too, now has a private copy
                bindValue(k, copying: v.value)
            }
            // gradients: `grad` when there is one, else the spare the next gradient goes to
            if v.grad != nil {
                if v.grad!.storage !== gradientViews[k].storage || !isKnownUniquelyReferenced(&v.grad!.storage) {
                    gradientViews[k].storage?.detachFromArena()
                    let s = makeGradientView(k)
                    s.pointer.update(from: v.grad!.readPointer, count: slots[k].count)
                    v.grad = Tensor(storage: s, shape: slots[k].shape)
                }
                v.spareGradient = nil
            } else if v.spareGradient?.storage !== gradientViews[k].storage || !isKnownUniquelyReferenced(&v.spareGradient!.storage) {
                gradientViews[k].storage?.detachFromArena()
                v.spareGradient = Tensor(storage: makeGradientView(k), shape: slots[k].shape)
                v.spareIsZero = false
            }
        }
    }

    // MARK: Bulk operations

    /// Clears every gradient in one call: the gradient buffer is zeroed and each parameter left
    /// without a gradient (`grad == nil`, as PyTorch's `zero_grad(set_to_none=True)`); the next
    /// backward pass accumulates into the zeroed slots without zero-filling them again.
    public func zeroGradients() {
        for v in variables { v.clearGradient() }
        attach()
        gradients.zero()
        for v in variables { v.spareIsZero = true }
    }

    /// Whether parameter k has a gradient now.
    public func hasGradient(_ k: Int) -> Bool { variables[k].grad != nil }

    /// Maximal runs of slots next to each other in buffer order on which `key` (nil: skip the
    /// slot) is equal: (offset, count, key) in buffer order, a run covering the zero padding
    /// between its slots. An optimizer runs one kernel call per run.
    public func runs<Key: Equatable>(_ key: (Int) -> Key?) -> [(offset: Int, count: Int, key: Key)] {
        var out: [(offset: Int, count: Int, key: Key)] = []
        var previousIncluded = false
        for k in bufferOrder {
            guard let kk = key(k) else { previousIncluded = false; continue }
            if previousIncluded, let last = out.last, last.key == kk {
                out[out.count - 1].count = slots[k].offset + slots[k].count - last.offset
            } else {
                out.append((slots[k].offset, slots[k].count, kk))
            }
            previousIncluded = true
        }
        return out
    }

    /// Replaces every gradient by its sum over all ranks of `communicator`: one allreduce of the
    /// gradient buffer with its presence flags. A parameter without a gradient here sends zeros;
    /// one with a gradient on some rank has one afterwards.
    public func allreduceGradients(over communicator: Communicator) {
        attach()
        let flags = gradients.pointer + count
        for (k, v) in variables.enumerated() {
            if v.grad == nil {
                if !v.spareIsZero { (gradients.pointer + slots[k].offset).update(repeating: 0, count: slots[k].count) }
                v.spareIsZero = true
                flags[k] = 0
            } else {
                flags[k] = 1
            }
        }
        communicator.allreduceSum(UnsafeMutableBufferPointer(start: gradients.pointer, count: gradients.count))
        for (k, v) in variables.enumerated() where v.grad == nil && flags[k] > 0 {
            v.grad = v.spareGradient
            v.spareGradient = nil
            v.spareIsZero = false
        }
    }

    /// Bytes one `allreduceGradients` sends (gradients and presence flags).
    public var allreduceByteCount: Int { gradients.count * MemoryLayout<Float>.size }

    /// The values as a state dict (copies), by slot name in parameter order.
    public func stateDict() -> StateDict {
        attach()
        return StateDict(slots.indices.map { (slots[$0].name, copy(slot: $0, of: values)) })
    }

    /// A copy of slot k of `buffer` (the values, or a buffer of this layout such as a moment).
    public func copy(slot k: Int, of buffer: FlatBuffer) -> Tensor {
        let s = slots[k]
        return Tensor(shape: s.shape) { $0.update(from: buffer.pointer + s.offset, count: s.count) }
    }

    /// Sets every value from `state` (names as `slots`; extra keys are ignored): one pass into the
    /// value buffer. A missing entry or a shape mismatch throws before anything is written.
    public func load(_ state: StateDict) throws {
        let entries = try checkedEntries(of: state, what: "state dict")
        attach()   // slots that snapshots still hold get memory of their own first
        write(entries, into: values)
    }

    /// `state[name + suffix]` for each slot k where `wanted(k)` (nil elsewhere), checked against
    /// the slot's shape; throws on a missing entry or another shape.
    public func checkedEntries(of state: StateDict, suffix: String = "", what: String,
                               wanted: (Int) -> Bool = { _ in true }) throws -> [Tensor?] {
        try slots.indices.map { k in
            let name = slots[k].name + suffix
            guard wanted(k) else { return nil }
            guard let t = state[name] else { throw SaneError("\(what) has no entry '\(name)'", hint: "was it saved for another model?") }
            guard t.shape == slots[k].shape else { throw SaneError("\(what) '\(name)' has shape \(t.shape), expected \(slots[k].shape)") }
            return t
        }
    }

    /// Copies `entries` (from `checkedEntries`) into their slots of `buffer`, a buffer of this
    /// layout that no tensor views (values only after `attach()`); nil entries are left as they are.
    public func write(_ entries: [Tensor?], into buffer: FlatBuffer) {
        for (s, t) in zip(slots, entries) { if let t { (buffer.pointer + s.offset).update(from: t.readPointer, count: s.count) } }
    }

    /// Σ p and Σ p² over all values, in Float64 and buffer order (the zero padding between slots
    /// adds nothing): one pass, e.g. to check that data-parallel replicas hold the same weights.
    public func valueChecksum() -> (sum: Double, sumOfSquares: Double) {
        attach()
        var s = 0.0, s2 = 0.0
        let p = values.pointer
        for i in 0..<count { let x = Double(p[i]); s += x; s2 += x * x }
        return (s, s2)
    }

    /// All values in buffer order as one 1-D tensor: one copy (a device backend: one transfer).
    public func copyValues() -> Tensor {
        attach()
        return Tensor(shape: [count]) { $0.update(from: values.pointer, count: count) }
    }

    /// Sets all values from a 1-D tensor in buffer order (`copyValues()` of the same layout).
    public func assignValues(_ t: Tensor) {
        precondition(t.count == count, "\(t.count) values for flat parameters of \(count)")
        attach()
        values.pointer.update(from: t.readPointer, count: count)
    }
}
