// Strided convolutions (ResNet's stride-2 layers: 3×3 padding 1 and the 1×1 downsample) on the
// flat kernels (ConvolutionKernels+Flat.swift), by space-to-depth ("polyphase"): with stride s,
// kernel tap i = s·di + a reads input row s·(oy + di) + a − pad, so splitting every input plane
// into its s×s phases
//
//     xs[b, (c·np + a)·nq + e, u, v] = x[b, c, s·u + a − pad, s·v + e − pad]   (0 outside x)
//
// (np = min(s, kh), nq = min(s, kw) phases actually read; u < H' = OH + ⌈kh/s⌉ − 1, v < W' =
// OW + ⌈kw/s⌉ − 1) turns the layer into a stride-1, unpadded convolution of xs with the
// ⌈kh/s⌉×⌈kw/s⌉ kernel: y[b, o, oy, ox] = Σ_{c,i,j} w[o, c, i, j] · xs[b, ch(c, i, j), oy + i/s, ox + j/s],
// ch(c, i, j) = (c·np + i mod s)·nq + j mod s. The forward and weight-gradient kernels take
// exactly the layer's T = Ci·kh·kw taps (their offsets on xs), so w and dw keep their layout;
// the input gradient runs the flat transposed kernel once per phase, with that phase's taps
// only, and scatters each phase's gradient back into dx.
// Batches run in the fixed image groups of the padded flat convolutions (each group converting
// `paddedImages` images at a time), so results do not depend on the number of workers.

extension ConvolutionKernels {
    /// The space-to-depth geometry of `n` images of strided layer `g` (stride 1, no padding):
    /// Ci·np·nq channels of H'×W', kernel ⌈kh/s⌉×⌈kw/s⌉.
    static func phaseGeometry(_ g: ConvolutionGeometry, images n: Int) -> ConvolutionGeometry {
        let s = g.stride, kh = (g.kernelHeight + s - 1) / s, kw = (g.kernelWidth + s - 1) / s
        return ConvolutionGeometry(batch: n, channels: g.channels * Swift.min(s, g.kernelHeight) * Swift.min(s, g.kernelWidth),
                                   height: g.outputHeight + kh - 1, width: g.outputWidth + kw - 1,
                                   kernelHeight: kh, kernelWidth: kw, stride: 1, padding: 0)
    }

    /// Whether the strided kernels handle `g`: stride ≥ 2 and at least 8 output pixels (then every
    /// phase grid's span, ≥ OH·OW, is ≥ 8).
    static func stridedApplies(_ g: ConvolutionGeometry) -> Bool {
        g.stride >= 2 && g.outputPixels >= 8
    }

    /// Phase channel ch(c, i, j) of tap (c, i, j) (legend above).
    @inline(__always) private static func phaseChannel(_ g: ConvolutionGeometry, _ c: Int, _ i: Int, _ j: Int) -> Int {
        let s = g.stride
        return (c * Swift.min(s, g.kernelHeight) + i % s) * Swift.min(s, g.kernelWidth) + j % s
    }

    /// Columns v < `columns` (default W') of phase e whose input column s·v + e − pad lies inside
    /// [0, W): lo..<hi.
    @inline(__always) private static func phaseColumns(_ g: ConvolutionGeometry, _ e: Int, columns: Int? = nil) -> (Int, Int) {
        let s = g.stride, wp = columns ?? phaseGeometry(g, images: 1).width
        let lo = Swift.min(wp, (g.padding - e + s - 1) / s)   // numerator ≥ 0 since e < s
        let last = g.width - 1 - e + g.padding                  // s·v ≤ last
        return (lo, last < 0 ? lo : Swift.max(lo, Swift.min(wp, last / s + 1)))
    }

