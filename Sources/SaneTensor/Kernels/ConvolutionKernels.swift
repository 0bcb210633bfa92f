// Plain pointer kernels behind the convolution-family ops (Ops/Convolution.swift).
//
// Shape legend: B batch, C channels (Ci in, Co out), H×W input plane, OH×OW output plane,
// kh×kw kernel, P = OH·OW output pixels per plane, K = Ci·kh·kw patch length.
//
// Convolution uses the "batched im2col" layout: one column per output pixel of the whole batch,
//
//     cols [K, B·P],  cols[(c·kh + i)·kw + j, b·P + oy·OW + ox] = x[b, c, oy·s + i − pad, ox·s + j − pad]
//
// (0 outside the image), so the forward pass of the whole batch is ONE GEMM
// W [Co, K] · cols [K, B·P] = y' [Co, B·P], and y' is y [B, Co, P] with the first two axes swapped.
// Every kernel is a loop over raw pointers with a contiguous innermost loop, so it vectorizes.

/// Geometry of a 2-D convolution or pooling window over NCHW tensors.
public struct ConvolutionGeometry: Equatable, Sendable {
    public var batch: Int, channels: Int, height: Int, width: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var stride: Int, padding: Int

    public init(batch: Int, channels: Int, height: Int, width: Int, kernelHeight: Int, kernelWidth: Int, stride: Int, padding: Int) {
        precondition(stride >= 1 && padding >= 0 && kernelHeight >= 1 && kernelWidth >= 1, "invalid window: kernel \(kernelHeight)×\(kernelWidth), stride \(stride), padding \(padding)")
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth; self.stride = stride; self.padding = padding
        precondition(outputHeight >= 1 && outputWidth >= 1,
                     "window \(kernelHeight)×\(kernelWidth) (stride \(stride), padding \(padding)) does not fit a \(height)×\(width) input")
    }

    /// OH = ⌊(H + 2·pad − kh) / s⌋ + 1
    public var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    /// OW = ⌊(W + 2·pad − kw) / s⌋ + 1
    public var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    /// P = OH·OW
    public var outputPixels: Int { outputHeight * outputWidth }
    /// K = C·kh·kw
    public var patchLength: Int { channels * kernelHeight * kernelWidth }

    /// Output columns `ox` whose input column ox·s + j − pad lies inside [0, W): lo..<hi.
    @inline(__always) func validColumns(_ j: Int) -> (Int, Int) {
        let ow = outputWidth
        var lo = 0
        while lo < ow && lo * stride + j - padding < 0 { lo += 1 }
        var hi = ow
        while hi > lo && (hi - 1) * stride + j - padding >= width { hi -= 1 }
        return (lo, hi)
    }
}

/// How the CPU backend computes a convolution (see `ConvolutionKernels.algorithm(for:)`):
/// `rows`: direct, blocked over output rows (ConvolutionKernels+Direct.swift); `flat`: direct on
/// the input-width grid (ConvolutionKernels+Flat.swift; padded layers on a zero-padded copy of
/// each image); `im2col`: batched im2col + one GEMM; `winograd`: F(2×2, 3×3) for 3×3 stride-1
/// padding-1 layers, 16 batched GEMMs (ConvolutionKernels+Winograd.swift); `strided`: stride ≥ 2
/// layers on the flat kernels by space-to-depth (ConvolutionKernels+Strided.swift); `lanes`:
/// direct with eight images on the SIMD lanes, stride-1 layers with small planes
/// (ConvolutionKernels+Lanes.swift).
public enum ConvolutionAlgorithm: String, CaseIterable, Sendable {
    case rows, flat, im2col, winograd, strided, lanes
}

public enum ConvolutionKernels {
    /// Items of a loop over planes (or rows) that `Parallel.forEach` should give each worker so
    /// that a worker gets at least 32 Ki elements of memory-bound work (`perItem` elements each).
    static func minimumItems(perItem: Int) -> Int { max(1, Parallel.elementwiseChunk / max(perItem, 1)) }

