// Direct convolution on the input-width grid ("flat" layout) for stride 1 and no padding — the
// CIFAR CNN's layers (OW 30, 13, 4), where output rows are not a multiple of 8 wide and the
// row-blocked kernels (ConvolutionKernels+Direct.swift) waste lanes or fall back to scalar tails.
//
// Shape legend as in ConvolutionKernels.swift. An output position (oy, ox) is numbered on the
// *input's* row width: q = oy·W + ox. Then
//
//     y[b, o, q] = bias[o] + Σ_t w[o, t] · x[b, off[t] + q],   off[t] = (c·H + i)·W + j
//
// is one contiguous correlation over q ∈ [0, span), span = (OH − 1)·W + OW: every output row
// and the W − OW "junk" positions between rows (which read real input values and are dropped,
// or carry a zero dy in the backward kernels) form one vector-friendly sequence, at the cost of
// W/OW extra lanes. Explicit SIMD8; the last chunk of a sequence overlaps (forward, input
// gradient: the same values are stored twice) or reads zero-padded data (weight gradient).
// Summation order is fixed, so results are deterministic.

extension ConvolutionKernels {
    /// span = (OH − 1)·W + OW: the output positions on the input-width grid.
    static func flatSpan(_ g: ConvolutionGeometry) -> Int { (g.outputHeight - 1) * g.width + g.outputWidth }

