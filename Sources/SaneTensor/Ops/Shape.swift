// Shape ops: reshape, permute/transpose, slice, concat, gather (row lookup).

extension Variable {
    /// Same elements, new shape (one dimension may be −1).
    public func reshaped(_ newShape: [Int]) -> Variable {
        let x = self, backend = Backends.current
        return Variable(value.reshaped(newShape), parents: [x]) { g in x.accumulateGradient(g, using: backend) }
    }

    /// Flattens all dims from `startAxis` on: [a, b, c, d] → [a, b·c·d] for startAxis 1.
    public func flattened(from startAxis: Int = 1) -> Variable {
        reshaped(Array(shape[..<startAxis]) + [shape[startAxis...].reduce(1, *)])
    }

    /// Reorders axes: result axis i is input axis `axes[i]`.
    public func permuted(_ axes: [Int]) -> Variable {
        let x = self, backend = Backends.current
        let y = x.value.permuted(axes, using: backend)
        var inverse = [Int](repeating: 0, count: axes.count)
        for (i, a) in axes.enumerated() { inverse[a] = i }
        return Variable(y, parents: [x]) { g in x.accumulateGradient(g.permuted(inverse, using: backend), using: backend) }
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
        let x = self, backend = Backends.current
        let y = Tensor(shape: outShape) {
            backend.copyBlocks(dst: $0, dstStride: len * inner, src: x.value.readPointer + lo * inner, srcStride: n * inner,
                               blocks: outer, length: len * inner, accumulate: false)
        }
        return Variable(y, parents: [x]) { g in
            backend.copyBlocks(dst: x.gradientPointer() + lo * inner, dstStride: n * inner, src: g.readPointer, srcStride: len * inner,
                               blocks: outer, length: len * inner, accumulate: true)
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
        let backend = Backends.current
        let y = Tensor(shape: outShape) { out in
            var offset = 0
            for x in xs {
                let n = x.shape[ax]
                backend.copyBlocks(dst: out + offset * inner, dstStride: total * inner, src: x.value.readPointer, srcStride: n * inner,
                                   blocks: outer, length: n * inner, accumulate: false)
                offset += n
            }
        }
        return Variable(y, parents: xs) { g in
            var offset = 0
            for x in xs {
                let n = x.shape[ax]
                if x.requiresGrad {
                    backend.copyBlocks(dst: x.gradientPointer(), dstStride: n * inner, src: g.readPointer + offset * inner, srcStride: total * inner,
                                       blocks: outer, length: n * inner, accumulate: true)
                }
                offset += n
            }
        }
    }

    /// Row lookup (embedding): `self` is a table [V, C]; result [indices.count, C] with row i =
    /// table[indices[i]]. Backward scatters-adds rows into the table's gradient.
    public func gathered(rows indices: [Int32]) -> Variable {
        precondition(shape.count == 2, "gathered(rows:) needs a 2-D table, got \(shape)")
        let table = self, v = shape[0], c = shape[1], backend = Backends.current
        for r in indices { precondition(r >= 0 && Int(r) < v, "index \(r) out of range for table of \(v) rows") }
        let y = Tensor(shape: [indices.count, c]) { out in
            indices.withUnsafeBufferPointer { backend.gatherRows(y: out, table: table.value.readPointer, rows: $0.baseAddress!, count: indices.count, width: c) }
        }
        return Variable(y, parents: [table]) { g in
            indices.withUnsafeBufferPointer {
                backend.gatherRowsBackward(dtable: table.gradientPointer(), dy: g.readPointer, rows: $0.baseAddress!, count: indices.count, width: c)
            }
        }
    }
}

extension Tensor {
    /// Axis permutation (copying), on the current backend.
    public func permuted(_ axes: [Int]) -> Tensor { permuted(axes, using: Backends.current) }

    /// Axis permutation (copying) on `backend`: result axis i is axis `axes[i]`.
    public func permuted(_ axes: [Int], using backend: any Backend) -> Tensor {
        precondition(axes.sorted() == Array(0..<rank), "permutation \(axes) invalid for rank \(rank)")
        if axes == Array(0..<rank) { return self }
        return Tensor(shape: axes.map { shape[$0] }) { backend.permute(y: $0, x: readPointer, shape: shape, axes: axes) }
    }
}

extension Tensor {
    /// Rows `range` of the first axis: [n, …] → [range.count, …], copied on the current backend.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(rank > 0 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows \(range) out of bounds for shape \(shape)")
        let inner = shape.dropFirst().reduce(1, *), backend = Backends.current
        return Tensor(shape: [range.count] + shape.dropFirst()) { out in
            backend.copyBlocks(dst: out, dstStride: 0, src: readPointer + range.lowerBound * inner, srcStride: 0,
                               blocks: 1, length: range.count * inner, accumulate: false)
        }
    }

    /// Tensors of one shape S stacked along a new first axis: [parts.count] + S, on the current backend.
    public static func stacked(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "stacked: no tensors")
        for p in parts { precondition(p.shape == parts[0].shape, "stacked: shapes \(parts.map(\.shape)) differ") }
        return concatenated(parts.map { $0.reshaped([1] + $0.shape) })
    }

    /// Concatenation along the first axis (shapes must agree elsewhere), on the current backend.
    public static func concatenated(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "concatenated: no tensors")
        let rest = Array(parts[0].shape.dropFirst())
        for p in parts { precondition(Array(p.shape.dropFirst()) == rest, "concatenated: shapes \(parts.map(\.shape)) differ") }
        let total = parts.reduce(0) { $0 + $1.shape[0] }, backend = Backends.current
        return Tensor(shape: [total] + rest) { out in
            var offset = 0
            for p in parts {
                backend.copyBlocks(dst: out + offset, dstStride: 0, src: p.readPointer, srcStride: 0, blocks: 1, length: p.count, accumulate: false)
                offset += p.count
            }
        }
    }
}
