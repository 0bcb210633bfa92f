// Direct convolution with the images on the SIMD lanes ("lanes" layout) for stride-1 layers with
// small planes — CNN3's 16 → 32 layer on 15×15 (OW 13) and 32 → 15 on 6×6 (OW 4), where the flat
// kernels (ConvolutionKernels+Flat.swift) compute junk columns, round the grid up to chunks of 8
// and, in the input gradient, multiply the full correlation's zero border.
//
// Shape legend as in ConvolutionKernels.swift; p = padding, Hx×Wx = H + 2p × W + 2p. The batch is
// cut into groups of eight images b0..<b0 + 8, and a group is re-laid so that the eight images of
// one (channel, row, column) are one SIMD8 vector:
//
//     xl [Ci, Hx, Wx, 8],  xl[c, iy + p, ix + p, k] = x[b0 + k, c, iy, ix]     (0 on the border
//                                                                              and in lanes ≥ B − b0)
//
// Then every sum of the layer is a sum of whole-vector FMAs with a broadcast weight, one lane per
// image: no junk columns, no chunk rounding, no shuffles:
//
//     yl[o, oy, ox] = bias[o] + Σ_{c,i,j} w[o, c, i, j] · xl[c, oy + i, ox + j]
//     dw[o, c, i, j] += Σ_lanes Σ_{oy,ox} dyl[o, oy, ox] · xl[c, oy + i, ox + j]
//     dxl[c, iy, ix] = Σ_{o,i,j} w[o, c, i, j] · dyl[o, iy + p − i, ix + p − j]   (0 ≤ iy + p − i < OH)
//
// with dyl [Co, OH + 2(kh − 1), OW + 2(kw − 1), 8] the group's dy behind a zero border of kh − 1
// rows and kw − 1 columns (read by the input gradient's edge columns; its rows are skipped
// exactly). The groups are spread over the cores; the weight gradient is summed per group
// (each (o, t) in one register over the group's pixels, then its eight lanes in order) and the
// groups' sums added in group order, so results do not depend on the number of workers.

extension ConvolutionKernels {
    /// Images per group: the SIMD8 lanes.
    static let laneImages = 8

    /// Whether the lanes kernels handle `g`: stride 1 (any kernel, any padding).
    static func lanesApplies(_ g: ConvolutionGeometry) -> Bool { g.stride == 1 }

    /// The lanes plane of x: Hx×Wx = H + 2p × W + 2p, the padded input.
    static func lanesPlane(_ g: ConvolutionGeometry) -> (Int, Int) { (g.height + 2 * g.padding, g.width + 2 * g.padding) }

    /// The forward pass's workspace, x on the lanes: [⌈B/8⌉, Ci, Hx, Wx, 8].
    public static func lanesWorkspaceShape(_ g: ConvolutionGeometry) -> [Int] {
        let (hx, wx) = lanesPlane(g)
        return [(g.batch + laneImages - 1) / laneImages, g.channels, hx, wx, laneImages]
    }

    /// xl [C, Hx, Wx, 8] = images `images` (at most 8) of x [B, C, H, W] on the lanes at row and
    /// column p, zero elsewhere and in the lanes past `images.count`.
    static func toLanes(_ x: UnsafePointer<Float>, _ xl: UnsafeMutablePointer<Float>, channels: Int, height h: Int, width w: Int,
                        padding p: Int, images: Range<Int>, hx: Int, wx: Int) {
        if p > 0 || images.count < laneImages { xl.update(repeating: 0, count: channels * hx * wx * laneImages) }
        scatterToLanes(x + images.lowerBound * channels * h * w, imageStride: channels * h * w, images: images.count, channels: channels,
                       rows: h, columns: w, xl + (p * wx + p) * laneImages, channelStride: hx * wx * laneImages, rowStride: wx * laneImages)
    }

