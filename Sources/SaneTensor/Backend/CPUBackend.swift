import Foundation

// The default backend: host memory, the tuned kernels of Kernels/ (explicit SIMD, fastExp-based
// activations, BLAS through `sgemm`, `Parallel` over the cores). The loops that are short enough
// to live here (broadcasting, reductions, copies, softmax rows, batch-norm arithmetic) are the
// ones the ops ran before the seam existed, unchanged, so results are bit for bit those of
// earlier builds (SANE and optimizer goldens).

/// Runs every kernel pair on the host with the tuned CPU kernels.
public struct CPUBackend: Backend {
    public init() {}
    public var name: String { "cpu" }
    public var device: Device { .cpu }

    // MARK: Matrix products

    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
              a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    // MARK: Elementwise

    /// Elementwise functions run in ranges over the cores (`Parallel.forEachRange`); each element's
    /// arithmetic is the same in any split.
    public func pointwiseForward(_ f: PointwiseFunction, y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        Parallel.forEachRange(n, chunk: f == .gelu ? 4096 : Parallel.elementwiseChunk) { r in
            let (y, x, n) = (y + r.lowerBound, x + r.lowerBound, r.count)
            switch f {
            case .exp: for i in 0..<n { y[i] = expf(x[i]) }
            case .log: for i in 0..<n { y[i] = logf(x[i]) }
            case .sqrt: for i in 0..<n { y[i] = x[i].squareRoot() }
            case .square: for i in 0..<n { y[i] = x[i] * x[i] }
            case .tanh: ActivationKernels.tanhForward(y, x, n)
            case .sigmoid: ActivationKernels.sigmoidForward(y, x, n)
            case .relu: ActivationKernels.reluForward(y, x, n)
            case .leakyRelu(let slope): ActivationKernels.leakyReluForward(y, x, n, slope: slope)
            case .silu: ActivationKernels.siluForward(y, x, n)
            case .gelu: geluForward(y, x, n)
            }
        }
    }

    public func pointwiseBackward(_ f: PointwiseFunction, dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                  x: UnsafePointer<Float>, y: UnsafePointer<Float>, count n: Int) {
        Parallel.forEachRange(n, chunk: f == .gelu ? 4096 : Parallel.elementwiseChunk) { r in
            let (dx, dy, x, y, n) = (dx + r.lowerBound, dy + r.lowerBound, x + r.lowerBound, y + r.lowerBound, r.count)
            switch f {
            case .exp: for i in 0..<n { dx[i] += dy[i] * y[i] }
            case .log: for i in 0..<n { dx[i] += dy[i] * (1 / x[i]) }
            case .sqrt: for i in 0..<n { dx[i] += dy[i] * (0.5 / y[i]) }
            case .square: for i in 0..<n { dx[i] += dy[i] * (2 * x[i]) }
            case .tanh: ActivationKernels.tanhBackward(dx, dy, y, n)
            case .sigmoid: ActivationKernels.sigmoidBackward(dx, dy, y, n)
            case .relu: ActivationKernels.reluBackward(dx, dy, x, n)
            case .leakyRelu(let slope): ActivationKernels.leakyReluBackward(dx, dy, x, n, slope: slope)
            case .silu: ActivationKernels.siluBackward(dx, dy, x, n)
            case .gelu: geluBackward(dx, dy, x, n)
            }
        }
    }

    public func scaleShift(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int, scale: Float, shift: Float) {
        Parallel.forEachRange(n, chunk: Parallel.elementwiseChunk) { r in for i in r { y[i] = scale * x[i] + shift } }
    }

    public func accumulate(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int, scale: Float) {
        Parallel.forEachRange(n, chunk: Parallel.elementwiseChunk) { r in
            if scale == 1 { for i in r { y[i] += x[i] } } else { for i in r { y[i] += scale * x[i] } }
        }
    }

    public func accumulateProduct(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) {
        Parallel.forEachRange(n, chunk: Parallel.elementwiseChunk) { r in for i in r { y[i] += a[i] * b[i] } }
    }