    /// im2col for batch items `items`: x [B, C, H, W] → cols [K, B·P] (layout above). The K rows
    /// are spread over the cores; each row is written by one thread.
    public static func im2col(_ x: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, items: Range<Int>) {
        let (oh, ow, p) = (g.outputHeight, g.outputWidth, g.outputPixels)
        let n = g.batch * p, plane = g.height * g.width, kk = g.kernelHeight * g.kernelWidth
        Parallel.forEach(g.patchLength, minimumPerWorker: minimumItems(perItem: items.count * p)) { r in
            let (c, i, j) = (r / kk, r % kk / g.kernelWidth, r % g.kernelWidth)
            let row = cols + r * n
            let (lo, hi) = g.validColumns(j)
            for b in items {
                let src = x + (b * g.channels + c) * plane
                let dst = row + b * p
                for oy in 0..<oh {
                    let d = dst + oy * ow
                    let iy = oy * g.stride + i - g.padding
                    if iy < 0 || iy >= g.height { d.update(repeating: 0, count: ow); continue }
                    let s = src + iy * g.width + j - g.padding
                    for ox in 0..<lo { d[ox] = 0 }
                    if g.stride == 1 {
                        for ox in lo..<hi { d[ox] = s[ox] }
                    } else {
                        for ox in lo..<hi { d[ox] = s[ox * g.stride] }
                    }
                    for ox in hi..<ow { d[ox] = 0 }
                }
            }
        }
    }

