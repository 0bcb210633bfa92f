// Convolution-family ops on NCHW tensors: conv2d, max/avg pooling, batch normalization, dropout.
// Forward and backward side by side; backward accumulates (+=) into the inputs' gradients.
// Shape legend as in Kernels/ConvolutionKernels.swift (B, Ci, Co, H, W, OH, OW, P, K).

extension Variable {
    /// 2-D convolution (cross-correlation, PyTorch `F.conv2d`):
    ///
    ///     y[b, o, oy, ox] = bias[o] + Σ_{c,i,j} w[o, c, i, j] · x[b, c, oy·s + i − pad, ox·s + j − pad]
    ///
    /// x [B, Ci, H, W], weight [Co, Ci, kh, kw], bias [Co] or nil → y [B, Co, OH, OW].
    ///
    /// The backend keeps what it needs between forward and backward in a workspace (the CPU
    /// backend: its im2col matrix, or nothing for its direct kernels; see `CPUBackend.conv2dForward`).
    public static func conv2d(_ x: Variable, weight: Variable, bias: Variable? = nil, stride: Int = 1, padding: Int = 0) -> Variable {
        precondition(x.shape.count == 4 && weight.shape.count == 4 && x.shape[1] == weight.shape[1],
                     "conv2d: input \(x.shape) [B, Ci, H, W] does not match weight \(weight.shape) [Co, Ci, kh, kw]")
        let co = weight.shape[0]
        precondition(bias == nil || bias!.shape == [co], "conv2d: bias \(bias!.shape) should be [\(co)]")
        let geo = ConvolutionGeometry(batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3],
                                      kernelHeight: weight.shape[2], kernelWidth: weight.shape[3], stride: stride, padding: padding)
        let backend = Backends.current
        var workspace: Tensor?
        let y = Tensor(shape: [geo.batch, co, geo.outputHeight, geo.outputWidth]) {
            workspace = backend.conv2dForward(y: $0, x: x.value.readPointer, weight: weight.value.readPointer, bias: bias?.value.readPointer,
                                              geometry: geo, outChannels: co)
        }
        let parents = bias.map { [x, weight, $0] } ?? [x, weight]
        return Variable(y, parents: parents) { [workspace] g in
            backend.conv2dBackward(dx: x.requiresGrad ? x.gradientPointer() : nil,
                                   dweight: weight.requiresGrad ? weight.gradientPointer() : nil,
                                   dbias: (bias?.requiresGrad ?? false) ? bias!.gradientPointer() : nil,
                                   dy: g.readPointer, x: x.value.readPointer, weight: weight.value.readPointer, workspace: workspace,
                                   geometry: geo, outChannels: co)
        }
    }

    /// Max pooling over kernel×kernel windows with the given stride (default = kernel), no padding,
    /// floor mode (PyTorch `F.max_pool2d`). x [B, C, H, W] → y [B, C, OH, OW].
    /// Backward routes each output gradient to the position of its window's (first) maximum.
    public func maxPool2d(kernelSize: Int, stride: Int? = nil) -> Variable {
        precondition(shape.count == 4, "maxPool2d needs [B, C, H, W], got \(shape)")
        let x = self
        let geo = ConvolutionGeometry(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3],
                                      kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride ?? kernelSize, padding: 0)
        let planes = shape[0] * shape[1], backend = Backends.current
        var argmax = [Int32](repeating: 0, count: planes * geo.outputPixels)   // [B, C, P]
        let y = Tensor(shape: [shape[0], shape[1], geo.outputHeight, geo.outputWidth]) { out in
            argmax.withUnsafeMutableBufferPointer { backend.maxPoolForward(y: out, argmax: $0.baseAddress!, x: x.value.readPointer, planes: planes, geometry: geo) }
        }
        return Variable(y, parents: [x]) { [argmax] g in
            argmax.withUnsafeBufferPointer { backend.maxPoolBackward(dx: x.gradientPointer(), dy: g.readPointer, argmax: $0.baseAddress!, planes: planes, geometry: geo) }
        }
    }

    /// Average pooling over kernel×kernel windows (stride default = kernel), no padding, floor
    /// mode (PyTorch `F.avg_pool2d`). x [B, C, H, W] → y [B, C, OH, OW]; dx += dy/(k²) per window.
    public func avgPool2d(kernelSize: Int, stride: Int? = nil) -> Variable {
        precondition(shape.count == 4, "avgPool2d needs [B, C, H, W], got \(shape)")
        let x = self
        let geo = ConvolutionGeometry(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3],
                                      kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride ?? kernelSize, padding: 0)
        let planes = shape[0] * shape[1], backend = Backends.current
        let y = Tensor(shape: [shape[0], shape[1], geo.outputHeight, geo.outputWidth]) {
            backend.avgPoolForward(y: $0, x: x.value.readPointer, planes: planes, geometry: geo)
        }
        return Variable(y, parents: [x]) { g in
            backend.avgPoolBackward(dx: x.gradientPointer(), dy: g.readPointer, planes: planes, geometry: geo)
        }
    }

    /// Global average pooling (PyTorch `F.adaptive_avg_pool2d(x, 1).flatten(1)`):
    /// y[b, c] = (1/(H·W)) Σ_{i,j} x[b, c, i, j]. x [B, C, H, W] → y [B, C]; dx += dy/(H·W).
    public func globalAveragePool2d() -> Variable {
        precondition(shape.count == 4, "globalAveragePool2d needs [B, C, H, W], got \(shape)")
        let x = self, planes = shape[0] * shape[1], s = shape[2] * shape[3], backend = Backends.current
        let y = Tensor(shape: [shape[0], shape[1]]) { backend.globalAveragePoolForward(y: $0, x: x.value.readPointer, planes: planes, planeSize: s) }
        return Variable(y, parents: [x]) { g in
            backend.globalAveragePoolBackward(dx: x.gradientPointer(), dy: g.readPointer, planes: planes, planeSize: s)
        }
    }

    /// Batch normalization over the channel axis of x [B, C, ...] (PyTorch `F.batch_norm`):
    ///
    ///     y = γ · (x − μ) / √(σ² + ε) + β
    ///
    /// Training: μ, σ² are the batch's per-channel mean and *biased* variance over B·S, and the
    /// running statistics are updated as r ← (1 − momentum)·r + momentum·stat, with the *unbiased*
    /// variance σ²·n/(n−1) for `runningVariance` (n = B·S). Evaluation: μ, σ² are the running
    /// statistics, which are left unchanged. weight γ [C], bias β [C] (nil = not affine).
    ///
    /// Backward (training), with x̂ = (x − μ)·rstd and dx̂ = g·γ:
    ///     dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂·x̂)),  dγ += Σ g·x̂,  dβ += Σ g
    /// (evaluation: dx = g·γ·rstd, the statistics are constants).
    public static func batchNorm2d(_ x: Variable, weight: Variable?, bias: Variable?,
                                   runningMean: inout Tensor, runningVariance: inout Tensor,
                                   training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5) -> Variable {
        precondition(x.shape.count >= 2, "batchNorm2d needs [B, C, ...], got \(x.shape)")
        let (b, c) = (x.shape[0], x.shape[1])
        let s = x.count / Swift.max(b * c, 1)
        precondition(runningMean.count == c && runningVariance.count == c, "batchNorm2d: running statistics must have \(c) entries")
        let n = b * s
        if training { precondition(n > 1, "batchNorm2d in training needs more than one value per channel, got input \(x.shape)") }
        let backend = Backends.current
        // μ, rstd [C]
        var mean = Tensor(uninitialized: [c]), rstd = Tensor(uninitialized: [c])
        backend.batchNormStatistics(mean: mean.writePointer(), rstd: rstd.writePointer(), runningMean: runningMean.writePointer(),
                                    runningVariance: runningVariance.writePointer(), x: x.value.readPointer, batch: b, channels: c, spatial: s,
                                    training: training, momentum: momentum, epsilon: epsilon)
        // x̂ [B, C, S]
        var xhat = Tensor(uninitialized: x.shape)
        let y = Tensor(shape: x.shape) {
            backend.batchNormForward(y: $0, xhat: xhat.writePointer(), x: x.value.readPointer, mean: mean.readPointer, rstd: rstd.readPointer,
                                     weight: weight?.value.readPointer, bias: bias?.value.readPointer, batch: b, channels: c, spatial: s)
        }
        let parents = [x] + [weight, bias].compactMap { $0 }
        return Variable(y, parents: parents) { [xhat] g in
            backend.batchNormBackward(dx: x.requiresGrad ? x.gradientPointer() : nil,
                                      dweight: (weight?.requiresGrad ?? false) ? weight!.gradientPointer() : nil,
                                      dbias: (bias?.requiresGrad ?? false) ? bias!.gradientPointer() : nil,
                                      dy: g.readPointer, xhat: xhat.readPointer, rstd: rstd.readPointer, weight: weight?.value.readPointer,
                                      batch: b, channels: c, spatial: s, training: training)
        }
    }

    /// Multiplies by a fixed dropout mask (entries 0 or 1/(1 − p)): y = x ⊙ mask, dx += g ⊙ mask.
    public func masked(by mask: Tensor) -> Variable {
        precondition(mask.count == count, "mask of \(mask.shape) does not fit \(shape)")
        let x = self, backend = Backends.current
        let y = Tensor(shape: shape) {
            backend.broadcastBinary(.multiply, out: $0, a: x.value.readPointer, b: mask.readPointer, plan: BroadcastPlan([x.count], [x.count]))
        }
        return Variable(y, parents: [x]) { g in
            backend.accumulateProduct(x.gradientPointer(), g.readPointer, mask.readPointer, count: x.count)
        }
    }

    /// Inverted dropout (PyTorch `F.dropout`): each element is kept with probability 1 − p and
    /// scaled by 1/(1 − p), else zeroed; the mask is drawn from `generator` (element i kept iff
    /// u_i < 1 − p, u_i uniform in [0, 1)). Identity when `training` is false or p = 0.
    public func dropout(probability p: Float, training: Bool, using generator: inout SeededGenerator) -> Variable {
        precondition(p >= 0 && p < 1, "dropout probability must be in [0, 1), got \(p)")
        guard training && p > 0 else { return self }
        return masked(by: Tensor.dropoutMask(shape, probability: p, using: &generator))
    }
}

extension Tensor {
    /// A dropout mask: 1/(1 − p) with probability 1 − p, else 0.
    public static func dropoutMask(_ shape: [Int], probability p: Float, using generator: inout SeededGenerator) -> Tensor {
        let keep = 1 - p, scale = 1 / (1 - p)
        return Tensor(shape: shape) { m in
            for i in 0..<Tensor.elementCount(shape) { m[i] = generator.uniformFloat() < keep ? scale : 0 }
        }
    }
}
