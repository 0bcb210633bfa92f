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
        let x = self
        let y = Tensor(shape: outShape) { out in
            let p = x.value.readPointer
            out.update(repeating: 0, count: outer * inner)
            for o in 0..<outer { for j in 0..<n { let row = p + (o * n + j) * inner; let dst = out + o * inner
                for i in 0..<inner { dst[i] += row[i] } } }
        }
        return Variable(y, parents: [x]) { g in
            let dx = x.gradientPointer(), pg = g.readPointer
            for o in 0..<outer { for j in 0..<n { let row = dx + (o * n + j) * inner; let src = pg + o * inner
                for i in 0..<inner { row[i] += src[i] } } }
        }
    }

    /// Mean over `axis`.
    public func mean(axis: Int, keepDims: Bool = false) -> Variable {
        sum(axis: axis, keepDims: keepDims) * (1 / Float(shape[normalizeAxis(axis, rank: shape.count)]))
    }

    /// Sum of all elements (a scalar, shape []).
    public func sum() -> Variable {
        let x = self
        let s = x.value.withUnsafeBufferPointer { b in b.reduce(Double(0)) { $0 + Double($1) } }
        return Variable(Tensor(Float(s)), parents: [x]) { g in
            let dx = x.gradientPointer(), gv = g.scalar
            for i in 0..<x.count { dx[i] += gv }
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
        let x = self
        let y = Tensor(shape: outShape) { out in
            let p = x.value.readPointer
            for o in 0..<outer { for i in 0..<inner {
                var best = p[o * n * inner + i], bi = 0
                for j in 1..<n { let v = p[(o * n + j) * inner + i]; if v > best { best = v; bi = j } }
                out[o * inner + i] = best; argmax[o * inner + i] = Int32(bi)
            } }
        }
        return Variable(y, parents: [x]) { g in
            let dx = x.gradientPointer(), pg = g.readPointer
            for o in 0..<outer { for i in 0..<inner {
                dx[(o * n + Int(argmax[o * inner + i])) * inner + i] += pg[o * inner + i]
            } }
        }
    }
}
