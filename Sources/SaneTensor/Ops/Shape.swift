// Shape ops: reshape, permute/transpose, slice, concat, gather (row lookup).

extension Variable {
    /// Same elements, new shape (one dimension may be −1).
    public func reshaped(_ newShape: [Int]) -> Variable {
        let x = self
        return Variable(value.reshaped(newShape), parents: [x]) { g in x.accumulateGradient(g) }
    }

    /// Flattens all dims from `startAxis` on: [a, b, c, d] → [a, b·c·d] for startAxis 1.
    public func flattened(from startAxis: Int = 1) -> Variable {
        reshaped(Array(shape[..<startAxis]) + [shape[startAxis...].reduce(1, *)])
    }

    /// Reorders axes: result axis i is input axis `axes[i]`.
    public func permuted(_ axes: [Int]) -> Variable {
        let x = self
        let y = x.value.permuted(axes)
        var inverse = [Int](repeating: 0, count: axes.count)
        for (i, a) in axes.enumerated() { inverse[a] = i }
        return Variable(y, parents: [x]) { g in x.accumulateGradient(g.permuted(inverse)) }
    }

    /// Swaps two axes.
    public func transposed(_ a: Int = -2, _ b: Int = -1) -> Variable {
        var axes = Array(0..<shape.count)
        axes.swapAt(normalizeAxis(a, rank: shape.count), normalizeAxis(b, rank: shape.count))
        return permuted(axes)
    }

    /// Elements `range` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Variable {
        let ax = normalizeAxis(axis, rank: shape.count)
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[ax], "slice \(range) out of bounds for axis \(ax) of \(shape)")
        let (outer, n, inner) = value.splitAround(ax)
        let len = range.count, lo = range.lowerBound
        var outShape = shape; outShape[ax] = len
        let x = self
        let y = Tensor(shape: outShape) { out in
            let p = x.value.readPointer
            for o in 0..<outer { (out + o * len * inner).update(from: p + (o * n + lo) * inner, count: len * inner) }
        }
        return Variable(y, parents: [x]) { g in
            let dx = x.gradientPointer(), pg = g.readPointer
            for o in 0..<outer { let d = dx + (o * n + lo) * inner, s = pg + o * len * inner
                for i in 0..<len * inner { d[i] += s[i] } }
        }
    }

    /// Concatenation along `axis`; all other dims must agree.
    public static func concat(_ xs: [Variable], axis: Int) -> Variable {
        precondition(!xs.isEmpty, "concat of nothing")
        let ax = normalizeAxis(axis, rank: xs[0].shape.count)
        var outShape = xs[0].shape
        outShape[ax] = xs.reduce(0) { $0 + $1.shape[ax] }
        for x in xs { var s = x.shape; s[ax] = outShape[ax]; precondition(s == outShape, "concat: shapes \(xs.map(\.shape)) differ off axis \(ax)") }
        let (outer, total, inner) = Tensor(uninitialized: outShape).splitAround(ax)
        let y = Tensor(shape: outShape) { out in
            var offset = 0
            for x in xs {
                let n = x.shape[ax], p = x.value.readPointer
                for o in 0..<outer { (out + (o * total + offset) * inner).update(from: p + o * n * inner, count: n * inner) }
                offset += n
            }
        }
        return Variable(y, parents: xs) { g in
            var offset = 0
            let pg = g.readPointer
            for x in xs {
                let n = x.shape[ax]
                if x.requiresGrad {
                    let dx = x.gradientPointer()
                    for o in 0..<outer { let s = pg + (o * total + offset) * inner, d = dx + o * n * inner
                        for i in 0..<n * inner { d[i] += s[i] } }
                }
                offset += n
            }
        }
    }

    /// Row lookup (embedding): `self` is a table [V, C]; result [indices.count, C] with row i =
    /// table[indices[i]]. Backward scatters-adds rows into the table's gradient.
    public func gathered(rows indices: [Int32]) -> Variable {
        precondition(shape.count == 2, "gathered(rows:) needs a 2-D table, got \(shape)")
        let table = self, v = shape[0], c = shape[1]
        let y = Tensor(shape: [indices.count, c]) { out in
            let p = table.value.readPointer
            for (i, r) in indices.enumerated() {
                precondition(r >= 0 && Int(r) < v, "index \(r) out of range for table of \(v) rows")
                (out + i * c).update(from: p + Int(r) * c, count: c)
            }
        }
        return Variable(y, parents: [table]) { g in
            let d = table.gradientPointer(), pg = g.readPointer
            for (i, r) in indices.enumerated() { let dst = d + Int(r) * c, src = pg + i * c; for j in 0..<c { dst[j] += src[j] } }
        }
    }
}

extension Tensor {
    /// Axis permutation (copying).
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.sorted() == Array(0..<rank), "permutation \(axes) invalid for rank \(rank)")
        if axes == Array(0..<rank) { return self }
        let outShape = axes.map { shape[$0] }
        let inStrides = Tensor.strides(shape)
        let strides = axes.map { inStrides[$0] }   // input stride of each output axis
        return Tensor(shape: outShape) { out in
            let p = readPointer
            let r = outShape.count, n = outShape[r - 1], s = strides[r - 1]
            let rows = count / max(n, 1)
            if n == 0 { return }
            var index = [Int](repeating: 0, count: r)
            var off = 0
            for row in 0..<rows {
                let dst = out + row * n
                for i in 0..<n { dst[i] = p[off + i * s] }
                var axis = r - 2
                while axis >= 0 {
                    index[axis] += 1; off += strides[axis]
                    if index[axis] < outShape[axis] { break }
                    off -= strides[axis] * index[axis]; index[axis] = 0; axis -= 1
                }
            }
        }
    }
}