    /// Offsets of the layer's taps (c, i, j), in w's order, on a space-to-depth image.
    static func phaseOffsets(_ g: ConvolutionGeometry) -> [Int] {
        let p = phaseGeometry(g, images: 1), s = g.stride
        var off: [Int] = []
        off.reserveCapacity(g.patchLength)
        for c in 0..<g.channels { for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth {
            off.append((phaseChannel(g, c, i, j) * p.height + i / s) * p.width + j / s)
        } } }
        return off
    }

    /// xs [n, Ci·np·nq, H', W'] = the phases of images `images` of x [B, Ci, H, W] (zeros outside x).
    static func spaceToDepth(_ x: UnsafePointer<Float>, _ xs: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, images: Range<Int>) {
        let p = phaseGeometry(g, images: 1), s = g.stride, (np, nq) = (Swift.min(s, g.kernelHeight), Swift.min(s, g.kernelWidth))
        let (h, w, hp, wp) = (g.height, g.width, p.height, p.width), plane = hp * wp
        for (k, b) in images.enumerated() { for c in 0..<g.channels { for a in 0..<np { for e in 0..<nq {
            let src = x + (b * g.channels + c) * h * w, dst = xs + (k * p.channels + (c * np + a) * nq + e) * plane
            let (lo, hi) = phaseColumns(g, e)
            for u in 0..<hp {
                let iy = s * u + a - g.padding, d = dst + u * wp
                if iy < 0 || iy >= h { d.update(repeating: 0, count: wp); continue }
                let r = src + iy * w + e - g.padding
                for v in 0..<lo { d[v] = 0 }
                for v in lo..<hi { d[v] = r[s * v] }
                for v in hi..<wp { d[v] = 0 }
            }
        } } } }
    }

    /// Forward of a strided convolution (overwrites y). x [B, Ci, H, W], w [Co, Ci, kh, kw],
    /// bias [Co] or nil → y [B, Co, OH, OW].
    public static func stridedConvolution(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                          _ y: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(stridedApplies(g), "stridedConvolution needs stride ≥ 2 and at least 8 output pixels")
        let outImage = co * g.outputPixels, offsets = phaseOffsets(g), p = phaseGeometry(g, images: 1)
        forEachImageGroup(batch: g.batch, imageSize: p.channels * p.height * p.width) { _, images, xs in
            for first in stride(from: images.lowerBound, to: images.upperBound, by: paddedImages) {
                let part = first..<Swift.min(first + paddedImages, images.upperBound)
                spaceToDepth(x, xs, g, images: part)
                flatConvolution(xs, w, bias, y + first * outImage, phaseGeometry(g, images: part.count), outChannels: co, offsets: offsets)
            }
        }
    }

    /// Weight gradient, accumulating: dw [Co, Ci·kh·kw] += Σ over the batch (per image group, then
    /// the groups in order).
    public static func stridedConvolutionWeightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                                        _ dw: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(stridedApplies(g), "stridedConvolutionWeightGradient needs stride ≥ 2 and at least 8 output pixels")
        let outImage = co * g.outputPixels, size = co * g.patchLength, groups = Swift.min(paddedGroups, g.batch)
        let offsets = phaseOffsets(g), p = phaseGeometry(g, images: 1)
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: groups * size)   // [groups, Co, T]
        partial.initialize(repeating: 0, count: groups * size)
        defer { partial.deallocate() }
        forEachImageGroup(batch: g.batch, imageSize: p.channels * p.height * p.width) { group, images, xs in
            for first in stride(from: images.lowerBound, to: images.upperBound, by: paddedImages) {
                let part = first..<Swift.min(first + paddedImages, images.upperBound)
                spaceToDepth(x, xs, g, images: part)
                flatConvolutionWeightGradient(xs, dy + first * outImage, partial + group * size, phaseGeometry(g, images: part.count),
                                              outChannels: co, offsets: offsets)
            }
        }
        for group in 0..<groups { let q = partial + group * size; for e in 0..<size { dw[e] += q[e] } }
    }

    /// Input gradient, accumulating: dx [B, Ci, H, W] += Σ over the phases (a, e) of phase
    /// (a, e)'s gradient, scattered back to x[b, c, s·u + a − pad, s·v + e − pad]. Phase (a, e)
    /// reads only the taps i ≡ a, j ≡ e (mod s): its gradient is the flat transposed kernel of a
    /// stride-1 layer with the kernel w_ae[o, c, di, dj] = w[o, c, a + s·di, e + s·dj] on a
    /// [Ci, OH + kh_a − 1, OW + kw_e − 1] plane, so every tap of w is used exactly once.
    public static func stridedConvolutionInputGradient(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                       _ dx: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(stridedApplies(g), "stridedConvolutionInputGradient needs stride ≥ 2 and at least 8 output pixels")
        let p = phaseGeometry(g, images: 1), s = g.stride, (np, nq) = (Swift.min(s, g.kernelHeight), Swift.min(s, g.kernelWidth))
        let (kh, kw, ci, h, wd) = (g.kernelHeight, g.kernelWidth, g.channels, g.height, g.width), outImage = co * g.outputPixels
        // per phase (a, e): its kernel size and weights w_ae [Co, Ci, kh_a, kw_e]
        var phases: [(a: Int, e: Int, kh: Int, kw: Int, weights: [Float])] = []
        for a in 0..<np { for e in 0..<nq {
            let (ka, ke) = ((kh - a + s - 1) / s, (kw - e + s - 1) / s)
            var weights = [Float](repeating: 0, count: co * ci * ka * ke)
            for o in 0..<co { for c in 0..<ci { for di in 0..<ka { for dj in 0..<ke {
                weights[((o * ci + c) * ka + di) * ke + dj] = w[((o * ci + c) * kh + a + s * di) * kw + e + s * dj]
            } } } }
            phases.append((a, e, ka, ke, weights))
        } }
        forEachImageGroup(batch: g.batch, imageSize: ci * p.height * p.width) { _, images, dxs in
            for first in stride(from: images.lowerBound, to: images.upperBound, by: paddedImages) {
                let part = first..<Swift.min(first + paddedImages, images.upperBound)
                for phase in phases {
                    let pg = ConvolutionGeometry(batch: part.count, channels: ci, height: g.outputHeight + phase.kh - 1,
                                                 width: g.outputWidth + phase.kw - 1, kernelHeight: phase.kh, kernelWidth: phase.kw,
                                                 stride: 1, padding: 0)
                    let (hp, wp) = (pg.height, pg.width)
                    dxs.update(repeating: 0, count: part.count * ci * hp * wp)
                    phase.weights.withUnsafeBufferPointer {
                        flatConvolutionInputGradient(dy + first * outImage, $0.baseAddress!, dxs, pg, outChannels: co)
                    }
                    let (lo, hi) = phaseColumns(g, phase.e, columns: wp)
                    for (k, b) in part.enumerated() { for c in 0..<ci {
                        let src = dxs + (k * ci + c) * hp * wp, dst = dx + (b * ci + c) * h * wd
                        for u in 0..<hp {
                            let iy = s * u + phase.a - g.padding
                            if iy < 0 || iy >= h { continue }
                            let d = dst + iy * wd + phase.e - g.padding, r = src + u * wp
                            for v in lo..<hi { d[s * v] += r[v] }
                        }
                    } }
                }
            }
        }
    }
}