    /// Forward: y[b, o, oy, ox] = bias[o] + Σ_t w[o, t] · x[b, off[t] + oy·W + ox] (overwrites y).
    /// x [B, Ci, H, W], w [Co, T], bias [Co] or nil → y [B, Co, OH, OW]. Register block: 4 output
    /// channels × 3 chunks of 8 grid positions (12 accumulators); per tap three input loads and
    /// four weight broadcasts feed 12 FMAs. Weights packed [⌈Co/4⌉, T, 4] (zero-padded). A
    /// block's [4, span] grid rows go to a buffer, then their OW valid columns per row to y.
    /// `offsets` replaces the taps off[t] (then w is [Co, offsets.count]): the strided kernels
    /// (ConvolutionKernels+Strided.swift) pass the taps of a space-to-depth image.
    @inline(never)
    public static func flatConvolution(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                       _ y: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int, offsets: [Int]? = nil) {
        let span = flatSpan(g), offsets = offsets ?? tapOffsets(g)
        precondition(g.stride == 1 && g.padding == 0 && span >= 8, "flatConvolution needs stride 1, no padding, (OH − 1)·W + OW ≥ 8")
        let (oh, ow, taps, width) = (g.outputHeight, g.outputWidth, offsets.count, g.width)
        let image = g.channels * g.height * width, blocks = (co + 3) / 4, plane = oh * ow, chunks = (span + 7) / 8
        let (packed, packedBias) = packedWeights(w, bias, outChannels: co, taps: taps)        // [blocks, T, 4], [blocks, 4]
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: 4 * span)   // [4, span]
        defer { packed.deallocate(); packedBias.deallocate(); rows.deallocate() }
        offsets.withUnsafeBufferPointer { offp in
            for b in 0..<g.batch {
                let xb = x + b * image
                for blk in 0..<blocks {
                    let wb = packed + blk * taps * 4, bb = packedBias + blk * 4
                    for q in stride(from: 0, to: chunks, by: 3) {
                        let s0 = Swift.min(q * 8, span - 8), s1 = Swift.min(q * 8 + 8, span - 8), s2 = Swift.min(q * 8 + 16, span - 8)
                        var a0 = SIMD8<Float>(repeating: bb[0]), a1 = SIMD8<Float>(repeating: bb[1])
                        var a2 = SIMD8<Float>(repeating: bb[2]), a3 = SIMD8<Float>(repeating: bb[3])
                        var c0 = a0, c1 = a1, c2 = a2, c3 = a3
                        var e0 = a0, e1 = a1, e2 = a2, e3 = a3
                        for t in 0..<taps {
                            let p = xb + offp[t]
                            let u = load8(p + s0), v = load8(p + s1), z = load8(p + s2), wt = wb + t * 4
                            let w0 = SIMD8<Float>(repeating: wt[0]), w1 = SIMD8<Float>(repeating: wt[1])
                            let w2 = SIMD8<Float>(repeating: wt[2]), w3 = SIMD8<Float>(repeating: wt[3])
                            a0 = a0.addingProduct(u, w0); c0 = c0.addingProduct(v, w0); e0 = e0.addingProduct(z, w0)
                            a1 = a1.addingProduct(u, w1); c1 = c1.addingProduct(v, w1); e1 = e1.addingProduct(z, w1)
                            a2 = a2.addingProduct(u, w2); c2 = c2.addingProduct(v, w2); e2 = e2.addingProduct(z, w2)
                            a3 = a3.addingProduct(u, w3); c3 = c3.addingProduct(v, w3); e3 = e3.addingProduct(z, w3)
                        }
                        store8(a0, rows + s0); store8(c0, rows + s1); store8(e0, rows + s2)
                        store8(a1, rows + span + s0); store8(c1, rows + span + s1); store8(e1, rows + span + s2)
                        store8(a2, rows + 2 * span + s0); store8(c2, rows + 2 * span + s1); store8(e2, rows + 2 * span + s2)
                        store8(a3, rows + 3 * span + s0); store8(c3, rows + 3 * span + s1); store8(e3, rows + 3 * span + s2)
                    }
                    let yb = y + (b * co + blk * 4) * plane
                    for k in 0..<Swift.min(4, co - blk * 4) { for oy in 0..<oh {
                        copyRow(yb + k * plane + oy * ow, rows + k * span + oy * width, count: ow)
                    } }
                }
            }
        }
    }

    /// Weight gradient, accumulating: dw[o, t] += Σ_{b, q} dy[b, o, q] · x[b, off[t] + q] over the
    /// grid positions q (dy zero at junk positions). x [B, Ci, H, W], dy [B, Co, OH, OW], dw [Co, T].
    /// Per image, dy is laid on the grid ([Co, ⌈span/8⌉·8], zeros at junk positions and past the
    /// span); the last image is read from a copy with 8 zeros after it, since the last chunk reads
    /// up to 7 values past the span. Register block: 4 output channels × 3 taps (12 accumulators);
    /// per chunk three x loads and four dy loads feed 12 FMAs, the innermost loop walking the grid
    /// of one image (one image's x and four dy rows stay in L1). 4 × 3 rather than 3 × 4: no
    /// wasted channel on CNN3's 16 and 32 (first layer's weight gradient 14 % faster, the second
    /// the same; standalone timing of both on CNN3's shapes). Block sums go to a [Co, T]
    /// SIMD8 buffer, reduced once at the end. A missing channel or tap repeats the last one and is
    /// not stored. `offsets` as in `flatConvolution` (then dw is [Co, offsets.count]).
    @inline(never)
    public static func flatConvolutionWeightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                                     _ dw: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int,
                                                     offsets: [Int]? = nil) {
        let span = flatSpan(g), offsets = offsets ?? tapOffsets(g)
        precondition(g.stride == 1 && g.padding == 0 && span >= 8, "flatConvolutionWeightGradient needs stride 1, no padding, (OH − 1)·W + OW ≥ 8")
        let (oh, ow, taps, width) = (g.outputHeight, g.outputWidth, offsets.count, g.width)
        let image = g.channels * g.height * width, plane = oh * ow, padded = (span + 7) / 8 * 8
        let grid = UnsafeMutablePointer<Float>.allocate(capacity: co * padded)   // [Co, padded]
        grid.initialize(repeating: 0, count: co * padded)
        let last = UnsafeMutablePointer<Float>.allocate(capacity: image + 8)
        last.initialize(repeating: 0, count: image + 8)
        last.update(from: x + (g.batch - 1) * image, count: image)
        let acc = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: co * taps)   // lane partial sums [Co, T]
        acc.initialize(repeating: .zero, count: co * taps)
        defer { grid.deallocate(); last.deallocate(); acc.deallocate() }
        offsets.withUnsafeBufferPointer { offp in
            for b in 0..<g.batch {
                for o in 0..<co { for oy in 0..<oh {
                    copyRow(grid + o * padded + oy * width, dy + (b * co + o) * plane + oy * ow, count: ow)
                } }
                let xb = b == g.batch - 1 ? UnsafePointer(last) : x + b * image
                for o in stride(from: 0, to: co, by: 4) {
                    let oc = Swift.min(4, co - o)
                    let r1 = (Swift.min(o + 1, co - 1) - o) * padded, r2 = (Swift.min(o + 2, co - 1) - o) * padded
                    let r3 = (Swift.min(o + 3, co - 1) - o) * padded
                    let gb = grid + o * padded
                    for t in stride(from: 0, to: taps, by: 3) {
                        let x0 = xb + offp[t], x1 = xb + offp[Swift.min(t + 1, taps - 1)], x2 = xb + offp[Swift.min(t + 2, taps - 1)]
                        var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0   // tap t, channels o…o+3
                        var c0 = a0, c1 = a0, c2 = a0, c3 = a0                  // tap t+1
                        var e0 = a0, e1 = a0, e2 = a0, e3 = a0                  // tap t+2
                        for q in stride(from: 0, to: padded, by: 8) {
                            let u0 = load8(x0 + q), u1 = load8(x1 + q), u2 = load8(x2 + q)
                            let d0 = load8(gb + q)
                            a0 = a0.addingProduct(u0, d0); c0 = c0.addingProduct(u1, d0); e0 = e0.addingProduct(u2, d0)
                            let d1 = load8(gb + r1 + q)
                            a1 = a1.addingProduct(u0, d1); c1 = c1.addingProduct(u1, d1); e1 = e1.addingProduct(u2, d1)
                            let d2 = load8(gb + r2 + q)
                            a2 = a2.addingProduct(u0, d2); c2 = c2.addingProduct(u1, d2); e2 = e2.addingProduct(u2, d2)
                            let d3 = load8(gb + r3 + q)
                            a3 = a3.addingProduct(u0, d3); c3 = c3.addingProduct(u1, d3); e3 = e3.addingProduct(u2, d3)
                        }
                        let at = acc + o * taps + t
                        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { s in
                            s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3; s[4] = c0; s[5] = c1; s[6] = c2; s[7] = c3
                            s[8] = e0; s[9] = e1; s[10] = e2; s[11] = e3
                            for m in 0..<Swift.min(3, taps - t) { for k in 0..<oc { at[k * taps + m] += s[4 * m + k] } }
                        }
                    }
                }
            }
        }
        for e in 0..<(co * taps) { dw[e] += acc[e].sum() }
    }

    /// Input gradient, accumulating: dx[b, c, p] += Σ_{o, i, j} w[o, c, i, j] · dy[b, o, p − i·W − j]
    /// over input positions p = iy·W + ix, with dy on the grid (zero at junk positions and outside
    /// [0, span)): a position ix − j < 0 lands on a junk column of the row above, so the whole
    /// input plane is one contiguous correlation. dy [B, Co, OH, OW], w [Co, Ci, kh, kw],
    /// dx [B, Ci, H, W]. Per image, dy goes on the grid behind (kh − 1)·W + kw − 1 zeros
    /// ([Co, front + H·W + 8]). Register block: 4 input channels × 3 chunks of 8 positions; per
    /// (tap, o) three dy loads and four weight broadcasts feed 12 FMAs; taps whose dy positions
    /// for the three chunks all lie outside [0, span) are skipped. A block's rows are assembled
    /// in a buffer (overlapping last chunk) and then added to dx once.
    @inline(never)
    public static func flatConvolutionInputGradient(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                    _ dx: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        let span = flatSpan(g)
        precondition(g.stride == 1 && g.padding == 0 && span >= 8, "flatConvolutionInputGradient needs stride 1, no padding, (OH − 1)·W + OW ≥ 8")
        let (oh, ow, kh, kw, ci, width) = (g.outputHeight, g.outputWidth, g.kernelHeight, g.kernelWidth, g.channels, g.width)
        let hw = g.height * width, plane = oh * ow, kk = kh * kw, blocks = (ci + 3) / 4, chunks = (hw + 7) / 8
        let front = (kh - 1) * width + kw - 1, rowLength = front + hw + 8
        let grid = UnsafeMutablePointer<Float>.allocate(capacity: co * rowLength)   // [Co, rowLength]
        grid.initialize(repeating: 0, count: co * rowLength)
        // weights [blocks, kh·kw, Co, 4] (input channels innermost, zero-padded)
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: blocks * kk * co * 4)
        packed.initialize(repeating: 0, count: blocks * kk * co * 4)
        for o in 0..<co { for c in 0..<ci { for t in 0..<kk {
            packed[(((c / 4) * kk + t) * co + o) * 4 + c % 4] = w[(o * ci + c) * kk + t]
        } } }
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: 4 * hw)   // [4, H·W]
        defer { grid.deallocate(); packed.deallocate(); rows.deallocate() }
        for b in 0..<g.batch {
            for o in 0..<co { for oy in 0..<oh {
                copyRow(grid + o * rowLength + front + oy * width, dy + (b * co + o) * plane + oy * ow, count: ow)
            } }
            for blk in 0..<blocks {
                for q in stride(from: 0, to: chunks, by: 3) {
                    let s0 = Swift.min(q * 8, hw - 8), s1 = Swift.min(q * 8 + 8, hw - 8), s2 = Swift.min(q * 8 + 16, hw - 8)
                    var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0   // chunk s0, channels 0…3
                    var c0 = a0, c1 = a0, c2 = a0, c3 = a0                  // chunk s1
                    var e0 = a0, e1 = a0, e2 = a0, e3 = a0                  // chunk s2
                    for i in 0..<kh { for j in 0..<kw {
                        let offset = i * width + j
                        if s2 + 7 - offset < 0 || s0 - offset >= span { continue }
                        var src = grid + front - offset
                        var wt = packed + ((blk * kk + i * kw + j) * co) * 4
                        for _ in 0..<co {
                            let u = load8(src + s0), v = load8(src + s1), z = load8(src + s2)
                            let w0 = SIMD8<Float>(repeating: wt[0]), w1 = SIMD8<Float>(repeating: wt[1])
                            let w2 = SIMD8<Float>(repeating: wt[2]), w3 = SIMD8<Float>(repeating: wt[3])
                            a0 = a0.addingProduct(u, w0); c0 = c0.addingProduct(v, w0); e0 = e0.addingProduct(z, w0)
                            a1 = a1.addingProduct(u, w1); c1 = c1.addingProduct(v, w1); e1 = e1.addingProduct(z, w1)
                            a2 = a2.addingProduct(u, w2); c2 = c2.addingProduct(v, w2); e2 = e2.addingProduct(z, w2)
                            a3 = a3.addingProduct(u, w3); c3 = c3.addingProduct(v, w3); e3 = e3.addingProduct(z, w3)
                            src += rowLength; wt += 4
                        }
                    } }
                    store8(a0, rows + s0); store8(c0, rows + s1); store8(e0, rows + s2)
                    store8(a1, rows + hw + s0); store8(c1, rows + hw + s1); store8(e1, rows + hw + s2)
                    store8(a2, rows + 2 * hw + s0); store8(c2, rows + 2 * hw + s1); store8(e2, rows + 2 * hw + s2)
                    store8(a3, rows + 3 * hw + s0); store8(c3, rows + 3 * hw + s1); store8(e3, rows + 3 * hw + s2)
                }
                for k in 0..<Swift.min(4, ci - blk * 4) {
                    let d = dx + (b * ci + blk * 4 + k) * hw, r = rows + k * hw
                    for p in 0..<hw { d[p] += r[p] }
                }
            }
        }
    }
}

