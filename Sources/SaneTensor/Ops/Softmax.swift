// Softmax and log-softmax over the last axis, row by row.

extension Variable {
    /// Softmax over the last axis; backward dx += y ⊙ (dy − Σ dy ⊙ y).
    public func softmax() -> Variable {
        let x = self, n = shape.last!, rows = count / Swift.max(n, 1), backend = Backends.current
        let y = Tensor(shape: shape) { backend.softmaxForward(y: $0, x: x.value.readPointer, rows: rows, n: n) }
        return Variable(y, parents: [x]) { g in
            backend.softmaxBackward(dx: x.gradientPointer(), dy: g.readPointer, y: y.readPointer, rows: rows, n: n)
        }
    }

    /// log softmax over the last axis: x_j − max − log Σ exp(x_i − max).
    /// Backward: dx_j = dy_j − softmax_j · Σ_i dy_i.
    public func logSoftmax() -> Variable {
        let x = self, n = shape.last!, rows = count / Swift.max(n, 1), backend = Backends.current
        let y = Tensor(shape: shape) { backend.logSoftmaxForward(y: $0, x: x.value.readPointer, rows: rows, n: n) }
        return Variable(y, parents: [x]) { g in
            backend.logSoftmaxBackward(dx: x.gradientPointer(), dy: g.readPointer, y: y.readPointer, rows: rows, n: n)
        }
    }
}