    public func broadcastBinary(_ op: BinaryOperation, out: UnsafeMutablePointer<Float>,
                                a: UnsafePointer<Float>, b: UnsafePointer<Float>, plan: BroadcastPlan) {
        switch op {
        case .add: binary(out, a, b, plan, +)
        case .subtract: binary(out, a, b, plan, -)
        case .multiply: binary(out, a, b, plan, *)
        case .divide: binary(out, a, b, plan, /)
        case .negatedDivide: binary(out, a, b, plan) { -$0 / $1 }
        }
    }

    /// out = f(a, b) over the plan; a plain loop when no axis is broadcast.
    @inline(__always)
    private func binary(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                        _ plan: BroadcastPlan, _ f: (Float, Float) -> Float) {
        if plan.isElementwise {
            Parallel.forEachRange(plan.count, chunk: Parallel.elementwiseChunk) { r in for i in r { out[i] = f(a[i], b[i]) } }
            return
        }
        plan.forEachRow { o, ao, bo, n, sa, sb in
            for i in 0..<n { out[o + i] = f(a[ao + i * sa], b[bo + i * sb]) }
        }
    }

    public func sumToShape(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, plan: BroadcastPlan) {
        plan.forEachRow { o, _, d, n, _, ds in
            if ds == 0 { var s: Float = 0; for i in 0..<n { s += x[o + i] }; out[d] += s }
            else { for i in 0..<n { out[d + i * ds] += x[o + i] } }
        }
    }

    // MARK: Reductions

    public func sumAxis(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, outer: Int, n: Int, inner: Int) {
        y.update(repeating: 0, count: outer * inner)
        for o in 0..<outer { for j in 0..<n { let row = x + (o * n + j) * inner; let dst = y + o * inner
            for i in 0..<inner { dst[i] += row[i] } } }
    }

