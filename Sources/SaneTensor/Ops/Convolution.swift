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
    /// Forward: cols = im2col(x) [K, B·P]; y' = W·cols [Co, B·P] (one GEMM); y = swap(y') + bias.
    /// Backward: g' = swap(g) [Co, B·P]; dW += g'·colsᵀ; db += Σ g'; dcols = Wᵀ·g'; dx += col2im(dcols).
    /// Stride 1 without padding and OW ≥ 8 (the zoo CNNs' first layers) uses the direct kernels of
    /// ConvolutionKernels+Direct.swift instead (same formula, no im2col buffer).
    public static func conv2d(_ x: Variable, weight: Variable, bias: Variable? = nil, stride: Int = 1, padding: Int = 0) -> Variable {
        precondition(x.shape.count == 4 && weight.shape.count == 4 && x.shape[1] == weight.shape[1],
                     "conv2d: input \(x.shape) [B, Ci, H, W] does not match weight \(weight.shape) [Co, Ci, kh, kw]")
        let co = weight.shape[0]
        precondition(bias == nil || bias!.shape == [co], "conv2d: bias \(bias!.shape) should be [\(co)]")
        let geo = ConvolutionGeometry(batch: x.shape[0], channels: x.shape[1], height: x.shape[2], width: x.shape[3],
                                      kernelHeight: weight.shape[2], kernelWidth: weight.shape[3], stride: stride, padding: padding)
        let (b, k, p) = (geo.batch, geo.patchLength, geo.outputPixels)
        let n = b * p
        let parents = bias.map { [x, weight, $0] } ?? [x, weight]
        if ConvolutionKernels.directApplies(geo) {
            // Few channels, stride 1, no padding: direct SIMD kernels, no im2col, no transposes.
            let y = Tensor(shape: [b, co, geo.outputHeight, geo.outputWidth]) {
                ConvolutionKernels.directConvolution(x.value.readPointer, weight.value.readPointer, bias?.value.readPointer, $0, geo, outChannels: co)
            }
            return Variable(y, parents: parents) { g in
                if weight.requiresGrad {
                    ConvolutionKernels.directConvolutionWeightGradient(x.value.readPointer, g.readPointer, weight.gradientPointer(), geo, outChannels: co)
                }
                if let bias, bias.requiresGrad {
                    ConvolutionKernels.channelSums(g.readPointer, bias.gradientPointer(), batch: b, channels: co, spatial: p)
                }
                if x.requiresGrad {
                    ConvolutionKernels.directConvolutionInputGradient(g.readPointer, weight.value.readPointer, x.gradientPointer(), geo, outChannels: co)
                }
            }
        }
        // cols [K, B·P]
        let cols = Tensor(shape: [k, n]) { ConvolutionKernels.im2col(x.value.readPointer, $0, geo, items: 0..<b) }
        // y' [Co, B·P] = W [Co, K] · cols [K, B·P]
        var yt = Tensor(uninitialized: [co, n])
        sgemm(transposeA: false, transposeB: false, m: co, n: n, k: k,
              a: weight.value.readPointer, lda: k, b: cols.readPointer, ldb: n, c: yt.writePointer(), ldc: n)
        if let bias {
            let pb = bias.value.readPointer, py = yt.writePointer()
            for o in 0..<co { let row = py + o * n, v = pb[o]; for i in 0..<n { row[i] += v } }
        }
        // y [B, Co, OH, OW]
        let y = Tensor(shape: [b, co, geo.outputHeight, geo.outputWidth]) {
            ConvolutionKernels.swapOuterAxes(yt.readPointer, $0, outer: co, middle: b, inner: p)
        }
        return Variable(y, parents: parents) { g in
            // g' [Co, B·P]
            let gt = Tensor(shape: [co, n]) { ConvolutionKernels.swapOuterAxes(g.readPointer, $0, outer: b, middle: co, inner: p) }
            if weight.requiresGrad {
                // dW [Co, K] += g' [Co, B·P] · colsᵀ [B·P, K]
                sgemm(transposeA: false, transposeB: true, m: co, n: k, k: n,
                      a: gt.readPointer, lda: n, b: cols.readPointer, ldb: n, beta: 1, c: weight.gradientPointer(), ldc: k)
            }
            if let bias, bias.requiresGrad {
                let db = bias.gradientPointer(), pg = gt.readPointer
                for o in 0..<co { let row = pg + o * n; var s: Float = 0; for i in 0..<n { s += row[i] }; db[o] += s }
            }
            if x.requiresGrad {
                // dcols [K, B·P] = Wᵀ [K, Co] · g' [Co, B·P]
                let dcols = Tensor(shape: [k, n]) {
                    sgemm(transposeA: true, transposeB: false, m: k, n: n, k: co,
                          a: weight.value.readPointer, lda: k, b: gt.readPointer, ldb: n, c: $0, ldc: n)
                }
                ConvolutionKernels.col2imAccumulate(dcols.readPointer, x.gradientPointer(), geo, items: 0..<b)
            }
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
        let planes = shape[0] * shape[1]
        var argmax = [Int32](repeating: 0, count: planes * geo.outputPixels)   // [B, C, P]
        let y = Tensor(shape: [shape[0], shape[1], geo.outputHeight, geo.outputWidth]) { out in
            argmax.withUnsafeMutableBufferPointer { ConvolutionKernels.maxPool(x.value.readPointer, out, $0.baseAddress!, planes: planes, geo) }
        }
        return Variable(y, parents: [x]) { [argmax] g in
            argmax.withUnsafeBufferPointer { ConvolutionKernels.maxPoolBackward(g.readPointer, $0.baseAddress!, x.gradientPointer(), planes: planes, geo) }
        }
    }

    /// Average pooling over kernel×kernel windows (stride default = kernel), no padding, floor
    /// mode (PyTorch `F.avg_pool2d`). x [B, C, H, W] → y [B, C, OH, OW]; dx += dy/(k²) per window.
    public func avgPool2d(kernelSize: Int, stride: Int? = nil) -> Variable {
        precondition(shape.count == 4, "avgPool2d needs [B, C, H, W], got \(shape)")
        let x = self
        let geo = ConvolutionGeometry(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3],
                                      kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride ?? kernelSize, padding: 0)
        let planes = shape[0] * shape[1]
        let y = Tensor(shape: [shape[0], shape[1], geo.outputHeight, geo.outputWidth]) {
            ConvolutionKernels.avgPool(x.value.readPointer, $0, planes: planes, geo)
        }
        return Variable(y, parents: [x]) { g in
            ConvolutionKernels.avgPoolBackward(g.readPointer, x.gradientPointer(), planes: planes, geo)
        }
    }

    /// Global average pooling (PyTorch `F.adaptive_avg_pool2d(x, 1).flatten(1)`):
    /// y[b, c] = (1/(H·W)) Σ_{i,j} x[b, c, i, j]. x [B, C, H, W] → y [B, C]; dx += dy/(H·W).
    public func globalAveragePool2d() -> Variable {
        precondition(shape.count == 4, "globalAveragePool2d needs [B, C, H, W], got \(shape)")
        let x = self, planes = shape[0] * shape[1], s = shape[2] * shape[3]
        let scale = 1 / Float(Swift.max(s, 1))
        let y = Tensor(shape: [shape[0], shape[1]]) { out in
            let px = x.value.readPointer
            for p in 0..<planes { let row = px + p * s; var t: Float = 0; for k in 0..<s { t += row[k] }; out[p] = t * scale }
        }
        return Variable(y, parents: [x]) { g in
            let dx = x.gradientPointer(), pg = g.readPointer
            for p in 0..<planes { let row = dx + p * s, v = pg[p] * scale; for k in 0..<s { row[k] += v } }
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
        // μ, rstd [C]
        var mean = Tensor(uninitialized: [c]), rstd = Tensor(uninitialized: [c])
        let pm = mean.writePointer(), pr = rstd.writePointer()
        if training {
            precondition(n > 1, "batchNorm2d in training needs more than one value per channel, got input \(x.shape)")
            var variance = Tensor(uninitialized: [c])
            let pv = variance.writePointer()
            ConvolutionKernels.channelMoments(x.value.readPointer, batch: b, channels: c, spatial: s, mean: pm, variance: pv)
            let rm = runningMean.writePointer(), rv = runningVariance.writePointer()
            let unbias = Float(n) / Float(n - 1)
            for ch in 0..<c {
                pr[ch] = 1 / (pv[ch] + epsilon).squareRoot()
                rm[ch] = (1 - momentum) * rm[ch] + momentum * pm[ch]
                rv[ch] = (1 - momentum) * rv[ch] + momentum * pv[ch] * unbias
            }
        } else {
            let rm = runningMean.readPointer, rv = runningVariance.readPointer
            for ch in 0..<c { pm[ch] = rm[ch]; pr[ch] = 1 / (rv[ch] + epsilon).squareRoot() }
        }
        // x̂ [B, C, S]
        let xhat = Tensor(shape: x.shape) { out in
            let px = x.value.readPointer
            for bi in 0..<b { for ch in 0..<c {
                let o = (bi * c + ch) * s, m = pm[ch], r = pr[ch]
                for k in 0..<s { out[o + k] = (px[o + k] - m) * r }
            } }
        }
        let y = Tensor(shape: x.shape) { out in
            let ph = xhat.readPointer, pw = weight?.value.readPointer, pb = bias?.value.readPointer
            for bi in 0..<b { for ch in 0..<c {
                let o = (bi * c + ch) * s, gamma = pw?[ch] ?? 1, beta = pb?[ch] ?? 0
                for k in 0..<s { out[o + k] = ph[o + k] * gamma + beta }
            } }
        }
        let parents = [x] + [weight, bias].compactMap { $0 }
        return Variable(y, parents: parents) { g in
            let pg = g.readPointer, ph = xhat.readPointer, pr = rstd.readPointer
            // Σ g and Σ g·x̂ per channel
            var sumG = [Float](repeating: 0, count: c), sumGH = [Float](repeating: 0, count: c)
            for bi in 0..<b { for ch in 0..<c {
                let o = (bi * c + ch) * s
                var t: Float = 0, u: Float = 0
                for k in 0..<s { t += pg[o + k]; u += pg[o + k] * ph[o + k] }
                sumG[ch] += t; sumGH[ch] += u
            } }
            if let weight, weight.requiresGrad { let d = weight.gradientPointer(); for ch in 0..<c { d[ch] += sumGH[ch] } }
            if let bias, bias.requiresGrad { let d = bias.gradientPointer(); for ch in 0..<c { d[ch] += sumG[ch] } }
            guard x.requiresGrad else { return }
            let dx = x.gradientPointer(), pw = weight?.value.readPointer
            for bi in 0..<b { for ch in 0..<c {
                let o = (bi * c + ch) * s, gamma = pw?[ch] ?? 1, r = pr[ch]
                if training {
                    // mean(dx̂) = γ·Σg/n, mean(dx̂·x̂) = γ·Σg·x̂/n
                    let a = gamma * r, m1 = sumG[ch] / Float(n), m2 = sumGH[ch] / Float(n)
                    for k in 0..<s { dx[o + k] += a * (pg[o + k] - m1 - ph[o + k] * m2) }
                } else {
                    let a = gamma * r
                    for k in 0..<s { dx[o + k] += a * pg[o + k] }
                }
            } }
        }
    }

    /// Multiplies by a fixed dropout mask (entries 0 or 1/(1 − p)): y = x ⊙ mask, dx += g ⊙ mask.
    public func masked(by mask: Tensor) -> Variable {
        precondition(mask.count == count, "mask of \(mask.shape) does not fit \(shape)")
        let x = self
        let y = Tensor(shape: shape) { out in
            let px = x.value.readPointer, pm = mask.readPointer
            for i in 0..<x.count { out[i] = px[i] * pm[i] }
        }
        return Variable(y, parents: [x]) { g in
            let dx = x.gradientPointer(), pg = g.readPointer, pm = mask.readPointer
            for i in 0..<x.count { dx[i] += pg[i] * pm[i] }
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