    /// dst[c·channelStride + r·rowStride + col·8 + k] = src[k·imageStride + (c·rows + r)·columns + col]
    /// for k < `images` (≤ 8; the other lanes are left alone): planes of rows × columns onto the
    /// lanes. Eight columns at a time by an 8×8 transpose in registers (the last eight of a row
    /// overlapping), or eight values of the plane at a time where the destination rows are
    /// contiguous; one by one below eight.
    static func scatterToLanes(_ src: UnsafePointer<Float>, imageStride: Int, images n: Int, channels: Int, rows: Int, columns: Int,
                               _ dst: UnsafeMutablePointer<Float>, channelStride: Int, rowStride: Int) {
        let l = laneImages, plane = rows * columns
        @inline(__always) func eight(_ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>) {
            // rows k = images, columns = 8 consecutive values → 8 lane vectors
            @inline(__always) func row(_ k: Int) -> SIMD8<Float> { k < n ? load8(s + k * imageStride) : .zero }
            let t = transpose8x8((row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7)))
            store8(t.0, d); store8(t.1, d + l); store8(t.2, d + 2 * l); store8(t.3, d + 3 * l)
            store8(t.4, d + 4 * l); store8(t.5, d + 5 * l); store8(t.6, d + 6 * l); store8(t.7, d + 7 * l)
        }
        for c in 0..<channels {
            let sc = src + c * plane, dc = dst + c * channelStride
            if columns >= 8 {
                for r in 0..<rows {
                    for col in stride(from: 0, to: columns, by: 8) {
                        let c0 = Swift.min(col, columns - 8)
                        eight(sc + r * columns + c0, dc + r * rowStride + c0 * l)
                    }
                }
            } else if rowStride == columns * l && plane >= 8 {
                for q in stride(from: 0, to: plane, by: 8) {
                    let q0 = Swift.min(q, plane - 8)
                    eight(sc + q0, dc + q0 * l)
                }
            } else {
                for k in 0..<n { for r in 0..<rows { for col in 0..<columns {
                    dc[r * rowStride + col * l + k] = sc[k * imageStride + r * columns + col]
                } } }
            }
        }
    }

    /// dst[b, c, s] (+)= src[c, s, k] for images `images` (b = images.lowerBound + k); src [C, S, 8],
    /// dst [B, C, S]. Overwrites dst unless `accumulate`. Eight values of a plane at a time by an
    /// 8×8 transpose in registers, the rest one by one.
    static func fromLanes(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, channels: Int, spatial: Int,
                          images: Range<Int>, accumulate: Bool) {
        let l = laneImages, n = images.count, full = spatial / 8 * 8
        for c in 0..<channels {
            let s = src + c * spatial * l, d = dst + (images.lowerBound * channels + c) * spatial, imageStride = channels * spatial
            for q in stride(from: 0, to: full, by: 8) {
                let v = s + q * l
                let t = transpose8x8((load8(v), load8(v + l), load8(v + 2 * l), load8(v + 3 * l),
                                      load8(v + 4 * l), load8(v + 5 * l), load8(v + 6 * l), load8(v + 7 * l)))
                withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 8) { r in
                    r[0] = t.0; r[1] = t.1; r[2] = t.2; r[3] = t.3; r[4] = t.4; r[5] = t.5; r[6] = t.6; r[7] = t.7
                    for k in 0..<n {
                        let o = d + k * imageStride + q
                        store8(accumulate ? load8(o) + r[k] : r[k], o)
                    }
                }
            }
            for k in 0..<n {
                let o = d + k * imageStride
                if accumulate { for q in full..<spatial { o[q] += s[q * l + k] } } else { for q in full..<spatial { o[q] = s[q * l + k] } }
            }
        }
    }

    /// Forward: y[b, o, oy, ox] = bias[o] + Σ_{c,i,j} w[o, c, i, j] · x[b, c, oy + i − p, ox + j − p]
    /// (overwrites y). x [B, Ci, H, W], w [Co, Ci, kh, kw], bias [Co] or nil → y [B, Co, OH, OW].
    /// Per group: register block of 4 output channels × 3 output pixels (12 accumulators, pixels
    /// numbered q = oy·OW + ox across rows, the last block overlapping); per tap three loads and
    /// four weight broadcasts feed 12 FMAs. Weights packed [⌈Co/4⌉, T, 4] (zero-padded).
    /// The batch on the lanes is left in `lanes` [⌈B/8⌉, Ci, Hx, Wx, 8] (`lanesWorkspaceShape`)
    /// for the backward pass.
    @inline(never)
    public static func lanesConvolution(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                        _ y: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int,
                                        lanes: UnsafeMutablePointer<Float>) {
        precondition(lanesApplies(g), "lanesConvolution needs stride 1")
        let (oh, ow, taps, p) = (g.outputHeight, g.outputWidth, g.patchLength, g.padding)
        let (hx, wx) = lanesPlane(g), plane = oh * ow, blocks = (co + 3) / 4, l = laneImages
        let groups = (g.batch + l - 1) / l
        let (packed, packedBias) = packedWeights(w, bias, outChannels: co, taps: taps)        // [blocks, T, 4], [blocks, 4]
        // tap offsets on xl [T] and output pixel offsets on xl [P]
        let tapOffset = UnsafeMutablePointer<Int>.allocate(capacity: taps), pixel = UnsafeMutablePointer<Int>.allocate(capacity: plane)
        for c in 0..<g.channels { for i in 0..<g.kernelHeight { for j in 0..<g.kernelWidth {
            tapOffset[(c * g.kernelHeight + i) * g.kernelWidth + j] = ((c * hx + i) * wx + j) * l
        } } }
        for oy in 0..<oh { for ox in 0..<ow { pixel[oy * ow + ox] = (oy * wx + ox) * l } }
        defer { packed.deallocate(); packedBias.deallocate(); tapOffset.deallocate(); pixel.deallocate() }
        Parallel.forEach(groups) { group in
            let images = group * l..<Swift.min(g.batch, (group + 1) * l)
            let xl = lanes + group * g.channels * hx * wx * l                                // [Ci, Hx, Wx, 8]
            let yl = UnsafeMutablePointer<Float>.allocate(capacity: co * plane * l)             // [Co, P, 8]
            defer { yl.deallocate() }
            toLanes(x, xl, channels: g.channels, height: g.height, width: g.width, padding: p, images: images, hx: hx, wx: wx)
            for blk in 0..<blocks {
                let wb = packed + blk * taps * 4, bb = packedBias + blk * 4
                for q in stride(from: 0, to: plane, by: 3) {
                    let q0 = Swift.max(0, Swift.min(q, plane - 3)), q1 = Swift.min(q0 + 1, plane - 1), q2 = Swift.min(q0 + 2, plane - 1)
                    let p0 = UnsafePointer(xl + pixel[q0]), p1 = UnsafePointer(xl + pixel[q1]), p2 = UnsafePointer(xl + pixel[q2])
                    var a0 = SIMD8<Float>(repeating: bb[0]), a1 = SIMD8<Float>(repeating: bb[1])
                    var a2 = SIMD8<Float>(repeating: bb[2]), a3 = SIMD8<Float>(repeating: bb[3])
                    var c0 = a0, c1 = a1, c2 = a2, c3 = a3
                    var e0 = a0, e1 = a1, e2 = a2, e3 = a3
                    for t in 0..<taps {
                        let off = tapOffset[t], wt = wb + t * 4
                        let u = load8(p0 + off), v = load8(p1 + off), z = load8(p2 + off)
                        let w0 = SIMD8<Float>(repeating: wt[0]), w1 = SIMD8<Float>(repeating: wt[1])
                        let w2 = SIMD8<Float>(repeating: wt[2]), w3 = SIMD8<Float>(repeating: wt[3])
                        a0 = a0.addingProduct(u, w0); c0 = c0.addingProduct(v, w0); e0 = e0.addingProduct(z, w0)
                        a1 = a1.addingProduct(u, w1); c1 = c1.addingProduct(v, w1); e1 = e1.addingProduct(z, w1)
                        a2 = a2.addingProduct(u, w2); c2 = c2.addingProduct(v, w2); e2 = e2.addingProduct(z, w2)
                        a3 = a3.addingProduct(u, w3); c3 = c3.addingProduct(v, w3); e3 = e3.addingProduct(z, w3)
                    }
                    let o = blk * 4, r0 = (o * plane) * l, r1 = (Swift.min(o + 1, co - 1) * plane) * l
                    let r2 = (Swift.min(o + 2, co - 1) * plane) * l, r3 = (Swift.min(o + 3, co - 1) * plane) * l
                    // a missing channel (o + k ≥ Co) writes its (zero-weight) sums into the last channel's rows
                    // first, which the real channel's store then overwrites: stores go k = 3, 2, 1, 0
                    store8(a3, yl + r3 + q0 * l); store8(c3, yl + r3 + q1 * l); store8(e3, yl + r3 + q2 * l)
                    store8(a2, yl + r2 + q0 * l); store8(c2, yl + r2 + q1 * l); store8(e2, yl + r2 + q2 * l)
                    store8(a1, yl + r1 + q0 * l); store8(c1, yl + r1 + q1 * l); store8(e1, yl + r1 + q2 * l)
                    store8(a0, yl + r0 + q0 * l); store8(c0, yl + r0 + q1 * l); store8(e0, yl + r0 + q2 * l)
                }
            }
            fromLanes(yl, y, channels: co, spatial: plane, images: images, accumulate: false)
        }
    }

    /// Backward, accumulating: dw[o, c, i, j] += Σ_{b,oy,ox} dy[b, o, oy, ox] · x[b, c, oy + i − p, ox + j − p]
    /// and dx[b, c, iy, ix] += Σ_{o,i,j} w[o, c, i, j] · dy[b, o, iy + p − i, ix + p − j] (in range),
    /// for whichever of dw [Co, Ci, kh, kw], dx [B, Ci, H, W] is given. x [B, Ci, H, W],
    /// dy [B, Co, OH, OW], w [Co, Ci, kh, kw]; `lanes` is the forward pass's x on the lanes (or
    /// nil: x is re-laid here). Per group dy goes onto the lanes once (dyl, legend
    /// above) for both. Weight gradient: register block of 4 output channels × 3 taps; per output
    /// pixel four dy loads and three x loads feed 12 FMAs; each block's sums are reduced over
    /// their lanes into the group's [Co, T] partial. Input gradient: register block of 4 input
    /// channels × 3 pixels of one input row (the last block of a row overlapping); per
    /// (o, i, j), i over the rows where dy exists, three dy loads and four weight broadcasts feed
    /// 12 FMAs. Weights for it packed [⌈Ci/4⌉, kh, kw, Co, 4] (zero-padded).
    @inline(never)
    public static func lanesConvolutionBackward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, lanes: UnsafePointer<Float>?,
                                                w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?,
                                                _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(lanesApplies(g), "lanesConvolutionBackward needs stride 1")
        guard dx != nil || dw != nil else { return }
        let (oh, ow, kh, kw, ci, p) = (g.outputHeight, g.outputWidth, g.kernelHeight, g.kernelWidth, g.channels, g.padding)
        let (h, wd, taps, kk) = (g.height, g.width, g.patchLength, g.kernelHeight * g.kernelWidth)
        let (hx, wx) = lanesPlane(g), plane = oh * ow, l = laneImages
        let (dh, dwd) = (oh + 2 * (kh - 1), ow + 2 * (kw - 1)), dyPlane = dh * dwd * l   // dyl [Co, dh, dwd, 8]
        let groups = (g.batch + l - 1) / l, cblocks = (ci + 3) / 4
        let tapOffset = UnsafeMutablePointer<Int>.allocate(capacity: taps)
        for c in 0..<ci { for i in 0..<kh { for j in 0..<kw { tapOffset[(c * kh + i) * kw + j] = ((c * hx + i) * wx + j) * l } } }
        // input-gradient weights [cblocks, kh, kw, Co, 4]
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: dx == nil ? 0 : cblocks * co * kk * 4)
        if dx != nil {
            packed.initialize(repeating: 0, count: cblocks * co * kk * 4)
            for o in 0..<co { for c in 0..<ci { for t in 0..<kk { packed[(((c / 4) * kk + t) * co + o) * 4 + c % 4] = w[(o * ci + c) * kk + t] } } }
        }
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: dw == nil ? 0 : groups * co * taps)   // [groups, Co, T]
        defer { tapOffset.deallocate(); packed.deallocate(); partial.deallocate() }
        Parallel.forEach(groups) { group in
            let images = group * l..<Swift.min(g.batch, (group + 1) * l)
            let dyl = UnsafeMutablePointer<Float>.allocate(capacity: co * dyPlane)
            defer { dyl.deallocate() }
            dyl.update(repeating: 0, count: co * dyPlane)
            scatterToLanes(dy + images.lowerBound * co * plane, imageStride: co * plane, images: images.count, channels: co, rows: oh,
                           columns: ow, dyl + ((kh - 1) * dwd + kw - 1) * l, channelStride: dyPlane, rowStride: dwd * l)
            if dw != nil {
                // [Ci, Hx, Wx, 8]: the forward pass's, or made here
                let made = lanes == nil ? UnsafeMutablePointer<Float>.allocate(capacity: ci * hx * wx * l) : nil
                defer { made?.deallocate() }
                if let made { toLanes(x, made, channels: ci, height: h, width: wd, padding: p, images: images, hx: hx, wx: wx) }
                let xl = made.map { UnsafePointer($0) } ?? lanes! + group * ci * hx * wx * l
                let part = partial + group * co * taps
                for o in stride(from: 0, to: co, by: 4) {
                    let oc = Swift.min(4, co - o), first = dyl + o * dyPlane + ((kh - 1) * dwd + kw - 1) * l
                    let d0 = UnsafePointer(first), d1 = d0 + (Swift.min(o + 1, co - 1) - o) * dyPlane
                    let d2 = d0 + (Swift.min(o + 2, co - 1) - o) * dyPlane, d3 = d0 + (Swift.min(o + 3, co - 1) - o) * dyPlane
                    for t in stride(from: 0, to: taps, by: 3) {
                        let x0 = UnsafePointer(xl + tapOffset[t]), x1 = UnsafePointer(xl + tapOffset[Swift.min(t + 1, taps - 1)])
                        let x2 = UnsafePointer(xl + tapOffset[Swift.min(t + 2, taps - 1)])
                        var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0   // tap t, channels o…o+3
                        var c0 = a0, c1 = a0, c2 = a0, c3 = a0                  // tap t+1
                        var e0 = a0, e1 = a0, e2 = a0, e3 = a0                  // tap t+2
                        for oy in 0..<oh {
                            let xr = oy * wx * l, dr = oy * dwd * l
                            for ox in 0..<ow {
                                let xq = xr + ox * l, dq = dr + ox * l
                                let u0 = load8(x0 + xq), u1 = load8(x1 + xq), u2 = load8(x2 + xq)
                                let v0 = load8(d0 + dq)
                                a0 = a0.addingProduct(u0, v0); c0 = c0.addingProduct(u1, v0); e0 = e0.addingProduct(u2, v0)
                                let v1 = load8(d1 + dq)
                                a1 = a1.addingProduct(u0, v1); c1 = c1.addingProduct(u1, v1); e1 = e1.addingProduct(u2, v1)
                                let v2 = load8(d2 + dq)
                                a2 = a2.addingProduct(u0, v2); c2 = c2.addingProduct(u1, v2); e2 = e2.addingProduct(u2, v2)
                                let v3 = load8(d3 + dq)
                                a3 = a3.addingProduct(u0, v3); c3 = c3.addingProduct(u1, v3); e3 = e3.addingProduct(u2, v3)
                            }
                        }
                        let at = part + o * taps + t
                        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { s in
                            s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3; s[4] = c0; s[5] = c1; s[6] = c2; s[7] = c3
                            s[8] = e0; s[9] = e1; s[10] = e2; s[11] = e3
                            for m in 0..<Swift.min(3, taps - t) { for k in 0..<oc { at[k * taps + m] = s[4 * m + k].sum() } }
                        }
                    }
                }
            }
            if let dx {
                let dxl = UnsafeMutablePointer<Float>.allocate(capacity: ci * h * wd * l)   // [Ci, H, W, 8]
                defer { dxl.deallocate() }
                for cb in 0..<cblocks {
                    let wb = packed + cb * co * kk * 4
                    for iy in 0..<h {
                        // rows i with 0 ≤ iy + p − i < OH; dyl row of (iy, i): iy + p − i + kh − 1
                        let iLo = Swift.max(0, iy + p - oh + 1), iHi = Swift.min(kh - 1, iy + p)
                        for ix in stride(from: 0, to: wd, by: 3) {
                            let x0 = Swift.max(0, Swift.min(ix, wd - 3)), x1 = Swift.min(x0 + 1, wd - 1), x2 = Swift.min(x0 + 2, wd - 1)
                            var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0   // pixel x0, channels 4cb…4cb+3
                            var c0 = a0, c1 = a0, c2 = a0, c3 = a0                  // pixel x1
                            var e0 = a0, e1 = a0, e2 = a0, e3 = a0                  // pixel x2
                            if iLo <= iHi {
                                for i in iLo...iHi {
                                    let row = UnsafePointer(dyl) + (iy + p - i + kh - 1) * dwd * l
                                    for j in 0..<kw {
                                        let col = p - j + kw - 1
                                        var s0 = row + (x0 + col) * l, s1 = row + (x1 + col) * l, s2 = row + (x2 + col) * l
                                        var wt = UnsafePointer(wb) + (i * kw + j) * co * 4
                                        for _ in 0..<co {
                                            let u = load8(s0), v = load8(s1), z = load8(s2)
                                            let w0 = SIMD8<Float>(repeating: wt[0]), w1 = SIMD8<Float>(repeating: wt[1])
                                            let w2 = SIMD8<Float>(repeating: wt[2]), w3 = SIMD8<Float>(repeating: wt[3])
                                            a0 = a0.addingProduct(u, w0); c0 = c0.addingProduct(v, w0); e0 = e0.addingProduct(z, w0)
                                            a1 = a1.addingProduct(u, w1); c1 = c1.addingProduct(v, w1); e1 = e1.addingProduct(z, w1)
                                            a2 = a2.addingProduct(u, w2); c2 = c2.addingProduct(v, w2); e2 = e2.addingProduct(z, w2)
                                            a3 = a3.addingProduct(u, w3); c3 = c3.addingProduct(v, w3); e3 = e3.addingProduct(z, w3)
                                            s0 += dyPlane; s1 += dyPlane; s2 += dyPlane; wt += 4
                                        }
                                    }
                                }
                            }
                            let c = cb * 4, r0 = c * h * wd * l, r1 = Swift.min(c + 1, ci - 1) * h * wd * l
                            let r2 = Swift.min(c + 2, ci - 1) * h * wd * l, r3 = Swift.min(c + 3, ci - 1) * h * wd * l
                            let q0 = (iy * wd + x0) * l, q1 = (iy * wd + x1) * l, q2 = (iy * wd + x2) * l
                            // a missing channel's (zero) sums land in the last channel first and are overwritten
                            store8(a3, dxl + r3 + q0); store8(c3, dxl + r3 + q1); store8(e3, dxl + r3 + q2)
                            store8(a2, dxl + r2 + q0); store8(c2, dxl + r2 + q1); store8(e2, dxl + r2 + q2)
                            store8(a1, dxl + r1 + q0); store8(c1, dxl + r1 + q1); store8(e1, dxl + r1 + q2)
                            store8(a0, dxl + r0 + q0); store8(c0, dxl + r0 + q1); store8(e0, dxl + r0 + q2)
                        }
                    }
                }
                fromLanes(dxl, dx, channels: ci, spatial: h * wd, images: images, accumulate: true)
            }
        }
        if let dw {
            for group in 0..<groups { let s = partial + group * co * taps; for e in 0..<(co * taps) { dw[e] += s[e] } }
        }
    }
}

