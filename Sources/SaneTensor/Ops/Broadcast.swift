// Broadcasting (NumPy rules) for binary ops, and its adjoint: summing a gradient back to an
// operand's shape.

/// How two shapes broadcast to an output shape (NumPy rules): the output shape and each
/// operand's element strides in the output's index space.
public struct BroadcastPlan: Sendable {
    public let outShape: [Int]
    /// Element strides of each operand in the output's index space (0 on broadcast axes).
    public let aStrides: [Int]
    public let bStrides: [Int]
    /// Both operands have the output's shape: element i of each goes to element i.
    public let isElementwise: Bool
    /// Elements of the output.
    public var count: Int { Tensor.elementCount(outShape) }

    public init(_ a: [Int], _ b: [Int]) {
        isElementwise = a == b
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a
        let pb = [Int](repeating: 1, count: rank - b.count) + b
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            precondition(pa[i] == pb[i] || pa[i] == 1 || pb[i] == 1,
                         "shapes \(a) and \(b) do not broadcast")
            out[i] = pa[i] == 1 ? pb[i] : pa[i]
        }
        let sa = Tensor.strides(pa), sb = Tensor.strides(pb)
        outShape = out
        aStrides = (0..<rank).map { pa[$0] == 1 && out[$0] != 1 ? 0 : sa[$0] }
        bStrides = (0..<rank).map { pb[$0] == 1 && out[$0] != 1 ? 0 : sb[$0] }
    }

    /// Calls `row(outOffset, aOffset, bOffset, n, aStep, bStep)` for every innermost row of the
    /// output; the op's tight loop runs over `n` elements with the given operand steps.
    @inline(__always)
    func forEachRow(_ row: (Int, Int, Int, Int, Int, Int) -> Void) {
        let rank = outShape.count
        if rank == 0 { row(0, 0, 0, 1, 0, 0); return }
        let n = outShape[rank - 1]
        let rows = outShape.count == 0 ? 1 : Tensor.elementCount(outShape) / max(n, 1)
        if n == 0 || rows == 0 { return }
        var index = [Int](repeating: 0, count: rank)
        var ao = 0, bo = 0
        for r in 0..<rows {
            row(r * n, ao, bo, n, aStrides[rank - 1], bStrides[rank - 1])
            // advance the outer multi-index (all axes but the last)
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1; ao += aStrides[axis]; bo += bStrides[axis]
                if index[axis] < outShape[axis] { break }
                ao -= aStrides[axis] * index[axis]; bo -= bStrides[axis] * index[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}

extension Tensor {
    /// Sums `self` (shaped like a broadcast result) down to `shape`, the shape of an operand that
    /// was broadcast: the adjoint of broadcasting.
    public func summed(toShape shape: [Int]) -> Tensor { summed(toShape: shape, using: Backends.current) }

    /// `summed(toShape:)` on `backend`.
    public func summed(toShape shape: [Int], using backend: any Backend) -> Tensor {
        if shape == self.shape { return self }
        if Tensor.elementCount(shape) == count { return reshaped(shape) }
        var out = Tensor(zeros: shape)
        let plan = BroadcastPlan(self.shape, shape)
        precondition(plan.outShape == self.shape, "cannot sum \(self.shape) to \(shape)")
        backend.sumToShape(out: out.writePointer(), x: readPointer, plan: plan)
        return out
    }
}
