import Foundation

// A second backend that proves the seam: every kernel pair written as the plain textbook loop
// of its formula, one output element at a time, sums in Float64, libm's Float64 functions, no
// SIMD, no BLAS, no threads, no workspaces. Slow on purpose; its job is to be obviously correct,
// so BackendParityTests can hold `CPUBackend` (and any future backend) against it.

/// Runs every kernel pair as plain scalar Float64 loops on the host.
public struct ReferenceBackend: Backend {
    public init() {}
    public var name: String { "reference" }
    public var device: Device { .cpu }

    // MARK: Matrix products

    public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                     beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        for i in 0..<m { for j in 0..<n {
            var s: Double = 0
            for q in 0..<k {
                let av = transposeA ? a[q * lda + i] : a[i * lda + q]
                let bv = transposeB ? b[j * ldb + q] : b[q * ldb + j]
                s += Double(av) * Double(bv)
            }
            // β = 0 overwrites (C may hold garbage, as BLAS allows)
            let old = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * s + old)
        } }
    }

    // MARK: Elementwise

    /// f(x) and f'(x) in Float64.
    private func evaluate(_ f: PointwiseFunction, _ x: Double) -> (value: Double, derivative: Double) {
        switch f {
        case .exp: return (Foundation.exp(x), Foundation.exp(x))
        case .log: return (Foundation.log(x), 1 / x)
        case .sqrt: return (x.squareRoot(), 0.5 / x.squareRoot())
        case .square: return (x * x, 2 * x)
        case .tanh: let t = Foundation.tanh(x); return (t, 1 - t * t)
        case .sigmoid: let s = 1 / (1 + Foundation.exp(-x)); return (s, s * (1 - s))
        case .relu: return (x < 0 ? 0 : x, x > 0 ? 1 : 0)
        case .leakyRelu(let slope): return (x > 0 ? x : Double(slope) * x, x > 0 ? 1 : Double(slope))
        case .silu: let s = 1 / (1 + Foundation.exp(-x)); return (x * s, s * (1 + x * (1 - s)))
        case .gelu:
            let cdf = 0.5 * (1 + Foundation.erf(x / 2.0.squareRoot()))
            let pdf = Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot()
            return (x * cdf, cdf + x * pdf)
        }
    }

    public func pointwiseForward(_ f: PointwiseFunction, y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] = Float(evaluate(f, Double(x[i])).value) }
    }

    public func pointwiseBackward(_ f: PointwiseFunction, dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                  x: UnsafePointer<Float>, y: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n { dx[i] = Float(Double(dx[i]) + Double(dy[i]) * evaluate(f, Double(x[i])).derivative) }
    }

    public func scaleShift(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int, scale: Float, shift: Float) {
        for i in 0..<n { y[i] = Float(Double(scale) * Double(x[i]) + Double(shift)) }
    }

    public func accumulate(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count n: Int, scale: Float) {
        for i in 0..<n { y[i] = Float(Double(y[i]) + Double(scale) * Double(x[i])) }
    }

    public func accumulateProduct(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] = Float(Double(y[i]) + Double(a[i]) * Double(b[i])) }
    }

    /// The multi-index of flat output element `flat` in `shape`, row-major.
    private func multiIndex(_ flat: Int, _ shape: [Int]) -> [Int] {
        var index = [Int](repeating: 0, count: shape.count), rest = flat
        for axis in stride(from: shape.count - 1, through: 0, by: -1) { index[axis] = rest % shape[axis]; rest /= shape[axis] }
        return index
    }

    private func offset(_ index: [Int], _ strides: [Int]) -> Int { zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 } }

    public func broadcastBinary(_ op: BinaryOperation, out: UnsafeMutablePointer<Float>,
                                a: UnsafePointer<Float>, b: UnsafePointer<Float>, plan: BroadcastPlan) {
        for i in 0..<plan.count {
            let index = multiIndex(i, plan.outShape)
            let u = Double(a[offset(index, plan.aStrides)]), v = Double(b[offset(index, plan.bStrides)])
            let r: Double
            switch op {
            case .add: r = u + v
            case .subtract: r = u - v
            case .multiply: r = u * v
            case .divide: r = u / v
            case .negatedDivide: r = -u / v
            }
            out[i] = Float(r)
        }
    }

    public func sumToShape(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, plan: BroadcastPlan) {
        // out element e collects every x element whose index maps to e through the b strides
        var sums: [Int: Double] = [:]
        for i in 0..<plan.count { sums[offset(multiIndex(i, plan.outShape), plan.bStrides), default: 0] += Double(x[i]) }
        for (e, s) in sums { out[e] = Float(Double(out[e]) + s) }
    }

    // MARK: Reductions

    public func sumAxis(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, outer: Int, n: Int, inner: Int) {
        for o in 0..<outer { for i in 0..<inner {
            var s: Double = 0
            for j in 0..<n { s += Double(x[(o * n + j) * inner + i]) }
            y[o * inner + i] = Float(s)
        } }
    }

    public func sumAxisBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, outer: Int, n: Int, inner: Int) {
        for o in 0..<outer { for j in 0..<n { for i in 0..<inner { dx[(o * n + j) * inner + i] += dy[o * inner + i] } } }
    }

    public func sumAll(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        var s: Double = 0
        for i in 0..<n { s += Double(x[i]) }
        y[0] = Float(s)
    }

    public func sumAllBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n { dx[i] += dy[0] }
    }

    public func maxAxis(y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, x: UnsafePointer<Float>, outer: Int, n: Int, inner: Int) {
        for o in 0..<outer { for i in 0..<inner {
            var best = 0
            for j in 0..<n where x[(o * n + j) * inner + i] > x[(o * n + best) * inner + i] { best = j }
            y[o * inner + i] = x[(o * n + best) * inner + i]
            argmax[o * inner + i] = Int32(best)
        } }
    }

    public func maxAxisBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, outer: Int, n: Int, inner: Int) {
        for o in 0..<outer { for i in 0..<inner { dx[(o * n + Int(argmax[o * inner + i])) * inner + i] += dy[o * inner + i] } }
    }

    // MARK: Data movement

    public func copyBlocks(dst: UnsafeMutablePointer<Float>, dstStride: Int, src: UnsafePointer<Float>, srcStride: Int,
                           blocks: Int, length: Int, accumulate: Bool) {
        for o in 0..<blocks { for i in 0..<length {
            let v = src[o * srcStride + i]
            dst[o * dstStride + i] = accumulate ? dst[o * dstStride + i] + v : v
        } }
    }

    public func permute(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, shape: [Int], axes: [Int]) {
        let outShape = axes.map { shape[$0] }, inStrides = Tensor.strides(shape)
        for i in 0..<Tensor.elementCount(outShape) {
            let index = multiIndex(i, outShape)
            var src = 0
            for (axis, a) in axes.enumerated() { src += index[axis] * inStrides[a] }
            y[i] = x[src]
        }
    }

    public func gatherRows(y: UnsafeMutablePointer<Float>, table: UnsafePointer<Float>, rows: UnsafePointer<Int32>, count: Int, width c: Int) {
        for i in 0..<count { for j in 0..<c { y[i * c + j] = table[Int(rows[i]) * c + j] } }
    }

    public func gatherRowsBackward(dtable: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, rows: UnsafePointer<Int32>, count: Int, width c: Int) {
        for i in 0..<count { for j in 0..<c { dtable[Int(rows[i]) * c + j] += dy[i * c + j] } }
    }

    // MARK: Softmax and losses

    /// Softmax of one row in Float64 (all −∞ → zeros).
    private func softmax(_ x: UnsafePointer<Float>, _ n: Int) -> [Double] {
        let m = (0..<n).reduce(-Double.infinity) { Swift.max($0, Double(x[$1])) }
        if m == -.infinity { return [Double](repeating: 0, count: n) }
        let e = (0..<n).map { Foundation.exp(Double(x[$0]) - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    public func softmaxForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows { for (j, p) in softmax(x + r * n, n).enumerated() { y[r * n + j] = Float(p) } }
    }

    public func softmaxBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            var dot: Double = 0
            for j in 0..<n { dot += Double(dy[r * n + j]) * Double(y[r * n + j]) }
            for j in 0..<n { dx[r * n + j] = Float(Double(dx[r * n + j]) + Double(y[r * n + j]) * (Double(dy[r * n + j]) - dot)) }
        }
    }

    public func logSoftmaxForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            let row = x + r * n
            let m = (0..<n).reduce(-Double.infinity) { Swift.max($0, Double(row[$1])) }
            var s: Double = 0
            for j in 0..<n { s += Foundation.exp(Double(row[j]) - m) }
            for j in 0..<n { y[r * n + j] = Float(Double(row[j]) - m - Foundation.log(s)) }
        }
    }

    public func logSoftmaxBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, rows: Int, n: Int) {
        for r in 0..<rows {
            var s: Double = 0
            for j in 0..<n { s += Double(dy[r * n + j]) }
            for j in 0..<n {
                dx[r * n + j] = Float(Double(dx[r * n + j]) + Double(dy[r * n + j]) - Foundation.exp(Double(y[r * n + j])) * s)
            }
        }
    }

    public func crossEntropyForward(loss: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                                    labels: UnsafePointer<Int32>, rows n: Int, classes k: Int) {
        var total: Double = 0
        for r in 0..<n {
            let p = softmax(logits + r * k, k)
            for j in 0..<k { probs[r * k + j] = Float(p[j]) }
            total -= Foundation.log(p[Int(labels[r])])
        }
        loss[0] = Float(total / Double(n))
    }

    public func crossEntropyBackward(dlogits: UnsafeMutablePointer<Float>, dloss: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                     labels: UnsafePointer<Int32>, rows n: Int, classes k: Int) {
        let scale = Double(dloss[0]) / Double(n)
        for r in 0..<n { for j in 0..<k {
            let target: Double = j == Int(labels[r]) ? 1 : 0
            dlogits[r * k + j] = Float(Double(dlogits[r * k + j]) + scale * (Double(probs[r * k + j]) - target))
        } }
    }

    public func maskedMSEForward(loss: UnsafeMutablePointer<Float>, denominator: UnsafeMutablePointer<Float>,
                                 prediction: UnsafePointer<Float>, target: UnsafePointer<Float>, mask: UnsafePointer<Float>, count n: Int) {
        var sum: Double = 0, maskSum: Double = 0
        for i in 0..<n {
            let e = Double(prediction[i]) - Double(target[i])
            sum += Double(mask[i]) * e * e
            maskSum += Double(mask[i])
        }
        loss[0] = Float(sum / Swift.max(maskSum, 1))
        denominator[0] = Float(Swift.max(maskSum, 1))
    }

    public func maskedMSEBackward(dprediction: UnsafeMutablePointer<Float>, dloss: UnsafePointer<Float>, denominator: UnsafePointer<Float>,
                                  prediction: UnsafePointer<Float>, target: UnsafePointer<Float>, mask: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n {
            let d = 2 * Double(dloss[0]) * Double(mask[i]) * (Double(prediction[i]) - Double(target[i])) / Double(denominator[0])
            dprediction[i] = Float(Double(dprediction[i]) + d)
        }
    }

    // MARK: Transformer kernels

    public func layerNormForward(y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                                 x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                 rows n: Int, width c: Int, epsilon: Float) {
        for r in 0..<n {
            var m: Double = 0
            for j in 0..<c { m += Double(x[r * c + j]) }
            m /= Double(c)
            var v: Double = 0
            for j in 0..<c { let d = Double(x[r * c + j]) - m; v += d * d }
            v /= Double(c)
            let s = 1 / (v + Double(epsilon)).squareRoot()
            for j in 0..<c { y[r * c + j] = Float((Double(x[r * c + j]) - m) * s * Double(weight[j]) + Double(bias?[j] ?? 0)) }
            mean[r] = Float(m); rstd[r] = Float(s)
        }
    }

    public func layerNormBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                                  dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                  mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows n: Int, width c: Int) {
        for r in 0..<n {
            let m = Double(mean[r]), s = Double(rstd[r])
            let xhat = (0..<c).map { (Double(x[r * c + $0]) - m) * s }
            let dxhat = (0..<c).map { Double(dy[r * c + $0]) * Double(weight[$0]) }
            let meanD = dxhat.reduce(0, +) / Double(c)
            let meanDX = zip(dxhat, xhat).reduce(0) { $0 + $1.0 * $1.1 } / Double(c)
            for j in 0..<c {
                if let dx { dx[r * c + j] = Float(Double(dx[r * c + j]) + s * (dxhat[j] - meanD - xhat[j] * meanDX)) }
                if let dweight { dweight[j] = Float(Double(dweight[j]) + Double(dy[r * c + j]) * xhat[j]) }
                if let dbias { dbias[j] += dy[r * c + j] }
            }
        }
    }

    /// Element (b, t, part, h, e) of qkv (B, T, 3C): part 0 = q, 1 = k, 2 = v; e < D.
    @inline(__always) private func qkvIndex(_ bi: Int, _ ti: Int, _ part: Int, _ h: Int, _ e: Int, _ t: Int, _ c: Int, _ d: Int) -> Int {
        (bi * t + ti) * 3 * c + part * c + h * d + e
    }

    public func attentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
                                 keyMask: UnsafePointer<Float>?, batch b: Int, tokens t: Int, width c: Int, heads: Int) {
        let d = c / heads, scale = 1 / Double(d).squareRoot()
        for bi in 0..<b { for h in 0..<heads {
            for i in 0..<t {
                var scores = [Double](repeating: -.infinity, count: t)
                for j in 0..<t where keyMask.map({ $0[bi * t + j] != 0 }) ?? true {
                    var s: Double = 0
                    for e in 0..<d { s += Double(qkv[qkvIndex(bi, i, 0, h, e, t, c, d)]) * Double(qkv[qkvIndex(bi, j, 1, h, e, t, c, d)]) }
                    scores[j] = s * scale
                }
                let m = scores.max()!
                let e = scores.map { m == -.infinity ? 0 : Foundation.exp($0 - m) }
                let total = e.reduce(0, +)
                let p = e.map { total == 0 ? 0 : $0 / total }
                for j in 0..<t { probs[((bi * heads + h) * t + i) * t + j] = Float(p[j]) }
                for e in 0..<d {
                    var o: Double = 0
                    for j in 0..<t { o += p[j] * Double(qkv[qkvIndex(bi, j, 2, h, e, t, c, d)]) }
                    out[(bi * t + i) * c + h * d + e] = Float(o)
                }
            }
        } }
    }

    public func attentionBackward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                                  probs: UnsafePointer<Float>, batch b: Int, tokens t: Int, width c: Int, heads: Int) {
        let d = c / heads, scale = 1 / Double(d).squareRoot()
        func add(_ index: Int, _ v: Double) { dqkv[index] = Float(Double(dqkv[index]) + v) }
        for bi in 0..<b { for h in 0..<heads {
            let p = { (i: Int, j: Int) in Double(probs[((bi * heads + h) * t + i) * t + j]) }
            let dO = { (i: Int, e: Int) in Double(dout[(bi * t + i) * c + h * d + e]) }
            let q = { (part: Int, i: Int, e: Int) in Double(qkv[self.qkvIndex(bi, i, part, h, e, t, c, d)]) }
            // dP[i, j] = Σ_e dO[i, e]·V[j, e];  dS = P ⊙ (dP − Σ_j dP ⊙ P)
            var ds = [Double](repeating: 0, count: t * t)
            for i in 0..<t {
                var dp = [Double](repeating: 0, count: t)
                for j in 0..<t { for e in 0..<d { dp[j] += dO(i, e) * q(2, j, e) } }
                let dot = (0..<t).reduce(0) { $0 + dp[$1] * p(i, $1) }
                for j in 0..<t { ds[i * t + j] = p(i, j) * (dp[j] - dot) }
            }
            for j in 0..<t { for e in 0..<d {
                // dV[j] = Σ_i P[i, j]·dO[i];  dQ[j] = Σ_k dS[j, k]·K[k]/√D;  dK[j] = Σ_i dS[i, j]·Q[i]/√D
                var dv: Double = 0, dq: Double = 0, dk: Double = 0
                for i in 0..<t {
                    dv += p(i, j) * dO(i, e)
                    dq += ds[j * t + i] * q(1, i, e)
                    dk += ds[i * t + j] * q(0, i, e)
                }
                add(qkvIndex(bi, j, 2, h, e, t, c, d), dv)
                add(qkvIndex(bi, j, 0, h, e, t, c, d), dq * scale)
                add(qkvIndex(bi, j, 1, h, e, t, c, d), dk * scale)
            } }
        } }
    }

    // MARK: Convolution family

    /// The input element of x [B, C, H, W] under output pixel (oy, ox) and tap (i, j), or nil in the padding.
    private func inputIndex(_ g: ConvolutionGeometry, _ bi: Int, _ ch: Int, _ oy: Int, _ ox: Int, _ i: Int, _ j: Int) -> Int? {
        let iy = oy * g.stride + i - g.padding, ix = ox * g.stride + j - g.padding
        guard iy >= 0 && iy < g.height && ix >= 0 && ix < g.width else { return nil }
        return ((bi * g.channels + ch) * g.height + iy) * g.width + ix
    }

    /// Calls body(y index, x index, w index) for every term of the convolution sum.
    private func forEachTerm(_ g: ConvolutionGeometry, _ co: Int, _ body: (Int, Int, Int) -> Void) {
        for bi in 0..<g.batch { for o in 0..<co { for oy in 0..<g.outputHeight { for ox in 0..<g.outputWidth {
            let yIndex = ((bi * co + o) * g.outputHeight + oy) * g.outputWidth + ox
            for ch in 0..<g.channels { for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth {
                if let xIndex = inputIndex(g, bi, ch, oy, ox, i, j) {
                    body(yIndex, xIndex, ((o * g.channels + ch) * g.kernelHeight + i) * g.kernelWidth + j)
                }
            } } }
        } } } }
    }

    public func conv2dForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                              bias: UnsafePointer<Float>?, geometry g: ConvolutionGeometry, outChannels co: Int) -> Tensor? {
        let count = g.batch * co * g.outputPixels
        var sums = [Double](repeating: 0, count: count)
        forEachTerm(g, co) { yi, xi, wi in sums[yi] += Double(weight[wi]) * Double(x[xi]) }
        for yi in 0..<count { y[yi] = Float(sums[yi] + Double(bias?[yi / g.outputPixels % co] ?? 0)) }
        return nil
    }

    public func conv2dBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                               dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, workspace: Tensor?,
                               geometry g: ConvolutionGeometry, outChannels co: Int) {
        var dxs = [Double](repeating: 0, count: g.batch * g.channels * g.height * g.width)
        var dws = [Double](repeating: 0, count: co * g.patchLength)
        forEachTerm(g, co) { yi, xi, wi in
            dxs[xi] += Double(dy[yi]) * Double(weight[wi])
            dws[wi] += Double(dy[yi]) * Double(x[xi])
        }
        if let dx { for i in dxs.indices { dx[i] = Float(Double(dx[i]) + dxs[i]) } }
        if let dweight { for i in dws.indices { dweight[i] = Float(Double(dweight[i]) + dws[i]) } }
        if let dbias {
            for o in 0..<co {
                var s: Double = 0
                for bi in 0..<g.batch { for p in 0..<g.outputPixels { s += Double(dy[(bi * co + o) * g.outputPixels + p]) } }
                dbias[o] = Float(Double(dbias[o]) + s)
            }
        }
    }

    /// Calls body(output index, window indices in row-major window order) for every pooling window;
    /// indices are within the plane.
    private func forEachWindow(_ g: ConvolutionGeometry, _ body: (Int, [Int]) -> Void) {
        for oy in 0..<g.outputHeight { for ox in 0..<g.outputWidth {
            var window: [Int] = []
            for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth { window.append((oy * g.stride + i) * g.width + ox * g.stride + j) } }
            body(oy * g.outputWidth + ox, window)
        } }
    }

    public func maxPoolForward(y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>, x: UnsafePointer<Float>,
                               planes: Int, geometry g: ConvolutionGeometry) {
        let plane = g.height * g.width, out = g.outputPixels
        for pl in 0..<planes {
            forEachWindow(g) { o, window in
                var best = window[0]
                for w in window.dropFirst() {
                    let v = x[pl * plane + w], b = x[pl * plane + best]
                    if v > b || (v.isNaN && !b.isNaN) { best = w }
                }
                y[pl * out + o] = x[pl * plane + best]
                argmax[pl * out + o] = Int32(best)
            }
        }
    }

    public func maxPoolBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, argmax: UnsafePointer<Int32>,
                                planes: Int, geometry g: ConvolutionGeometry) {
        let plane = g.height * g.width, out = g.outputPixels
        for pl in 0..<planes { for o in 0..<out { dx[pl * plane + Int(argmax[pl * out + o])] += dy[pl * out + o] } }
    }

    public func avgPoolForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, planes: Int, geometry g: ConvolutionGeometry) {
        let plane = g.height * g.width, out = g.outputPixels
        for pl in 0..<planes {
            forEachWindow(g) { o, window in
                y[pl * out + o] = Float(window.reduce(0) { $0 + Double(x[pl * plane + $1]) } / Double(window.count))
            }
        }
    }

    public func avgPoolBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, planes: Int, geometry g: ConvolutionGeometry) {
        let plane = g.height * g.width, out = g.outputPixels
        for pl in 0..<planes {
            forEachWindow(g) { o, window in
                for w in window { dx[pl * plane + w] = Float(Double(dx[pl * plane + w]) + Double(dy[pl * out + o]) / Double(window.count)) }
            }
        }
    }

    public func globalAveragePoolForward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, planes: Int, planeSize s: Int) {
        for p in 0..<planes {
            var t: Double = 0
            for k in 0..<s { t += Double(x[p * s + k]) }
            y[p] = Float(t / Double(Swift.max(s, 1)))
        }
    }

    public func globalAveragePoolBackward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, planes: Int, planeSize s: Int) {
        for p in 0..<planes { for k in 0..<s { dx[p * s + k] = Float(Double(dx[p * s + k]) + Double(dy[p]) / Double(s)) } }
    }

    public func batchNormStatistics(mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                                    runningMean: UnsafeMutablePointer<Float>, runningVariance: UnsafeMutablePointer<Float>,
                                    x: UnsafePointer<Float>, batch b: Int, channels c: Int, spatial s: Int,
                                    training: Bool, momentum: Float, epsilon: Float) {
        for ch in 0..<c {
            guard training else {
                mean[ch] = runningMean[ch]
                rstd[ch] = Float(1 / (Double(runningVariance[ch]) + Double(epsilon)).squareRoot())
                continue
            }
            let values = (0..<b).flatMap { bi in (0..<s).map { Double(x[(bi * c + ch) * s + $0]) } }
            let n = Double(values.count)
            let m = values.reduce(0, +) / n
            let v = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / n
            mean[ch] = Float(m)
            rstd[ch] = Float(1 / (v + Double(epsilon)).squareRoot())
            let mo = Double(momentum)
            runningMean[ch] = Float((1 - mo) * Double(runningMean[ch]) + mo * m)
            runningVariance[ch] = Float((1 - mo) * Double(runningVariance[ch]) + mo * v * n / (n - 1))
        }
    }

    public func batchNormForward(y: UnsafeMutablePointer<Float>, xhat: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                 mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
                                 bias: UnsafePointer<Float>?, batch b: Int, channels c: Int, spatial s: Int) {
        for bi in 0..<b { for ch in 0..<c { for k in 0..<s {
            let i = (bi * c + ch) * s + k
            let h = (Double(x[i]) - Double(mean[ch])) * Double(rstd[ch])
            xhat[i] = Float(h)
            y[i] = Float(h * Double(weight?[ch] ?? 1) + Double(bias?[ch] ?? 0))
        } } }
    }

    public func batchNormBackward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                                  dy: UnsafePointer<Float>, xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                  weight: UnsafePointer<Float>?, batch b: Int, channels c: Int, spatial s: Int, training: Bool) {
        let n = Double(b * s)
        for ch in 0..<c {
            let indices = (0..<b).flatMap { bi in (0..<s).map { (bi * c + ch) * s + $0 } }
            let sumG = indices.reduce(0) { $0 + Double(dy[$1]) }
            let sumGH = indices.reduce(0) { $0 + Double(dy[$1]) * Double(xhat[$1]) }
            if let dweight { dweight[ch] = Float(Double(dweight[ch]) + sumGH) }
            if let dbias { dbias[ch] = Float(Double(dbias[ch]) + sumG) }
            guard let dx else { continue }
            let a = Double(weight?[ch] ?? 1) * Double(rstd[ch])
            for i in indices {
                let g = Double(dy[i])
                let d = training ? a * (g - sumG / n - Double(xhat[i]) * sumGH / n) : a * g
                dx[i] = Float(Double(dx[i]) + d)
            }
        }
    }

    // MARK: Optimizer

    /// p' = p(1 − lr·λ); g' = g + λ₂p'; m ← m + (1 − β₁)(g' − m); v ← β₂v + (1 − β₂)g'²;
    /// p ← p' − lr/(1 − β₁ᵗ)·m/(√v/√(1 − β₂ᵗ) + ε), in Float64 from the Float32 coefficients.
    public func adamUpdate(parameters p: UnsafeMutablePointer<Float>, firstMoment m: UnsafeMutablePointer<Float>,
                           secondMoment v: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count n: Int,
                           coefficients c: AdamCoefficients) {
        for i in 0..<n {
            let decayed = Double(p[i]) * Double(c.decayFactor)
            let grad = Double(g[i]) + Double(c.l2) * decayed
            let m1 = Double(m[i]) + Double(c.oneMinusBeta1) * (grad - Double(m[i]))
            let v1 = Double(c.beta2) * Double(v[i]) + Double(c.oneMinusBeta2) * grad * grad
            p[i] = Float(decayed - Double(c.stepSize) * m1 / (v1.squareRoot() / Double(c.biasCorrection2Sqrt) + Double(c.epsilon)))
            m[i] = Float(m1); v[i] = Float(v1)
        }
    }

    /// d = g + λp; b ← d (first step) or μb + (1 − dampening)d; d = d + μb (Nesterov) or b;
    /// p ← p − lr·d, in Float64 from the Float32 coefficients.
    public func sgdUpdate(parameters p: UnsafeMutablePointer<Float>, momentumBuffer b: UnsafeMutablePointer<Float>,
                          gradient g: UnsafePointer<Float>, count n: Int, coefficients c: SGDCoefficients) {
        for i in 0..<n {
            var d = Double(g[i]) + Double(c.weightDecay) * Double(p[i])
            if c.usesMomentum {
                let buffer = c.firstStep ? d : Double(c.momentum) * Double(b[i]) + Double(c.oneMinusDampening) * d
                b[i] = Float(buffer)
                d = c.nesterov ? d + Double(c.momentum) * buffer : buffer
            }
            p[i] = Float(Double(p[i]) - Double(c.learningRate) * d)
        }
    }
}
