// Reductions over one axis: sum, mean, max. A tensor is viewed as [outer, n, inner] around the axis.

extension Tensor {
    /// (outer, n, inner) around `axis`.
    func splitAround(_ axis: Int) -> (Int, Int, Int) {
        let outer = shape[..<axis].reduce(1, *), n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, n, inner)
    }
}

@inline(__always) func normalizeAxis(_ axis: Int, rank: Int) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < rank, "axis \(axis) out of range for rank \(rank)")
    return a
}

extension Variable {
    /// Sum over `axis` (keepDims keeps it as size 1).
    public func sum(axis: Int, keepDims: Bool = false) -> Variable {
        let ax = normalizeAxis(axis, rank: shape.count)
        let (outer, n, inner) = value.splitAround(ax)
        var outShape = shape; if keepDims { outShape[ax] = 1 } else { outShape.remove(at: ax) }
        let x = self, backend = Backends.current
        let y = Tensor(shape: outShape) { backend.sumAxis(y: $0, x: x.value.readPointer, outer: outer, n: n, inner: inner) }
        return Variable(y, parents: [x]) { g in
            backend.sumAxisBackward(dx: x.gradientPointer(), dy: g.readPointer, outer: outer, n: n, inner: inner)
        }
    }

    /// Mean over `axis`.
    public func mean(axis: Int, keepDims: Bool = false) -> Variable {
        sum(axis: axis, keepDims: keepDims) * (1 / Float(shape[normalizeAxis(axis, rank: shape.count)]))
    }

    /// Sum of all elements (a scalar, shape []), accumulated in Float64.
    public func sum() -> Variable {
        let x = self, backend = Backends.current
        let y = Tensor(shape: []) { backend.sumAll(y: $0, x: x.value.readPointer, count: x.count) }
        return Variable(y, parents: [x]) { g in
            backend.sumAllBackward(dx: x.gradientPointer(), dy: g.readPointer, count: x.count)
        }
    }

    /// Mean of all elements (a scalar).
    public func mean() -> Variable { sum() * (1 / Float(Swift.max(count, 1))) }

    /// Maximum over `axis`; the gradient goes to the (first) arg-max.
    public func max(axis: Int, keepDims: Bool = false) -> Variable {
        let ax = normalizeAxis(axis, rank: shape.count)
        let (outer, n, inner) = value.splitAround(ax)
        precondition(n > 0, "max over an empty axis")
        var outShape = shape; if keepDims { outShape[ax] = 1 } else { outShape.remove(at: ax) }
        var argmax = [Int32](repeating: 0, count: outer * inner)
        let x = self, backend = Backends.current
        let y = Tensor(shape: outShape) { out in
            argmax.withUnsafeMutableBufferPointer { backend.maxAxis(y: out, argmax: $0.baseAddress!, x: x.value.readPointer, outer: outer, n: n, inner: inner) }
        }
        return Variable(y, parents: [x]) { [argmax] g in
            argmax.withUnsafeBufferPointer { backend.maxAxisBackward(dx: x.gradientPointer(), dy: g.readPointer, argmax: $0.baseAddress!, outer: outer, n: n, inner: inner) }
        }
    }
}
