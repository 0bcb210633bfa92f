// Direct (im2col-free) convolution for stride 1, no padding and output rows of ≥ 8 pixels —
// the zoo CNNs' layers with few channels (Conv(1,8,5) on 28×28, Conv(8,6,5) on 12×12), where
// im2col + a skinny GEMM spends its time copying. Explicit SIMD8 (one ymm register) over output
// columns ox; rows shorter than a multiple of 8 use an overlapping last chunk (forward) or a
// scalar tail (backward). Summation order is fixed, so results are deterministic.
//
// Shape legend as in ConvolutionKernels.swift; T = Ci·kh·kw taps, tap t = (c, i, j) sits at
// offset off[t] = (c·H + i)·W + j of an input image, so x[b, c, oy + i, ox + j] = xb[off[t] + oy·W + ox].

/// Eight floats at `p` (unaligned).
@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}
/// Stores eight floats at `p` (unaligned).
@inline(__always) private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

extension ConvolutionKernels {
    /// Whether the direct kernels handle geometry `g`: stride 1, no padding, OW ≥ 8.
    public static func directApplies(_ g: ConvolutionGeometry) -> Bool {
        g.stride == 1 && g.padding == 0 && g.outputWidth >= 8
    }

    /// Input offsets off[t] of the T taps (legend above).
    static func tapOffsets(_ g: ConvolutionGeometry) -> [Int] {
        var off: [Int] = []
        off.reserveCapacity(g.patchLength)
        for c in 0..<g.channels { for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth { off.append((c * g.height + i) * g.width + j) } } }
        return off
    }

    /// Forward: y[b, o, oy, ox] = bias[o] + Σ_t w[o, t] · x[b, off[t] + oy·W + ox].
    /// x [B, Ci, H, W], w [Co, T], bias [Co] or nil → y [B, Co, OH, OW] (overwritten).
    /// Register block: 4 output channels × 2 output rows (8 independent SIMD8 accumulators, enough
    /// to hide the FMA latency); per tap two input loads and four weight broadcasts feed 8 FMAs.
    /// Weights are packed [⌈Co/4⌉, T, 4] (zero-padded); an odd last row is computed twice.
    public static func directConvolution(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                         _ y: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(directApplies(g), "directConvolution needs stride 1, no padding, OW ≥ 8")
        let (oh, ow, taps) = (g.outputHeight, g.outputWidth, g.patchLength)
        let image = g.channels * g.height * g.width, blocks = (co + 3) / 4, chunks = (ow + 7) / 8, plane = oh * ow
        // packed weights [blocks, T, 4] and bias [blocks, 4]
        var packed = [Float](repeating: 0, count: blocks * taps * 4), packedBias = [Float](repeating: 0, count: blocks * 4)
        for o in 0..<co {
            for t in 0..<taps { packed[((o / 4) * taps + t) * 4 + o % 4] = w[o * taps + t] }
            packedBias[o] = bias?[o] ?? 0
        }
        let off = tapOffsets(g)
        packed.withUnsafeBufferPointer { wp in packedBias.withUnsafeBufferPointer { bp in off.withUnsafeBufferPointer { offp in
            for b in 0..<g.batch {
                let xb = x + b * image
                for blk in 0..<blocks {
                    let wb = wp.baseAddress! + blk * taps * 4, bb = bp.baseAddress! + blk * 4
                    let oc = Swift.min(4, co - blk * 4)
                    let yb = y + (b * co + blk * 4) * plane
                    for oy in stride(from: 0, to: oh, by: 2) { for q in 0..<chunks {
                        let oy1 = Swift.min(oy + 1, oh - 1), ox = Swift.min(q * 8, ow - 8)
                        let s0 = xb + oy * g.width + ox, s1 = xb + oy1 * g.width + ox
                        var a0 = SIMD8<Float>(repeating: bb[0]), a1 = SIMD8<Float>(repeating: bb[1])
                        var a2 = SIMD8<Float>(repeating: bb[2]), a3 = SIMD8<Float>(repeating: bb[3])
                        var c0 = a0, c1 = a1, c2 = a2, c3 = a3
                        for t in 0..<taps {
                            let u = load8(s0 + offp[t]), v = load8(s1 + offp[t]), wt = wb + t * 4
                            let w0 = SIMD8<Float>(repeating: wt[0]), w1 = SIMD8<Float>(repeating: wt[1])
                            let w2 = SIMD8<Float>(repeating: wt[2]), w3 = SIMD8<Float>(repeating: wt[3])
                            a0 = a0.addingProduct(u, w0); c0 = c0.addingProduct(v, w0)
                            a1 = a1.addingProduct(u, w1); c1 = c1.addingProduct(v, w1)
                            a2 = a2.addingProduct(u, w2); c2 = c2.addingProduct(v, w2)
                            a3 = a3.addingProduct(u, w3); c3 = c3.addingProduct(v, w3)
                        }
                        let d0 = yb + oy * ow + ox, d1 = yb + oy1 * ow + ox
                        store8(a0, d0); store8(c0, d1)
                        if oc > 1 { store8(a1, d0 + plane); store8(c1, d1 + plane) }
                        if oc > 2 { store8(a2, d0 + 2 * plane); store8(c2, d1 + 2 * plane) }
                        if oc > 3 { store8(a3, d0 + 3 * plane); store8(c3, d1 + 3 * plane) }
                    } }
                }
            }
        } } }
    }

    /// Weight gradient, accumulating: dw[o, t] += Σ_{b, oy, ox} dy[b, o, oy, ox] · x[b, off[t] + oy·W + ox].
    /// x [B, Ci, H, W], dy [B, Co, OH, OW], dw [Co, T]. Register block: 4 output channels × 2
    /// output rows (8 independent accumulators, few enough pointers to stay in registers); lane
    /// partial sums live in a [Co, T] SIMD8 buffer over the batch and are reduced once at the
    /// end; columns past the last full chunk and an odd last row go to scalar / single-row sums.
    public static func directConvolutionWeightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                                       _ dw: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(directApplies(g), "directConvolutionWeightGradient needs stride 1, no padding, OW ≥ 8")
        let (oh, ow, taps, width) = (g.outputHeight, g.outputWidth, g.patchLength, g.width)
        let image = g.channels * g.height * g.width, plane = oh * ow, full = ow / 8
        let off = tapOffsets(g)
        // lane partial sums [Co, T] (SIMD8) and scalar tail sums [Co, T]
        var lanes = [SIMD8<Float>](repeating: .zero, count: co * taps), tails = [Float](repeating: 0, count: co * taps)
        lanes.withUnsafeMutableBufferPointer { lp in tails.withUnsafeMutableBufferPointer { tp in off.withUnsafeBufferPointer { offp in
            let acc = lp.baseAddress!, tail = tp.baseAddress!
            for b in 0..<g.batch {
                let xb = x + b * image, gb = dy + b * co * plane
                for o in stride(from: 0, to: co, by: 4) {
                    // channels o…o+3; missing ones (o+k ≥ Co) repeat the last channel and are not stored
                    let oc = Swift.min(4, co - o)
                    let g0 = gb + o * plane, g1 = gb + Swift.min(o + 1, co - 1) * plane
                    let g2 = gb + Swift.min(o + 2, co - 1) * plane, g3 = gb + Swift.min(o + 3, co - 1) * plane
                    for t in 0..<taps {
                        let at = acc + o * taps + t
                        var a0 = at[0], a1 = oc > 1 ? at[taps] : .zero, a2 = oc > 2 ? at[2 * taps] : .zero, a3 = oc > 3 ? at[3 * taps] : .zero
                        var c0 = SIMD8<Float>.zero, c1 = c0, c2 = c0, c3 = c0
                        let src = xb + offp[t]
                        var oy = 0
                        while oy < oh {
                            let two = oy + 1 < oh
                            for q in 0..<full {
                                let e = oy * ow + q * 8, s = src + oy * width + q * 8
                                let u = load8(s)
                                a0 = a0.addingProduct(u, load8(g0 + e)); a1 = a1.addingProduct(u, load8(g1 + e))
                                a2 = a2.addingProduct(u, load8(g2 + e)); a3 = a3.addingProduct(u, load8(g3 + e))
                                if two {
                                    let v = load8(s + width), f = e + ow
                                    c0 = c0.addingProduct(v, load8(g0 + f)); c1 = c1.addingProduct(v, load8(g1 + f))
                                    c2 = c2.addingProduct(v, load8(g2 + f)); c3 = c3.addingProduct(v, load8(g3 + f))
                                }
                            }
                            for r in oy..<(two ? oy + 2 : oy + 1) {
                                for ox in (full * 8)..<ow {
                                    let v = src[r * width + ox], e = r * ow + ox
                                    tail[o * taps + t] += v * g0[e]
                                    if oc > 1 { tail[(o + 1) * taps + t] += v * g1[e] }
                                    if oc > 2 { tail[(o + 2) * taps + t] += v * g2[e] }
                                    if oc > 3 { tail[(o + 3) * taps + t] += v * g3[e] }
                                }
                            }
                            oy += 2
                        }
                        at[0] = a0 + c0
                        if oc > 1 { at[taps] = a1 + c1 }
                        if oc > 2 { at[2 * taps] = a2 + c2 }
                        if oc > 3 { at[3 * taps] = a3 + c3 }
                    }
                }
            }
            for e in 0..<(co * taps) { dw[e] += acc[e].sum() + tail[e] }
        } } }
    }

    /// Input gradient, accumulating: dx[b, c, iy, ix] += Σ_{o, i, j} w[o, c, i, j] · dy[b, o, iy − i, ix − j]
    /// (terms outside dy are 0). That is a forward `directConvolution` of dy zero-padded by
    /// (kh − 1, kw − 1) on each side — [B, Co, H + kh − 1, W + kw − 1] — with the kernel flipped
    /// and its channel axes swapped, w'[c, o, i, j] = w[o, c, kh−1−i, kw−1−j]; the result
    /// [B, Ci, H, W] is added to dx. dy [B, Co, OH, OW], w [Co, Ci, kh, kw], dx [B, Ci, H, W].
    public static func directConvolutionInputGradient(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                      _ dx: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(directApplies(g), "directConvolutionInputGradient needs stride 1, no padding, OW ≥ 8")
        let (oh, ow, kh, kw, ci) = (g.outputHeight, g.outputWidth, g.kernelHeight, g.kernelWidth, g.channels)
        let (ph, pw) = (oh + 2 * (kh - 1), ow + 2 * (kw - 1))
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: g.batch * co * ph * pw)   // [B, Co, PH, PW]
        padded.initialize(repeating: 0, count: g.batch * co * ph * pw)
        for p in 0..<(g.batch * co) {
            for oy in 0..<oh { (padded + (p * ph + oy + kh - 1) * pw + kw - 1).update(from: dy + (p * oh + oy) * ow, count: ow) }
        }
        let flipped = UnsafeMutablePointer<Float>.allocate(capacity: ci * co * kh * kw)   // [Ci, Co, kh, kw]
        for o in 0..<co { for c in 0..<ci { for i in 0..<kh { for j in 0..<kw {
            flipped[((c * co + o) * kh + kh - 1 - i) * kw + kw - 1 - j] = w[((o * ci + c) * kh + i) * kw + j]
        } } } }
        let n = g.batch * ci * g.height * g.width
        let result = UnsafeMutablePointer<Float>.allocate(capacity: n)   // [B, Ci, H, W]
        let transposed = ConvolutionGeometry(batch: g.batch, channels: co, height: ph, width: pw, kernelHeight: kh, kernelWidth: kw, stride: 1, padding: 0)
        directConvolution(padded, flipped, nil, result, transposed, outChannels: ci)
        for e in 0..<n { dx[e] += result[e] }
        padded.deallocate(); flipped.deallocate(); result.deallocate()
    }
}

extension ConvolutionKernels {
    /// Per-channel sums, accumulating: s[c] += Σ_{b, k} x[b, c, k]. x [B, C, S], s [C]. Eight
    /// running SIMD lanes per plane (a fixed order), then one horizontal sum and a scalar tail.
    public static func channelSums(_ x: UnsafePointer<Float>, _ s: UnsafeMutablePointer<Float>, batch: Int, channels: Int, spatial: Int) {
        let full = spatial / 8
        for c in 0..<channels {
            var lanes = SIMD8<Float>.zero, tail: Float = 0
            for b in 0..<batch {
                let p = x + (b * channels + c) * spatial
                for q in 0..<full { lanes += load8(p + q * 8) }
                for k in (full * 8)..<spatial { tail += p[k] }
            }
            s[c] += lanes.sum() + tail
        }
    }
}
