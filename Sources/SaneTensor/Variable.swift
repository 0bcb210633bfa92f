// Reverse-mode automatic differentiation.
//
// A `Variable` is a node of the computation graph: a value, its accumulated gradient, and a
// closure that pushes the gradient of the node's output to its inputs. Ops (Sources/SaneTensor/Ops)
// build nodes; each op's backward sits right next to its forward and *accumulates* (+=) into the
// inputs' gradient buffers, like llm.c. The arithmetic of both runs on a `Backend`
// (Backend/Backend.swift); a node holds only the graph bookkeeping. Nodes whose inputs need no
// gradient record nothing, so inference builds no graph.

/// A tensor in the computation graph.
public final class Variable {
    /// The value computed by the forward pass.
    public var value: Tensor
    /// The gradient of the loss with respect to `value`, once `backward()` has reached it.
    public var grad: Tensor?
    /// Whether gradients flow to (or through) this node.
    public let requiresGrad: Bool
    /// The inputs this node's backward pushes gradients to.
    private var parents: [Variable]
    /// Pushes `grad` of this node into the parents' gradients.
    private var backwardFunction: ((Tensor) -> Void)?

    /// A leaf: a constant (default) or a trainable parameter (`requiresGrad: true`).
    public init(_ value: Tensor, requiresGrad: Bool = false) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.parents = []
    }

    /// An op's output node. `backward` receives the output gradient (same shape as `value`) and
    /// must accumulate into the parents' gradient buffers (`gradientPointer()`); it is only kept
    /// when some parent requires a gradient.
    public init(_ value: Tensor, parents: [Variable], backward: @escaping (Tensor) -> Void) {
        self.value = value
        let needed = Variable.recording && parents.contains { $0.requiresGrad }
        self.requiresGrad = needed
        self.parents = needed ? parents : []
        self.backwardFunction = needed ? backward : nil
    }

    /// Whether ops record the graph (off inside `withoutGradients`). Task-local, not per process:
    /// one thread's inference (say, a zoo job evaluating its model) cannot switch off the graph of
    /// another thread's training step; parallel regions carry it to their workers
    /// (`Parallel.Context`).
    @TaskLocal static var recording = true

    /// Runs `body` without recording a graph (inference: no backward closures, no retained inputs).
    public static func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
        try $recording.withValue(false) { try body() }
    }

    public var shape: [Int] { value.shape }
    public var count: Int { value.count }

    /// Writable gradient buffer, zero-filled on first use. Backward closures accumulate here.
    public func gradientPointer() -> UnsafeMutablePointer<Float> {
        if grad == nil {
            if var spare = spareGradient {
                spareGradient = nil
                if !spareIsZero { spare.writePointer().update(repeating: 0, count: spare.count) }
                grad = spare
            } else {
                grad = Tensor(zeros: value.shape)
            }
        }
        return grad!.writePointer()
    }

    /// The buffer the next gradient goes to: one released by `clearGradient()`, reserved by
    /// `reserveGradient()`, or the parameter's slot of a `FlatParameters` gradient buffer.
    var spareGradient: Tensor?
    /// Whether `spareGradient` is known to hold zeros (`FlatParameters.zeroGradients()` cleared
    /// the whole gradient buffer in one call), so taking it needs no zero-fill.
    var spareIsZero = false
    /// The flat buffers this parameter's value and gradient live in, if any.
    public internal(set) weak var flatParameters: FlatParameters?

    /// Sets `grad` to nil (no gradient yet, as PyTorch's `zero_grad(set_to_none=True)`) but keeps
    /// its buffer for the next backward pass: re-zeroing memory the process owns is far cheaper
    /// than freeing it and page-faulting fresh pages in again (7 % of a d-1024 SANE step in
    /// `clear_page_erms` before this).
    public func clearGradient() {
        if let g = grad, g.shape == value.shape { spareGradient = g; spareIsZero = false }
        grad = nil
    }

    /// Allocates the gradient buffer now, for a parameter that will be trained, so the long-lived
    /// gradient buffers sit together with the moment buffers instead of being carved out between
    /// the first step's activations, which fragmented the heap (a d-1024 step grew by ~300 MB of
    /// fresh pages per step). `FlatParameters` does this for all parameters at once.
    public func reserveGradient() {
        if grad == nil && spareGradient == nil { spareGradient = Tensor(zeros: value.shape); spareIsZero = true }
    }

    /// Adds `g` (same element count) to the gradient, with the current backend.
    public func accumulateGradient(_ g: Tensor) { accumulateGradient(g, using: Backends.current) }

    /// Adds `g` (same element count) to the gradient with `backend` (ops pass the backend of
    /// their forward pass). The first gradient is copied into the reserved buffer when there is one
    /// (a parameter), else taken as it is, without a copy (an intermediate node).
    public func accumulateGradient(_ g: Tensor, using backend: any Backend) {
        precondition(g.count == value.count, "gradient of \(g.shape) does not fit value of \(value.shape)")
        if grad == nil {
            if var spare = spareGradient, spare.count == g.count {
                // a reserved buffer (a flat-parameter slot) receives the first gradient as a copy
                spareGradient = nil
                backend.copyBlocks(dst: spare.writePointer(), dstStride: 0, src: g.readPointer, srcStride: 0,
                                   blocks: 1, length: g.count, accumulate: false)
                grad = spare
            } else {
                grad = g.reshaped(value.shape)   // taken as it is, without a copy
            }
            return
        }
        backend.accumulate(gradientPointer(), g.readPointer, count: g.count, scale: 1)
    }

    /// Back-propagates from this node. `seed` defaults to ones (d self / d self), so calling this on
    /// a scalar loss fills `grad` of every parameter that contributed to it. The graph is released
    /// as it is traversed: call `backward()` once per forward pass.
    public func backward(seed: Tensor? = nil) {
        precondition(requiresGrad, "backward() on a value that does not depend on any parameter")
        accumulateGradient(seed ?? Tensor(shape: value.shape, repeating: 1))
        for node in topologicalOrder().reversed() {
            guard let fn = node.backwardFunction, let g = node.grad else { continue }
            fn(g)
            node.backwardFunction = nil
            node.parents = []
            node.grad = nil   // intermediate gradients are not kept; parameters are leaves
        }
    }

    /// Nodes reachable from `self` that need gradients, parents before children.
    private func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded { order.append(node); continue }
            if !visited.insert(ObjectIdentifier(node)).inserted { continue }
            stack.append((node, true))
            for p in node.parents where p.requiresGrad && !visited.contains(ObjectIdentifier(p)) {
                stack.append((p, false))
            }
        }
        return order
    }
}

extension Variable: CustomStringConvertible {
    public var description: String { "Variable(\(value)\(requiresGrad ? ", requiresGrad" : ""))" }
}