#if arch(x86_64) && SANE_NATIVE
import _Builtin_intrinsics.intel
#endif

/// The 8×8 transpose of rows r: out.j[k] = r.k[j]. AVX build: the usual three stages of
/// unpack (32-bit, then 64-bit pairs within 128-bit halves) and 128-bit half exchange, 24
/// shuffles. Portable build: three perfect unshuffles of the 64 values (row-major position bits
/// r₂r₁r₀c₂c₁c₀ rotate right by one each time, so three swap row and column).
@inline(__always) func transpose8x8(_ r: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>))
    -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    #if arch(x86_64) && SANE_NATIVE
    // t: [r0₀ r1₀ r0₁ r1₁ | r0₄ r1₄ r0₅ r1₅] …
    let t0 = _mm256_unpacklo_ps(r.0, r.1), t1 = _mm256_unpackhi_ps(r.0, r.1)
    let t2 = _mm256_unpacklo_ps(r.2, r.3), t3 = _mm256_unpackhi_ps(r.2, r.3)
    let t4 = _mm256_unpacklo_ps(r.4, r.5), t5 = _mm256_unpackhi_ps(r.4, r.5)
    let t6 = _mm256_unpacklo_ps(r.6, r.7), t7 = _mm256_unpackhi_ps(r.6, r.7)
    @inline(__always) func lo(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)))
    }
    @inline(__always) func hi(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)))
    }
    // u0 = columns 0 and 4 of rows 0…3, u1 = columns 1 and 5, u2 = 2 and 6, u3 = 3 and 7; u4… rows 4…7
    let u0 = lo(t0, t2), u1 = hi(t0, t2), u2 = lo(t1, t3), u3 = hi(t1, t3)
    let u4 = lo(t4, t6), u5 = hi(t4, t6), u6 = lo(t5, t7), u7 = hi(t5, t7)
    return (SIMD8(lowHalf: u0.lowHalf, highHalf: u4.lowHalf), SIMD8(lowHalf: u1.lowHalf, highHalf: u5.lowHalf),
            SIMD8(lowHalf: u2.lowHalf, highHalf: u6.lowHalf), SIMD8(lowHalf: u3.lowHalf, highHalf: u7.lowHalf),
            SIMD8(lowHalf: u0.highHalf, highHalf: u4.highHalf), SIMD8(lowHalf: u1.highHalf, highHalf: u5.highHalf),
            SIMD8(lowHalf: u2.highHalf, highHalf: u6.highHalf), SIMD8(lowHalf: u3.highHalf, highHalf: u7.highHalf))
    #else
    @inline(__always) func unshuffle(_ r: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>))
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
        let a = SIMD16(lowHalf: r.0, highHalf: r.1), b = SIMD16(lowHalf: r.2, highHalf: r.3)
        let c = SIMD16(lowHalf: r.4, highHalf: r.5), d = SIMD16(lowHalf: r.6, highHalf: r.7)
        return (a.evenHalf, b.evenHalf, c.evenHalf, d.evenHalf, a.oddHalf, b.oddHalf, c.oddHalf, d.oddHalf)
    }
    return unshuffle(unshuffle(unshuffle(r)))
    #endif
}
