// Broadcasted arithmetic: a + b, a − b, a ⊙ b, a / b, with gradients summed back over broadcast axes.

/// Applies an elementwise binary function with broadcasting.
@inline(__always)
func broadcastBinary(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
    if a.shape == b.shape {
        return Tensor(shape: a.shape) { out in
            let pa = a.readPointer, pb = b.readPointer
            for i in 0..<a.count { out[i] = f(pa[i], pb[i]) }
        }
    }
    let plan = BroadcastPlan(a.shape, b.shape)
    return Tensor(shape: plan.outShape) { out in
        let pa = a.readPointer, pb = b.readPointer
        plan.forEachRow { o, ao, bo, n, sa, sb in
            for i in 0..<n { out[o + i] = f(pa[ao + i * sa], pb[bo + i * sb]) }
        }
    }
}

public func + (a: Variable, b: Variable) -> Variable {
    let y = broadcastBinary(a.value, b.value, +)
    return Variable(y, parents: [a, b]) { g in
        if a.requiresGrad { a.accumulateGradient(g.summed(toShape: a.shape)) }
        if b.requiresGrad { b.accumulateGradient(g.summed(toShape: b.shape)) }
    }
}

public func - (a: Variable, b: Variable) -> Variable {
    let y = broadcastBinary(a.value, b.value, -)
    return Variable(y, parents: [a, b]) { g in
        if a.requiresGrad { a.accumulateGradient(g.summed(toShape: a.shape)) }
        if b.requiresGrad { b.accumulateGradient(broadcastBinary(g, Tensor(-1), *).summed(toShape: b.shape)) }
    }
}

public func * (a: Variable, b: Variable) -> Variable {
    let y = broadcastBinary(a.value, b.value, *)
    return Variable(y, parents: [a, b]) { g in
        if a.requiresGrad { a.accumulateGradient(broadcastBinary(g, b.value, *).summed(toShape: a.shape)) }
        if b.requiresGrad { b.accumulateGradient(broadcastBinary(g, a.value, *).summed(toShape: b.shape)) }
    }
}

public func / (a: Variable, b: Variable) -> Variable {
    let y = broadcastBinary(a.value, b.value, /)
    return Variable(y, parents: [a, b]) { g in
        // d(a/b)/da = 1/b ; d(a/b)/db = −a/b² = −y/b
        if a.requiresGrad { a.accumulateGradient(broadcastBinary(g, b.value, /).summed(toShape: a.shape)) }
        if b.requiresGrad {
            let gy = broadcastBinary(g, y, *)
            b.accumulateGradient(broadcastBinary(gy, b.value) { -$0 / $1 }.summed(toShape: b.shape))
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
    /// y = scale · x + shift.
    public func scaledAndShifted(scale: Float, shift: Float) -> Variable {
        let x = self
        let y = Tensor(shape: x.shape) { out in
            let p = x.value.readPointer
            for i in 0..<x.count { out[i] = scale * p[i] + shift }
        }
        return Variable(y, parents: [x]) { g in
            let dx = x.gradientPointer(), pg = g.readPointer
            for i in 0..<g.count { dx[i] += scale * pg[i] }
        }
    }
}