// MARK: Padded convolutions on the flat kernels (ResNet's 3×3 stride-1 padding-1 layers)
//
// A convolution with padding p is the unpadded one of the zero-padded input, H + 2p × W + 2p:
// each image is copied into a zero-bordered buffer and handed to the flat kernels above (grid
// width W + 2p, so 2p junk columns per row). The batch is cut into `paddedGroups` fixed groups of
// images spread over the cores; a group copies `paddedImages` images at a time (small enough to
// stay in L2 with the kernels' buffers). Weight gradients are summed per group and the groups'
// sums added in group order, so results do not depend on the number of workers.

extension ConvolutionKernels {
    /// Image groups of a padded flat convolution (fixed: results must not depend on the core count).
    static let paddedGroups = 4
    /// Images copied and convolved at once within a group.
    static let paddedImages = 4

    /// Whether the flat kernels handle `g`: stride 1 and a grid span (of the padded input) ≥ 8.
    static func flatApplies(_ g: ConvolutionGeometry) -> Bool {
        g.stride == 1 && flatSpan(paddedGeometry(g, images: 1)) >= 8
    }

    /// `n` images of `g` with the padding made part of the input: H + 2p × W + 2p, padding 0.
    static func paddedGeometry(_ g: ConvolutionGeometry, images n: Int) -> ConvolutionGeometry {
        ConvolutionGeometry(batch: n, channels: g.channels, height: g.height + 2 * g.padding, width: g.width + 2 * g.padding,
                            kernelHeight: g.kernelHeight, kernelWidth: g.kernelWidth, stride: g.stride, padding: 0)
    }