    /// col2im, the adjoint of im2col, accumulating: dx [B, C, H, W] += scatter(dcols [K, B·P]).
    /// The channels are spread over the cores: channel c's planes take the sums of its kh·kw
    /// rows, in the same order on any number of workers.
    public static func col2imAccumulate(_ dcols: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, items: Range<Int>) {
        let (oh, ow, p) = (g.outputHeight, g.outputWidth, g.outputPixels)
        let n = g.batch * p, plane = g.height * g.width, kk = g.kernelHeight * g.kernelWidth
        Parallel.forEach(g.channels, minimumPerWorker: minimumItems(perItem: kk * items.count * p)) { c in
            for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth {
                let row = dcols + ((c * g.kernelHeight + i) * g.kernelWidth + j) * n
                let (lo, hi) = g.validColumns(j)
                for b in items {
                    let dst = dx + (b * g.channels + c) * plane
                    let src = row + b * p
                    for oy in 0..<oh {
                        let iy = oy * g.stride + i - g.padding
                        if iy < 0 || iy >= g.height { continue }
                        let s = src + oy * ow
                        let d = dst + iy * g.width + j - g.padding
                        if g.stride == 1 {
                            for ox in lo..<hi { d[ox] += s[ox] }
                        } else {
                            for ox in lo..<hi { d[ox * g.stride] += s[ox] }
                        }
                    }
                }
            } }
        }
    }

    /// Swaps the two outer axes of a [A, Bn, inner] array: out [Bn, A, inner]. With `accumulate`
    /// it adds into `out`.
    /// The outer axis is spread over the cores.
    public static func swapOuterAxes(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, outer a: Int, middle bn: Int, inner: Int, accumulate: Bool = false) {
        Parallel.forEach(a, minimumPerWorker: minimumItems(perItem: bn * inner)) { i in
            for j in 0..<bn {
                let s = src + (i * bn + j) * inner, d = dst + (j * a + i) * inner
                if accumulate { for k in 0..<inner { d[k] += s[k] } } else { d.update(from: s, count: inner) }
            }
        }
    }

    // MARK: Pooling (no padding, floor mode)

    /// Max pooling over `planes` planes of H×W (window geometry `g`, channels ignored):
    /// y[p, o] = max over the window; `argmax[p, o]` is the flat index (within the plane) of the
    /// first maximum, as PyTorch picks it.
    public static func maxPool(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ argmax: UnsafeMutablePointer<Int32>, planes: Int, _ g: ConvolutionGeometry) {
        let (oh, ow, plane, out) = (g.outputHeight, g.outputWidth, g.height * g.width, g.outputPixels)
        if g.kernelHeight == 2 && g.kernelWidth == 2 && g.stride == 2 {
            // The zoo networks' 2×2/2 pooling: eight outputs at a time (even/odd lanes of two
            // input rows; the last chunk overlaps when OW is not a multiple of 8), selects instead
            // of branches. Same result as the general loop: the first maximum in row-major window
            // order wins; NaN wins.
            // Window positions are carried as Float lanes (exact below 2²³, checked): one
            // comparison mask then drives both blends, where Int32 lanes made the compiler
            // shuffle the mask through scalar registers (3× slower). They become Int32 by the
            // 2²³ trick: the bits of p + 2²³ are those of 2²³ plus p (0 ≤ p < 2²³ an integer).
            precondition(plane < 1 << 23, "maxPool: planes of 2²³ or more values")
            let magic = SIMD8<Float>(repeating: 8_388_608), magicBits = SIMD8<Int32>(repeating: 0x4B00_0000)
            let wf = Float(g.width), w32 = Int32(truncatingIfNeeded: g.width)
            let lane = SIMD8<Float>(0, 2, 4, 6, 8, 10, 12, 14)
            @inline(__always) func pick(_ best: inout SIMD8<Float>, _ idx: inout SIMD8<Float>, _ v: SIMD8<Float>, _ i: SIMD8<Float>) {
                let take = (v .> best) .| ((v .!= v) .& (best .== best))
                best.replace(with: v, where: take)
                idx.replace(with: i, where: take)
            }
            // Rows of fewer than 8 outputs (CNN3's 13×13 → 6×6 and 4×4 → 2×2) take one chunk whose
            // lanes past OW read the following input (ignored) and are not stored; only where that
            // chunk would read past the end of x do they go one by one.
            let end = x + planes * plane
            for pl in 0..<planes {
                let src = x + pl * plane, dst = y + pl * out, arg = argmax + pl * out
                for oy in 0..<oh {
                    let r0 = src + 2 * oy * g.width, r1 = r0 + g.width
                    let rowBase = Int32(truncatingIfNeeded: 2 * oy * g.width)
                    let partial = ow < 8 && r1 + 16 <= end
                    var ox = 0
                    while (ow >= 8 || partial) && ox < ow {
                        let o = partial ? 0 : Swift.min(ox, ow - 8)
                        let top = UnsafeRawPointer(r0 + 2 * o).loadUnaligned(as: SIMD16<Float>.self)
                        let bottom = UnsafeRawPointer(r1 + 2 * o).loadUnaligned(as: SIMD16<Float>.self)
                        let base = SIMD8(repeating: Float(2 * oy * g.width + 2 * o)) + lane
                        var best = top.evenHalf, idx = base
                        pick(&best, &idx, top.oddHalf, base + 1)
                        pick(&best, &idx, bottom.evenHalf, base + wf)
                        pick(&best, &idx, bottom.oddHalf, base + (wf + 1))
                        let positions = unsafeBitCast(idx + magic, to: SIMD8<Int32>.self) &- magicBits
                        if partial {
                            for k in 0..<ow { dst[oy * ow + k] = best[k]; arg[oy * ow + k] = positions[k] }
                        } else {
                            UnsafeMutableRawPointer(dst + oy * ow + o).storeBytes(of: best, as: SIMD8<Float>.self)
                            UnsafeMutableRawPointer(arg + oy * ow + o).storeBytes(of: positions, as: SIMD8<Int32>.self)
                        }
                        ox += 8
                    }
                    for ox in ow >= 8 || partial ? ow..<ow : 0..<ow {
                        let base = rowBase &+ Int32(truncatingIfNeeded: 2 * ox)
                        var best = r0[2 * ox], idx = base
                        @inline(__always) func pick(_ v: Float, _ i: Int32) {
                            if v > best || (v.isNaN && !best.isNaN) { best = v; idx = i }
                        }
                        pick(r0[2 * ox + 1], base &+ 1); pick(r1[2 * ox], base &+ w32); pick(r1[2 * ox + 1], base &+ w32 &+ 1)
                        dst[oy * ow + ox] = best
                        arg[oy * ow + ox] = idx
                    }
                }
            }
            return
        }
        for pl in 0..<planes {
            let src = x + pl * plane, dst = y + pl * out, arg = argmax + pl * out
            for oy in 0..<oh { for ox in 0..<ow {
                let y0 = oy * g.stride, x0 = ox * g.stride
                var best = -Float.infinity, bestIndex = y0 * g.width + x0
                for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth {
                    let idx = (y0 + i) * g.width + x0 + j
                    let v = src[idx]
                    if v > best || v.isNaN && !best.isNaN { best = v; bestIndex = idx }
                } }
                dst[oy * ow + ox] = best
                arg[oy * ow + ox] = Int32(bestIndex)
            } }
        }
    }

    /// Backward of `maxPool`: dx[p, argmax[p, o]] += dy[p, o].
    public static func maxPoolBackward(_ dy: UnsafePointer<Float>, _ argmax: UnsafePointer<Int32>, _ dx: UnsafeMutablePointer<Float>, planes: Int, _ g: ConvolutionGeometry) {
        let plane = g.height * g.width, out = g.outputPixels
        for pl in 0..<planes {
            let d = dx + pl * plane, gy = dy + pl * out, arg = argmax + pl * out
            for o in 0..<out { d[Int(arg[o])] += gy[o] }
        }
    }

    /// Average pooling: y[p, o] = (1/(kh·kw)) Σ_window x.
    public static func avgPool(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, _ g: ConvolutionGeometry) {
        let (oh, ow, plane, out) = (g.outputHeight, g.outputWidth, g.height * g.width, g.outputPixels)
        let scale = 1 / Float(g.kernelHeight * g.kernelWidth)
        for pl in 0..<planes {
            let src = x + pl * plane, dst = y + pl * out
            for oy in 0..<oh { for ox in 0..<ow {
                var s: Float = 0
                for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth { s += src[(oy * g.stride + i) * g.width + ox * g.stride + j] } }
                dst[oy * ow + ox] = s * scale
            } }
        }
    }

    /// Backward of `avgPool`: every window element receives dy/(kh·kw).
    public static func avgPoolBackward(_ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, planes: Int, _ g: ConvolutionGeometry) {
        let (oh, ow, plane, out) = (g.outputHeight, g.outputWidth, g.height * g.width, g.outputPixels)
        let scale = 1 / Float(g.kernelHeight * g.kernelWidth)
        for pl in 0..<planes {
            let d = dx + pl * plane, gy = dy + pl * out
            for oy in 0..<oh { for ox in 0..<ow {
                let v = gy[oy * ow + ox] * scale
                for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth { d[(oy * g.stride + i) * g.width + ox * g.stride + j] += v } }
            } }
        }
    }

    // MARK: Batch normalization statistics

    /// Per-channel mean and biased variance of x [B, C, S] over B·S (per plane eight SIMD lanes
    /// and a scalar tail in Float32, planes summed in Float64). Channels are spread over the
    /// cores; each channel's sums run in one fixed order.
    public static func channelMoments(_ x: UnsafePointer<Float>, batch: Int, channels: Int, spatial: Int,
                                      mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>) {
        let n = Double(batch * spatial), full = spatial / 8
        Parallel.forEach(channels, minimumPerWorker: minimumItems(perItem: batch * spatial)) { c in
            var s: Double = 0
            for b in 0..<batch {
                let p = x + (b * channels + c) * spatial
                var lanes = SIMD8<Float>.zero, t: Float = 0
                for q in 0..<full { lanes += load8(p + q * 8) }
                for k in (full * 8)..<spatial { t += p[k] }
                s += Double(lanes.sum() + t)
            }
            let m = s / n, mf = Float(m), m8 = SIMD8<Float>(repeating: mf)
            var v: Double = 0
            for b in 0..<batch {
                let p = x + (b * channels + c) * spatial
                var lanes = SIMD8<Float>.zero, t: Float = 0
                for q in 0..<full { let d = load8(p + q * 8) - m8; lanes += d * d }
                for k in (full * 8)..<spatial { let d = p[k] - mf; t += d * d }
                v += Double(lanes.sum() + t)
            }
            mean[c] = mf
            variance[c] = Float(v / n)
        }
    }

    /// Batch-norm forward (`Variable.batchNorm2d`) per plane (b, c), spread over the cores:
    /// x̂ = (x − μ[c])·rstd[c], y = γ[c]·x̂ + β[c] (γ = 1, β = 0 when nil). x, xhat, y [B, C, S].
    public static func batchNormForward(_ x: UnsafePointer<Float>, _ xhat: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
                                        bias: UnsafePointer<Float>?, batch: Int, channels: Int, spatial: Int) {
        Parallel.forEach(batch * channels, minimumPerWorker: minimumItems(perItem: spatial)) { plane in
            let ch = plane % channels, o = plane * spatial, m = mean[ch], r = rstd[ch]
            let gamma = weight?[ch] ?? 1, beta = bias?[ch] ?? 0
            for k in 0..<spatial { let h = (x[o + k] - m) * r; xhat[o + k] = h; y[o + k] = h * gamma + beta }
        }
    }

    /// Batch-norm backward (`Variable.batchNorm2d`): per channel Σ g and Σ g·x̂ (eight SIMD lanes
    /// and a tail per plane, planes in batch order; channels spread over the cores), then
    /// dγ += Σ g·x̂, dβ += Σ g and per plane (spread over the cores)
    /// dx += γ·rstd·(g − Σg/n − x̂·Σg·x̂/n) in training, γ·rstd·g in evaluation; n = B·S.
    public static func batchNormBackward(_ dy: UnsafePointer<Float>, _ xhat: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
                                         dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                                         rstd: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
                                         batch: Int, channels: Int, spatial: Int, training: Bool) {
        let n = Float(batch * spatial), full = spatial / 8
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: 2 * channels)   // [Σ g | Σ g·x̂]
        defer { sums.deallocate() }
        Parallel.forEach(channels, minimumPerWorker: minimumItems(perItem: 2 * batch * spatial)) { ch in
            var sg: Float = 0, sgh: Float = 0
            for b in 0..<batch {
                let o = (b * channels + ch) * spatial, g = dy + o, h = xhat + o
                var lg = SIMD8<Float>.zero, lgh = lg, t: Float = 0, u: Float = 0
                for q in 0..<full { let gv = load8(g + q * 8); lg += gv; lgh += gv * load8(h + q * 8) }
                for k in (full * 8)..<spatial { t += g[k]; u += g[k] * h[k] }
                sg += lg.sum() + t; sgh += lgh.sum() + u
            }
            sums[ch] = sg; sums[channels + ch] = sgh
        }
        if let dweight { for ch in 0..<channels { dweight[ch] += sums[channels + ch] } }
        if let dbias { for ch in 0..<channels { dbias[ch] += sums[ch] } }
        guard let dx else { return }
        Parallel.forEach(batch * channels, minimumPerWorker: minimumItems(perItem: spatial)) { plane in
            let ch = plane % channels, o = plane * spatial, a = (weight?[ch] ?? 1) * rstd[ch]
            if training {
                // mean(dx̂) = γ·Σg/n, mean(dx̂·x̂) = γ·Σg·x̂/n
                let m1 = sums[ch] / n, m2 = sums[channels + ch] / n
                for k in 0..<spatial { dx[o + k] += a * (dy[o + k] - m1 - xhat[o + k] * m2) }
            } else {
                for k in 0..<spatial { dx[o + k] += a * dy[o + k] }
            }
        }
    }
}