    public func sumAxisBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, outer: Int, n: Int, inner: Int) {
        for o in 0..<outer { for j in 0..<n { let row = dx + (o * n + j) * inner; let src = dy + o * inner
            for i in 0..<inner { row[i] += src[i] } } }
    }

    public func sumAll(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        y[0] = Float(UnsafeBufferPointer(start: x, count: n).reduce(Double(0)) { $0 + Double($1) })
    }

    public func sumAllBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, count n: Int) {
        let gv = dy[0]
        for i in 0..<n { dx[i] += gv }
    }

    public func maxAxis(y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, x: UnsafePointer<Float>, outer: Int, n: Int, inner: Int) {
        for o in 0..<outer { for i in 0..<inner {
            var best = x[o * n * inner + i], bi = 0
            for j in 1..<n { let v = x[(o * n + j) * inner + i]; if v > best { best = v; bi = j } }
            y[o * inner + i] = best; argmax[o * inner + i] = Int32(bi)
        } }
    }

    public func maxAxisBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, outer: Int, n: Int, inner: Int) {
        for o in 0..<outer { for i in 0..<inner {
            dx[(o * n + Int(argmax[o * inner + i])) * inner + i] += dy[o * inner + i]
        } }
    }

    // MARK: Data movement

    public func copyBlocks(dst: UnsafeMutablePointer<Float>, dstStride: Int, src: UnsafePointer<Float>, srcStride: Int,
                           blocks: Int, length: Int, accumulate: Bool) {
        for o in 0..<blocks {
            let d = dst + o * dstStride, s = src + o * srcStride
            if accumulate { for i in 0..<length { d[i] += s[i] } } else { d.update(from: s, count: length) }
        }
    }

    public func permute(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, shape: [Int], axes: [Int]) {
        let outShape = axes.map { shape[$0] }
        let inStrides = Tensor.strides(shape)
        let strides = axes.map { inStrides[$0] }   // input stride of each output axis
        let r = outShape.count, n = outShape[r - 1], s = strides[r - 1]
        let rows = Tensor.elementCount(outShape) / Swift.max(n, 1)
        if n == 0 { return }
        var index = [Int](repeating: 0, count: r)
        var off = 0
        for row in 0..<rows {
            let dst = y + row * n
            for i in 0..<n { dst[i] = x[off + i * s] }
            var axis = r - 2
            while axis >= 0 {
                index[axis] += 1; off += strides[axis]
                if index[axis] < outShape[axis] { break }
                off -= strides[axis] * index[axis]; index[axis] = 0; axis -= 1
            }
        }
    }

    public func gatherRows(y: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>, rows: UnsafePointer<Int32>, count: Int, width c: Int) {
        for i in 0..<count { (y + i * c).update(from: table + Int(rows[i]) * c, count: c) }
    }

    public func gatherRowsBackward(dtable: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, rows: UnsafePointer<Int32>, count: Int, width c: Int) {
        for i in 0..<count { let dst = dtable + Int(rows[i]) * c, src = dy + i * c; for j in 0..<c { dst[j] += src[j] } }
    }

    // MARK: Softmax and losses

    public func softmaxForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows { softmaxRow(x + r * n, y + r * n, n) }
    }

    public func softmaxBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows { softmaxRowBackward(y + r * n, dy + r * n, dx + r * n, n) }
    }

    public func logSoftmaxForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            let row = x + r * n, o = y + r * n
            var m = -Float.infinity
            for j in 0..<n { m = Swift.max(m, row[j]) }
            var s: Double = 0
            for j in 0..<n { s += Double(expf(row[j] - m)) }
            let lse = m + Float(Foundation.log(s))
            for j in 0..<n { o[j] = row[j] - lse }
        }
    }

    public func logSoftmaxBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            let yr = y + r * n, gr = dy + r * n, d = dx + r * n
            var s: Float = 0
            for j in 0..<n { s += gr[j] }
            for j in 0..<n { d[j] += gr[j] - expf(yr[j]) * s }
        }
    }

    public func crossEntropyForward(loss: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, logits px: UnsafePointer<Float>,
                                    labels: UnsafePointer<Int32>, rows n: Int, classes k: Int) {
        var total: Double = 0
        for r in 0..<n {
            softmaxRow(px + r * k, probs + r * k, k)
            var m = -Float.infinity
            for j in 0..<k { m = Swift.max(m, px[r * k + j]) }
            var s: Double = 0
            for j in 0..<k { s += Double(expf(px[r * k + j] - m)) }
            total += Double(m) + Foundation.log(s) - Double(px[r * k + Int(labels[r])])
        }
        loss[0] = Float(total / Double(n))
    }

    public func crossEntropyBackward(dlogits d: UnsafeMutablePointer<Float>, dloss: UnsafePointer<Float>, probs p: UnsafePointer<Float>,
                                     labels: UnsafePointer<Int32>, rows n: Int, classes k: Int) {
        let scale = dloss[0] / Float(n)
        for r in 0..<n {
            for j in 0..<k { d[r * k + j] += scale * p[r * k + j] }
            d[r * k + Int(labels[r])] -= scale
        }
    }

    public func maskedMSEForward(loss: UnsafeMutablePointer<Float>, denominator: UnsafeMutablePointer<Float>,
                                 prediction py: UnsafePointer<Float>, target pt: UnsafePointer<Float>, mask pm: UnsafePointer<Float>, count n: Int) {
        var sum: Double = 0, msum: Double = 0
        for i in 0..<n { let e = Double(py[i] - pt[i]); sum += Double(pm[i]) * e * e; msum += Double(pm[i]) }
        let denom = Swift.max(msum, 1)
        loss[0] = Float(sum / denom)
        denominator[0] = Float(denom)
    }

    public func maskedMSEBackward(dprediction d: UnsafeMutablePointer<Float>, dloss: UnsafePointer<Float>, denominator: UnsafePointer<Float>,
                                  prediction py: UnsafePointer<Float>, target pt: UnsafePointer<Float>, mask pm: UnsafePointer<Float>, count n: Int) {
        let s = 2 * dloss[0] / denominator[0]
        for i in 0..<n { d[i] += s * pm[i] * (py[i] - pt[i]) }
    }

    // MARK: Transformer kernels

    public func layerNormForward(y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                                 x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                 rows n: Int, width c: Int, epsilon: Float) {
        SaneTensor.layerNormForward(y, mean, rstd, x, weight, bias, n, c, epsilon)
    }

    public func layerNormBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                                  dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                  mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows n: Int, width c: Int) {
        SaneTensor.layerNormBackward(dx, dweight, dbias, dy, x, weight, mean, rstd, n, c)
    }

    public func attentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                                 keyMask: UnsafePointer<Float>?, batch b: Int, tokens t: Int, width c: Int, heads: Int) {
        SaneTensor.attentionForward(out, probs, qkv, keyMask, b, t, c, heads)
    }

    public func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                                  probs: UnsafePointer<Float>, batch b: Int, tokens t: Int, width c: Int, heads: Int) {
        SaneTensor.attentionBackward(dqkv, dout, qkv, probs, b, t, c, heads)
    }

    // MARK: Convolution family

    /// The algorithm per shape is `ConvolutionKernels.algorithm(for:)`: the direct kernels
    /// (`rows`: ConvolutionKernels+Direct.swift, `flat`: ConvolutionKernels+Flat.swift) need no
    /// workspace; `lanes` (ConvolutionKernels+Lanes.swift) keeps x re-laid on the SIMD lanes
    /// [⌈B/8⌉, Ci, H + 2p, W + 2p, 8] for the backward pass. Otherwise batched im2col (layout in ConvolutionKernels.swift): cols [K, B·P];
    /// y' = W·cols [Co, B·P] (one GEMM); y = swap(y') + bias; cols is the workspace.
    public func conv2dForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, geometry geo: ConvolutionGeometry, outChannels co: Int) -> Tensor? {
        switch ConvolutionKernels.algorithm(for: geo) {
        case .rows: ConvolutionKernels.directConvolution(x, weight, bias, y, geo, outChannels: co); return nil
        case .flat where geo.padding > 0: ConvolutionKernels.paddedFlatConvolution(x, weight, bias, y, geo, outChannels: co); return nil
        case .flat: ConvolutionKernels.flatConvolution(x, weight, bias, y, geo, outChannels: co); return nil
        case .strided: ConvolutionKernels.stridedConvolution(x, weight, bias, y, geo, outChannels: co); return nil
        case .lanes:
            var lanes = Tensor(uninitialized: ConvolutionKernels.lanesWorkspaceShape(geo))
            ConvolutionKernels.lanesConvolution(x, weight, bias, y, geo, outChannels: co, lanes: lanes.writePointer())
            return lanes
        case .winograd:
            return ConvolutionKernels.winogradConvolution(x, weight, bias, y, batch: geo.batch, inChannels: geo.channels, outChannels: co,
                                                          height: geo.height, width: geo.width)
        case .im2col: break
        }
        let (b, k, p) = (geo.batch, geo.patchLength, geo.outputPixels)
        let n = b * p
        // cols [K, B·P]
        let cols = Tensor(shape: [k, n]) { ConvolutionKernels.im2col(x, $0, geo, items: 0..<b) }
        // y' [Co, B·P] = W [Co, K] · cols [K, B·P]
        var yt = Tensor(uninitialized: [co, n])
        sgemm(transposeA: false, transposeB: false, m: co, n: n, k: k,
              a: weight, lda: k, b: cols.readPointer, ldb: n, c: yt.writePointer(), ldc: n)
        if let bias {
            let py = yt.writePointer()
            for o in 0..<co { let row = py + o * n, v = bias[o]; for i in 0..<n { row[i] += v } }
        }
        // y [B, Co, OH, OW]
        ConvolutionKernels.swapOuterAxes(yt.readPointer, y, outer: co, middle: b, inner: p)
        return cols
    }

    /// Lanes: ConvolutionKernels+Lanes.swift (workspace: x on the lanes). Winograd:
    /// ConvolutionKernels+Winograd.swift (workspace V). Direct: dW, db, dx by the direct kernels. im2col: g' = swap(g) [Co, B·P]; dW += g'·colsᵀ;
    /// db += Σ g'; dcols = Wᵀ·g'; dx += col2im(dcols).
    public func conv2dBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                               dy g: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, workspace: Tensor?,
                               geometry geo: ConvolutionGeometry, outChannels co: Int) {
        let (b, k, p) = (geo.batch, geo.patchLength, geo.outputPixels)
        let n = b * p
        if let v = workspace, v.shape.count == 5 {
            // lanes: the forward pass's x on the lanes [⌈B/8⌉, Ci, H + 2p, W + 2p, 8]
            ConvolutionKernels.lanesConvolutionBackward(dy: g, x: x, lanes: v.readPointer, w: weight, dx: dx, dw: dweight, geo, outChannels: co)
            if let dbias { ConvolutionKernels.channelSums(g, dbias, batch: b, channels: co, spatial: p) }
            return
        }
        if let v = workspace, v.shape.count == 3 {
            // Winograd: the forward pass's input transform V [16, Ci, T] (im2col's cols are [K, B·P])
            if let dweight {
                ConvolutionKernels.winogradWeightGradient(g, v.readPointer, dweight, batch: b, inChannels: geo.channels, outChannels: co,
                                                          height: geo.height, width: geo.width)
            }
            if let dbias { ConvolutionKernels.channelSums(g, dbias, batch: b, channels: co, spatial: p) }
            if let dx {
                ConvolutionKernels.winogradConvolution(g, weight, nil, dx, batch: b, inChannels: co, outChannels: geo.channels,
                                                       height: geo.height, width: geo.width, transposed: true, accumulate: true)
            }
            return
        }
        guard let cols = workspace else {
            // direct: the same algorithm as the forward pass chose (no workspace)
            let algorithm = ConvolutionKernels.algorithm(for: geo)
            let flat = algorithm == .flat, padded = geo.padding > 0, strided = algorithm == .strided
            if let dweight {
                if strided { ConvolutionKernels.stridedConvolutionWeightGradient(x, g, dweight, geo, outChannels: co) }
                else if flat && padded { ConvolutionKernels.paddedFlatConvolutionWeightGradient(x, g, dweight, geo, outChannels: co) }
                else if flat { ConvolutionKernels.flatConvolutionWeightGradient(x, g, dweight, geo, outChannels: co) }
                else { ConvolutionKernels.directConvolutionWeightGradient(x, g, dweight, geo, outChannels: co) }
            }
            if let dbias { ConvolutionKernels.channelSums(g, dbias, batch: b, channels: co, spatial: p) }
            if let dx {
                if strided { ConvolutionKernels.stridedConvolutionInputGradient(g, weight, dx, geo, outChannels: co) }
                else if flat && padded { ConvolutionKernels.paddedFlatConvolutionInputGradient(g, weight, dx, geo, outChannels: co) }
                else if flat { ConvolutionKernels.flatConvolutionInputGradient(g, weight, dx, geo, outChannels: co) }
                else { ConvolutionKernels.directConvolutionInputGradient(g, weight, dx, geo, outChannels: co) }
            }
            return
        }
        // g' [Co, B·P]
        let gt = Tensor(shape: [co, n]) { ConvolutionKernels.swapOuterAxes(g, $0, outer: b, middle: co, inner: p) }
        if let dweight {
            // dW [Co, K] += g' [Co, B·P] · colsᵀ [B·P, K]
            sgemm(transposeA: false, transposeB: true, m: co, n: k, k: n,
                  a: gt.readPointer, lda: n, b: cols.readPointer, ldb: n, beta: 1, c: dweight, ldc: k)
        }
        if let dbias {
            let pg = gt.readPointer
            for o in 0..<co { let row = pg + o * n; var s: Float = 0; for i in 0..<n { s += row[i] }; dbias[o] += s }
        }
        if let dx {
            // dcols [K, B·P] = Wᵀ [K, Co] · g' [Co, B·P]
            let dcols = Tensor(shape: [k, n]) {
                sgemm(transposeA: true, transposeB: false, m: k, n: n, k: co,
                      a: weight, lda: k, b: gt.readPointer, ldb: n, c: $0, ldc: n)
            }
            ConvolutionKernels.col2imAccumulate(dcols.readPointer, dx, geo, items: 0..<b)
        }
    }

    public func maxPoolForward(y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, x: UnsafePointer<Float>,
                               planes: Int, geometry: ConvolutionGeometry) {
        ConvolutionKernels.maxPool(x, y, argmax, planes: planes, geometry)
    }

    public func maxPoolBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
                                planes: Int, geometry: ConvolutionGeometry) {
        ConvolutionKernels.maxPoolBackward(dy, argmax, dx, planes: planes, geometry)
    }

    public func avgPoolForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, planes: Int, geometry: ConvolutionGeometry) {
        ConvolutionKernels.avgPool(x, y, planes: planes, geometry)
    }

    public func avgPoolBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, planes: Int, geometry: ConvolutionGeometry) {
        ConvolutionKernels.avgPoolBackward(dy, dx, planes: planes, geometry)
    }

    public func globalAveragePoolForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, planes: Int, planeSize s: Int) {
        let scale = 1 / Float(Swift.max(s, 1))
        for p in 0..<planes { let row = x + p * s; var t: Float = 0; for k in 0..<s { t += row[k] }; y[p] = t * scale }
    }

    public func globalAveragePoolBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, planes: Int, planeSize s: Int) {
        let scale = 1 / Float(Swift.max(s, 1))
        for p in 0..<planes { let row = dx + p * s, v = dy[p] * scale; for k in 0..<s { row[k] += v } }
    }

    public func batchNormStatistics(mean pm: UnsafeMutablePointer<Float>, rstd pr: UnsafeMutablePointer<Float>,
                                    runningMean rm: UnsafeMutablePointer<Float>, runningVariance rv: UnsafeMutablePointer<Float>,
                                    x: UnsafePointer<Float>, batch b: Int, channels c: Int, spatial s: Int,
                                    training: Bool, momentum: Float, epsilon: Float) {
        if training {
            let n = b * s
            let pv = UnsafeMutablePointer<Float>.allocate(capacity: c)
            defer { pv.deallocate() }
            ConvolutionKernels.channelMoments(x, batch: b, channels: c, spatial: s, mean: pm, variance: pv)
            let unbias = Float(n) / Float(n - 1)
            for ch in 0..<c {
                pr[ch] = 1 / (pv[ch] + epsilon).squareRoot()
                rm[ch] = (1 - momentum) * rm[ch] + momentum * pm[ch]
                rv[ch] = (1 - momentum) * rv[ch] + momentum * pv[ch] * unbias
            }
        } else {
            for ch in 0..<c { pm[ch] = rm[ch]; pr[ch] = 1 / (rv[ch] + epsilon).squareRoot() }
        }
    }

    public func batchNormForward(y: UnsafeMutablePointer<Float>, xhat: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                 mean pm: UnsafePointer<Float>, rstd pr: UnsafePointer<Float>, weight pw: UnsafePointer<Float>?,
                                 bias pb: UnsafePointer<Float>?, batch b: Int, channels c: Int, spatial s: Int) {
        ConvolutionKernels.batchNormForward(x, xhat, y, mean: pm, rstd: pr, weight: pw, bias: pb, batch: b, channels: c, spatial: s)
    }

    public func batchNormBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                                  dy pg: UnsafePointer<Float>, xhat ph: UnsafePointer<Float>, rstd pr: UnsafePointer<Float>,
                                  weight pw: UnsafePointer<Float>?, batch b: Int, channels c: Int, spatial s: Int, training: Bool) {
        ConvolutionKernels.batchNormBackward(pg, ph, dx, dweight: dweight, dbias: dbias, rstd: pr, weight: pw,
                                             batch: b, channels: c, spatial: s, training: training)
    }

    // MARK: Optimizer

    /// Chunks of 64 Ki elements over the cores (memory-bound: a d-1024 SANE has 202M parameters);
    /// every element's arithmetic is the same in any split, so results do not depend on the core count.
    public func adamUpdate(parameters p: UnsafeMutablePointer<Float>, firstMoment m: UnsafeMutablePointer<Float>,
                           secondMoment v: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count n: Int,
                           coefficients c: AdamCoefficients) {
        let chunk = 1 << 16
        Parallel.forEach((n + chunk - 1) / chunk) { k in
            let lo = k * chunk
            SaneTensor.adamUpdate(p + lo, m + lo, v + lo, g + lo, Swift.min(chunk, n - lo), c)
        }
    }

    /// Chunks of 64 Ki elements over the cores, as `adamUpdate`.
    public func sgdUpdate(parameters p: UnsafeMutablePointer<Float>, momentumBuffer b: UnsafeMutablePointer<Float>,
                          gradient g: UnsafePointer<Float>, count n: Int, coefficients c: SGDCoefficients) {
        let chunk = 1 << 16
        Parallel.forEach((n + chunk - 1) / chunk) { k in
            let lo = k * chunk
            SaneTensor.sgdUpdate(p + lo, b + lo, g + lo, Swift.min(chunk, n - lo), c)
        }
    }
}