    /// xp [n, C, H + 2p, W + 2p] = images `images` of x [B, C, H, W] with zero borders of p.
    static func padImages(_ x: UnsafePointer<Float>, _ xp: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, images: Range<Int>) {
        let (h, w, p, c) = (g.height, g.width, g.padding, g.channels)
        let (hp, wp) = (h + 2 * p, w + 2 * p)
        for (k, b) in images.enumerated() { for ch in 0..<c {
            let src = x + (b * c + ch) * h * w, dst = xp + (k * c + ch) * hp * wp
            dst.update(repeating: 0, count: p * wp)
            for iy in 0..<h {
                let row = dst + (iy + p) * wp
                for i in 0..<p { row[i] = 0; row[wp - 1 - i] = 0 }
                copyRow(row + p, src + iy * w, count: w)
            }
            (dst + (h + p) * wp).update(repeating: 0, count: p * wp)
        } }
    }

    /// body(group, its images, a buffer of `paddedImages` padded images) for the fixed image
    /// groups of a batch, spread over the cores.
    private static func forEachPaddedGroup(_ g: ConvolutionGeometry, _ body: (Int, Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        forEachImageGroup(batch: g.batch, imageSize: g.channels * (g.height + 2 * g.padding) * (g.width + 2 * g.padding), body)
    }

    /// body(group, its images, a buffer of `paddedImages` images of `imageSize` floats) for the
    /// fixed image groups of a batch, spread over the cores.
    static func forEachImageGroup(batch: Int, imageSize: Int, _ body: (Int, Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        let groups = Swift.min(paddedGroups, batch)
        Parallel.forEach(groups) { i in
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: paddedImages * imageSize)
            defer { buffer.deallocate() }
            body(i, i * batch / groups..<(i + 1) * batch / groups, buffer)
        }
    }

    /// Forward of a stride-1 convolution with padding on the flat kernels (overwrites y).
    /// x [B, Ci, H, W], w [Co, Ci, kh, kw], bias [Co] or nil → y [B, Co, OH, OW].
    public static func paddedFlatConvolution(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                             _ y: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(flatApplies(g), "paddedFlatConvolution needs stride 1 and a padded grid span ≥ 8")
        let outImage = co * g.outputPixels
        forEachPaddedGroup(g) { _, images, xp in
            for s in stride(from: images.lowerBound, to: images.upperBound, by: paddedImages) {
                let part = s..<Swift.min(s + paddedImages, images.upperBound)
                padImages(x, xp, g, images: part)
                flatConvolution(xp, w, bias, y + s * outImage, paddedGeometry(g, images: part.count), outChannels: co)
            }
        }
    }

    /// Weight gradient, accumulating: dw [Co, T] += Σ over the batch (per group, then the groups in order).
    public static func paddedFlatConvolutionWeightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                                           _ dw: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(flatApplies(g), "paddedFlatConvolutionWeightGradient needs stride 1 and a padded grid span ≥ 8")
        let outImage = co * g.outputPixels, size = co * g.patchLength, groups = Swift.min(paddedGroups, g.batch)
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: groups * size)   // [groups, Co, T]
        partial.initialize(repeating: 0, count: groups * size)
        defer { partial.deallocate() }
        forEachPaddedGroup(g) { group, images, xp in
            for s in stride(from: images.lowerBound, to: images.upperBound, by: paddedImages) {
                let part = s..<Swift.min(s + paddedImages, images.upperBound)
                padImages(x, xp, g, images: part)
                flatConvolutionWeightGradient(xp, dy + s * outImage, partial + group * size, paddedGeometry(g, images: part.count), outChannels: co)
            }
        }
        for group in 0..<groups { let p = partial + group * size; for e in 0..<size { dw[e] += p[e] } }
    }

    /// Input gradient, accumulating: dx [B, Ci, H, W] += the interior of the padded input's gradient.
    public static func paddedFlatConvolutionInputGradient(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                          _ dx: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(flatApplies(g), "paddedFlatConvolutionInputGradient needs stride 1 and a padded grid span ≥ 8")
        let (h, w0, p, c) = (g.height, g.width, g.padding, g.channels)
        let (hp, wp) = (h + 2 * p, w0 + 2 * p), outImage = co * g.outputPixels
        forEachPaddedGroup(g) { _, images, dxp in
            for s in stride(from: images.lowerBound, to: images.upperBound, by: paddedImages) {
                let part = s..<Swift.min(s + paddedImages, images.upperBound)
                dxp.update(repeating: 0, count: part.count * c * hp * wp)
                flatConvolutionInputGradient(dy + s * outImage, w, dxp, paddedGeometry(g, images: part.count), outChannels: co)
                for (k, b) in part.enumerated() { for ch in 0..<c {
                    let src = dxp + (k * c + ch) * hp * wp + p * wp + p, dst = dx + (b * c + ch) * h * w0
                    for iy in 0..<h { let d = dst + iy * w0, r = src + iy * wp; for ix in 0..<w0 { d[ix] += r[ix] } }
                } }
            }
        }
    }
}
