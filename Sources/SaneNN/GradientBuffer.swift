import SaneTensor

/// The gradients of a list of parameters in one contiguous Float32 buffer, for one allreduce per
/// step instead of one per tensor (latency dominates small messages).
///
/// Layout (offsets fixed at creation, in parameter order):
///
///     [ grad(p₀) | grad(p₁) | … | grad(p_{P−1}) | present₀ … present_{P−1} ]
///
/// `present_k` is 1 when parameter k had a gradient on this rank, else 0 (its slot is zeros); after
/// the sum a parameter that had a gradient on no rank stays without one, so the optimizer skips it
/// exactly as in a single process.
///
/// The parameters keep their own tensors: the buffer is filled before and read back after the
/// allreduce (two memcpys of the parameter bytes per step). Making parameters and moments live in
/// one buffer would need views into shared storage, which Tensor's copy-on-write does not have.
public final class GradientBuffer {
    public let parameters: [(name: String, variable: Variable)]
    /// Start of each parameter's slot; `offsets[P]` is where the presence flags begin.
    public let offsets: [Int]
    public private(set) var buffer: [Float]

    public init(parameters: [(String, Variable)]) {
        self.parameters = parameters.map { (name: $0.0, variable: $0.1) }
        var o = [0]
        for p in parameters { o.append(o.last! + p.1.count) }
        offsets = o
        buffer = [Float](repeating: 0, count: o.last! + parameters.count)
    }

    /// Bytes sent per allreduce (gradients and presence flags).
    public var byteCount: Int { buffer.count * MemoryLayout<Float>.size }

    /// Replaces every parameter's gradient by its sum over all ranks of `communicator`.
    public func allreduceSum(over communicator: Communicator) {
        let count = parameters.count, flags = offsets[count]
        buffer.withUnsafeMutableBufferPointer { b in
            let base = b.baseAddress!
            for (k, p) in parameters.enumerated() {
                let n = p.variable.count
                if let g = p.variable.grad {
                    (base + offsets[k]).update(from: g.readPointer, count: n)
                    base[flags + k] = 1
                } else {
                    (base + offsets[k]).update(repeating: 0, count: n)
                    base[flags + k] = 0
                }
            }
            communicator.allreduceSum(b)
            for (k, p) in parameters.enumerated() where base[flags + k] > 0 {
                p.variable.gradientPointer().update(from: base + offsets[k], count: p.variable.count)
            }
        }
    }
}
