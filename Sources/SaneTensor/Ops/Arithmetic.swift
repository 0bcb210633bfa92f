// Broadcasted arithmetic: a + b, a − b, a ⊙ b, a / b, with gradients summed back over broadcast axes.

/// a ∘ b with broadcasting, on `backend`.
func broadcastBinary(_ a: Tensor, _ b: Tensor, _ op: BinaryOperation, _ backend: any Backend) -> Tensor {
    let plan = BroadcastPlan(a.shape, b.shape)
    return Tensor(shape: plan.outShape) { backend.broadcastBinary(op, out: $0, a: a.readPointer, b: b.readPointer, plan: plan) }
}

public func + (a: Variable, b: Variable) -> Variable {
    let backend = Backends.current
    let y = broadcastBinary(a.value, b.value, .add, backend)
    return Variable(y, parents: [a, b]) { g in
        if a.requiresGrad { a.accumulateGradient(g.summed(toShape: a.shape, using: backend), using: backend) }
        if b.requiresGrad { b.accumulateGradient(g.summed(toShape: b.shape, using: backend), using: backend) }
    }
}

public func - (a: Variable, b: Variable) -> Variable {
    let backend = Backends.current
    let y = broadcastBinary(a.value, b.value, .subtract, backend)
    return Variable(y, parents: [a, b]) { g in
        if a.requiresGrad { a.accumulateGradient(g.summed(toShape: a.shape, using: backend), using: backend) }
        if b.requiresGrad {
            b.accumulateGradient(broadcastBinary(g, Tensor(-1), .multiply, backend).summed(toShape: b.shape, using: backend), using: backend)
        }
    }
}

public func * (a: Variable, b: Variable) -> Variable {
    let backend = Backends.current
    let y = broadcastBinary(a.value, b.value, .multiply, backend)
    return Variable(y, parents: [a, b]) { g in
        if a.requiresGrad {
            a.accumulateGradient(broadcastBinary(g, b.value, .multiply, backend).summed(toShape: a.shape, using: backend), using: backend)
        }
        if b.requiresGrad {
            b.accumulateGradient(broadcastBinary(g, a.value, .multiply, backend).summed(toShape: b.shape, using: backend), using: backend)
        }
    }
}

public func / (a: Variable, b: Variable) -> Variable {
    let backend = Backends.current
    let y = broadcastBinary(a.value, b.value, .divide, backend)
    return Variable(y, parents: [a, b]) { g in
        // d(a/b)/da = 1/b ; d(a/b)/db = −a/b² = −y/b
        if a.requiresGrad {
            a.accumulateGradient(broadcastBinary(g, b.value, .divide, backend).summed(toShape: a.shape, using: backend), using: backend)
        }
        if b.requiresGrad {
            let gy = broadcastBinary(g, y, .multiply, backend)
            b.accumulateGradient(broadcastBinary(gy, b.value, .negatedDivide, backend).summed(toShape: b.shape, using: backend), using: backend)
        }
    }
}

public prefix func - (a: Variable) -> Variable { a * -1 }

public func + (a: Variable, s: Float) -> Variable { a.scaledAndShifted(scale: 1, shift: s) }
public func - (a: Variable, s: Float) -> Variable { a.scaledAndShifted(scale: 1, shift: -s) }
public func * (a: Variable, s: Float) -> Variable { a.scaledAndShifted(scale: s, shift: 0) }
public func * (s: Float, a: Variable) -> Variable { a.scaledAndShifted(scale: s, shift: 0) }
public func / (a: Variable, s: Float) -> Variable { a.scaledAndShifted(scale: 1 / s, shift: 0) }

extension Variable {
    /// y = scale · x + shift; dx += scale · dy.
    public func scaledAndShifted(scale: Float, shift: Float) -> Variable {
        let x = self, backend = Backends.current
        let y = Tensor(shape: x.shape) { backend.scaleShift(y: $0, x: x.value.readPointer, count: x.count, scale: scale, shift: shift) }
        return Variable(y, parents: [x]) { g in
            backend.accumulate(x.gradientPointer(), g.readPointer, count: g.count, scale: scale)
        }
    }
}
