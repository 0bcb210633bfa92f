// Direct (im2col-free) convolution for stride 1, no padding and output rows of ≥ 8 pixels —
// the zoo CNNs' layers with few channels (Conv(1,8,5) on 28×28, Conv(8,6,5) on 12×12), where
// im2col + a skinny GEMM spends its time copying. Explicit SIMD8 (one ymm register) over output
// columns ox; rows shorter than a multiple of 8 use an overlapping last chunk (forward) or a
// scalar tail (backward). Summation order is fixed, so results are deterministic.
//
// Shape legend as in ConvolutionKernels.swift; T = Ci·kh·kw taps, tap t = (c, i, j) sits at
// offset off[t] = (c·H + i)·W + j of an input image, so x[b, c, oy + i, ox + j] = xb[off[t] + oy·W + ox].

extension ConvolutionKernels {
    /// Whether the row-blocked direct kernels handle geometry `g`: stride 1, no padding, OW ≥ 8.
    public static func directApplies(_ g: ConvolutionGeometry) -> Bool {
        g.stride == 1 && g.padding == 0 && g.outputWidth >= 8
    }

    /// Which kernels `conv2d` uses on the CPU for geometry `g` (`forcedAlgorithm` first, where it
    /// applies). The rule, from measurements on the zoo CNNs' layers (BENCHMARKS.md, "Training the
    /// CIFAR CNN"): stride 1 without padding runs direct — row-blocked (`rows`) when OW is a
    /// multiple of 8 (no wasted lanes: the MNIST CNN's OW 24 and 8, where it beat `flat` by
    /// 10–30 %), else on the input-width grid (`flat`: CNN3's OW 30, 13, 4, 1.3–4× faster than
    /// `rows`' partial chunks and scalar tails and than im2col + GEMM); padding or stride > 1
    /// (ResNets) or a grid span under 8 runs im2col + GEMM.
    ///
    /// Padded stride-1 layers (ResNet's 3×3 convolutions) run `flat` on a zero-padded copy of the
    /// input (ConvolutionKernels+Flat.swift) when they have at most 32 input channels and at least
    /// 64 output pixels, else im2col + GEMM. Measured with `sane bench conv --width 8|16|64`
    /// (BENCHMARKS.md, "Training ResNet-18"; forward + backward, batch 128, 2 threads): flat was
    /// 1.8–6× faster with 3–16 channels on 32×32 and 16×16, 1.0–1.5× with 32 channels on 16×16 and
    /// 8×8; im2col won with 64 or more channels on 8×8 and 4×4 (2–11×: the small padded planes
    /// waste lanes, and each image's weight-gradient blocks are too short), and on 64–128
    /// channels at 32×32 and 16×16 the two were within 10 %.
    ///
    /// The other 3×3 padding-1 stride-1 layers run Winograd F(2×2, 3×3)
    /// (ConvolutionKernels+Winograd.swift) with ≥ 64 channels and planes ≥ 8 wide, or ≥ 256
    /// channels, else im2col + GEMM. Measured with `sane bench conv` (BENCHMARKS.md, "Training
    /// ResNet-18", 2026-12-03 `rconv`; forward + backward, process CPU ms, loaded machine): width
    /// 64 — Winograd vs im2col 64 ch at 32×32 395 vs 474, 128 at 16×16 261 vs 397, 256 at 8×8
    /// 307 vs 332, 512 at 4×4 291 vs 354; width 8 — 64 ch at 4×4 12.6 vs 8.7 (a 4×4 plane is 4 tiles, so the
    /// transforms' eight-tile vectors run a quarter full and the GEMMs are tiny): im2col.
    ///
    /// Strided layers with a kernel larger than 1×1, at most 16 input channels and at least 256
    /// output pixels run `strided` (space-to-depth onto the flat kernels,
    /// ConvolutionKernels+Strided.swift), else im2col + GEMM. Measured with `sane bench conv`
    /// (BENCHMARKS.md, "ResNet-18 width 8: strided convolutions", 2026-12-03 `r8`; forward +
    /// backward, process CPU ms, loaded machine): 3×3 stride 2 — width 8, 8 → 16 on 32×32:
    /// strided 8.2–13.9 vs im2col 17.2–19.1; width 16, 16 → 32 on 32×32: 21.4 vs 29.6; with 64 or
    /// 16 output pixels per plane and 16–64 channels im2col tied or won (6.2 vs 6.3, 10.8 vs 4.6,
    /// 23.8 vs 17.3, 58.9 vs 17.0): the phase grids are too short for the flat weight-gradient
    /// blocks. 1×1 stride 2: within noise with 256 output pixels, im2col ahead below: im2col.
    ///
    /// Unpadded stride-1 layers with at least 8 input channels and at most 256 output pixels per
    /// plane run direct with the images on the SIMD lanes (`lanes`, ConvolutionKernels+Lanes.swift).
    /// Measured with `sane bench conv --network CNN3|CNN --batch 64 --threads 1` (BENCHMARKS.md,
    /// "CNN3 with the images on the SIMD lanes", 2026-12-03 `cnn3`; forward + backward, best CPU
    /// ms of 5 runs, load 4): 16 → 32 on 15×15 lanes 3.34 vs flat 3.97; 32 → 15 on 6×6 0.50 vs
    /// 0.84; 3 → 16 on 32×32 (900 output pixels: moving the large output off the lanes costs
    /// what the lanes save) 2.07 vs 2.12 and 2.7 vs 2.4 in another run: flat; the zoo CNN's 8 → 6 on 12×12
    /// (OW 8) lanes 0.45 vs rows 0.58 — but it stays `rows` (the rule checks OW % 8 first;
    /// not measured in training). Winograd F(2×2, 3×3) in the lanes layout was slower than
    /// direct lanes on CNN3's 16 → 32 layer (3.70 vs 3.34) and was dropped (BENCHMARKS.md).
    public static func algorithm(for g: ConvolutionGeometry) -> ConvolutionAlgorithm {
        let flat = flatApplies(g)
        switch forcedAlgorithm {
        case .rows? where directApplies(g): return .rows
        case .flat? where flat: return .flat
        case .im2col?: return .im2col
        case .winograd? where winogradApplies(g): return .winograd
        case .strided? where stridedApplies(g): return .strided
        case .lanes? where lanesApplies(g): return .lanes
        default: break
        }
        if stridedApplies(g) && g.kernelHeight * g.kernelWidth > 1 && g.channels <= 16 && g.outputPixels >= 256 { return .strided }
        if directApplies(g) && g.outputWidth % 8 == 0 { return .rows }
        if lanesApplies(g) && g.padding == 0 && g.channels >= 8 && g.outputPixels <= 256 { return .lanes }
        if g.padding == 0 { return flat ? .flat : .im2col }
        if flat && g.channels <= 32 && g.outputPixels >= 64 { return .flat }
        return winogradApplies(g) && g.channels >= 64 && (g.outputWidth >= 8 || g.channels >= 256) ? .winograd : .im2col
    }

    /// Benchmarks and tests bind this to compare the algorithms (`sane bench cnn-train
    /// --convolution`: `ConvolutionKernels.$forcedAlgorithm.withValue(.flat) { … }`); nil (the
    /// default) applies the rule of `algorithm(for:)`. Task-local; parallel regions carry it.
    @TaskLocal public static var forcedAlgorithm: ConvolutionAlgorithm?

    /// Weights w [Co, T] and bias [Co] packed for blocks of four output channels, as the direct,
    /// flat and lanes kernels read them: packed[(blk·T + t)·4 + k] = w[4·blk + k, t] and
    /// packedBias[blk·4 + k] = bias[4·blk + k] (0 past Co or without a bias).
    /// - Returns: ([⌈Co/4⌉, T, 4], [⌈Co/4⌉, 4]), allocated here; the caller deallocates both.
    static func packedWeights(_ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, outChannels co: Int, taps: Int)
        -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let blocks = (co + 3) / 4
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: blocks * taps * 4)
        let packedBias = UnsafeMutablePointer<Float>.allocate(capacity: blocks * 4)
        packed.initialize(repeating: 0, count: blocks * taps * 4)
        packedBias.initialize(repeating: 0, count: blocks * 4)
        for o in 0..<co {
            for t in 0..<taps { packed[((o / 4) * taps + t) * 4 + o % 4] = w[o * taps + t] }
            packedBias[o] = bias?[o] ?? 0
        }
        return (packed, packedBias)
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
    @inline(never)
    public static func directConvolution(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                         _ y: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(directApplies(g), "directConvolution needs stride 1, no padding, OW ≥ 8")
        let (oh, ow, taps) = (g.outputHeight, g.outputWidth, g.patchLength)
        let image = g.channels * g.height * g.width, blocks = (co + 3) / 4, chunks = (ow + 7) / 8, plane = oh * ow
        let (packed, packedBias) = packedWeights(w, bias, outChannels: co, taps: taps)        // [blocks, T, 4], [blocks, 4]
        defer { packed.deallocate(); packedBias.deallocate() }
        let off = tapOffsets(g)
        off.withUnsafeBufferPointer { offp in
            for b in 0..<g.batch {
                let xb = x + b * image
                for blk in 0..<blocks {
                    let wb = UnsafePointer(packed) + blk * taps * 4, bb = UnsafePointer(packedBias) + blk * 4
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
        }
    }

    /// Weight gradient, accumulating: dw[o, t] += Σ_{b, oy, ox} dy[b, o, oy, ox] · x[b, off[t] + oy·W + ox].
    /// x [B, Ci, H, W], dy [B, Co, OH, OW], dw [Co, T]. Register block: 4 output channels × 2 taps
    /// (four dy loads and two x loads feed 8 FMAs into 8 SIMD8 accumulators); the innermost loop
    /// walks down the output rows of one 8-column chunk. Images go in tiles whose x and dy fit
    /// in L1 (≤ 24 KiB), since every (channel block, tap pair) sweeps the tile once: sweeping the
    /// whole batch instead made the x loads wait on L2 (1.5× slower). Tile sums are added into a
    /// [Co, T] SIMD8 buffer, reduced once at the end. Columns past the last full chunk go to
    /// scalar sums. A missing 4th channel or 2nd tap repeats the last one and is not stored.
    @inline(never)
    public static func directConvolutionWeightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                                       _ dw: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(directApplies(g), "directConvolutionWeightGradient needs stride 1, no padding, OW ≥ 8")
        let (oh, ow, taps, width) = (g.outputHeight, g.outputWidth, g.patchLength, g.width)
        let image = g.channels * g.height * g.width, plane = oh * ow, full = ow / 8
        let tile = Swift.max(1, 6144 / (4 * plane + image))   // images per tile: x and 4 dy planes ≤ 24 KiB
        let off = tapOffsets(g)
        // lane partial sums [Co, T] (SIMD8); scalar columns add into lane 0
        var lanes = [SIMD8<Float>](repeating: .zero, count: co * taps)
        lanes.withUnsafeMutableBufferPointer { lp in off.withUnsafeBufferPointer { offp in
            let acc = lp.baseAddress!
            for first in stride(from: 0, to: g.batch, by: tile) {
                let images = first..<Swift.min(g.batch, first + tile)
                for o in stride(from: 0, to: co, by: 4) {
                    let oc = Swift.min(4, co - o)
                    // dy planes of channels o+1…o+3 relative to channel o (the last channel repeats)
                    let r1 = (Swift.min(o + 1, co - 1) - o) * plane, r2 = (Swift.min(o + 2, co - 1) - o) * plane
                    let r3 = (Swift.min(o + 3, co - 1) - o) * plane
                    if oc <= 2 {
                        // A last block of ≤ 2 channels (the zoo CNN's second conv has 6): 2
                        // channels × 4 taps instead, so no FMA is spent on repeated channels.
                        twoChannelBlock(x, dy, acc, offp, images: images, channel: o, secondChannel: r1, oc: oc, g: g, outChannels: co)
                        continue
                    }
                    for t in stride(from: 0, to: taps, by: 2) {
                        let t1 = Swift.min(t + 1, taps - 1), rv = offp[t1] - offp[t]
                        var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0   // tap t, channels o…o+3
                        var c0 = a0, c1 = a0, c2 = a0, c3 = a0                  // tap t1
                        var tail = SIMD8<Float>.zero                            // [tap t, t1] × channels 0…3 (scalar columns)
                        for b in images {
                            let gb = dy + (b * co + o) * plane, xb = x + b * image + offp[t]
                            for q in 0..<full {
                                var pg = gb + q * 8, px = xb + q * 8
                                for _ in 0..<oh {
                                    let d0 = load8(pg), d1 = load8(pg + r1), d2 = load8(pg + r2), d3 = load8(pg + r3)
                                    let xu = load8(px), xv = load8(px + rv)
                                    a0 = a0.addingProduct(xu, d0); a1 = a1.addingProduct(xu, d1)
                                    a2 = a2.addingProduct(xu, d2); a3 = a3.addingProduct(xu, d3)
                                    c0 = c0.addingProduct(xv, d0); c1 = c1.addingProduct(xv, d1)
                                    c2 = c2.addingProduct(xv, d2); c3 = c3.addingProduct(xv, d3)
                                    pg += ow; px += width
                                }
                            }
                            for oy in 0..<oh {
                                for ox in (full * 8)..<ow {
                                    let pg = gb + oy * ow + ox, u = xb[oy * width + ox], v = xb[oy * width + ox + rv]
                                    let d = SIMD4<Float>(pg[0], pg[r1], pg[r2], pg[r3])
                                    tail = tail.addingProduct(SIMD8(lowHalf: d, highHalf: d),
                                                              SIMD8(lowHalf: SIMD4(repeating: u), highHalf: SIMD4(repeating: v)))
                                }
                            }
                        }
                        let at = acc + o * taps
                        withUnsafeTemporaryAllocation(of: (SIMD8<Float>, SIMD8<Float>).self, capacity: 4) { sums in
                            sums[0] = (a0, c0); sums[1] = (a1, c1); sums[2] = (a2, c2); sums[3] = (a3, c3)
                            for k in 0..<oc {
                                at[k * taps + t] += sums[k].0
                                at[k * taps + t][0] += tail[k]
                                if t1 != t { at[k * taps + t1] += sums[k].1; at[k * taps + t1][0] += tail[4 + k] }
                            }
                        }
                    }
                }
            }
            for e in 0..<(co * taps) { dw[e] += acc[e].sum() }
        } }
    }

    /// The weight-gradient block of 2 output channels × 4 taps for one tile of `images` (see
    /// `directConvolutionWeightGradient`): per chunk two dy loads and four x loads feed 8 FMAs.
    /// `secondChannel` is the dy offset of channel o+1 (0 when oc = 1: the channel repeats).
    @inline(__always)
    private static func twoChannelBlock(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ acc: UnsafeMutablePointer<SIMD8<Float>>,
                                        _ offp: UnsafeBufferPointer<Int>, images: Range<Int>, channel o: Int, secondChannel r1: Int,
                                        oc: Int, g: ConvolutionGeometry, outChannels co: Int) {
        let (oh, ow, taps, width) = (g.outputHeight, g.outputWidth, g.patchLength, g.width)
        let image = g.channels * g.height * g.width, plane = oh * ow, full = ow / 8
        for t in stride(from: 0, to: taps, by: 4) {
            let t1 = Swift.min(t + 1, taps - 1), t2 = Swift.min(t + 2, taps - 1), t3 = Swift.min(t + 3, taps - 1)
            let v1 = offp[t1] - offp[t], v2 = offp[t2] - offp[t], v3 = offp[t3] - offp[t]
            var p0 = SIMD8<Float>.zero, p1 = p0, p2 = p0, p3 = p0   // channel o, taps t…t3
            var q0 = p0, q1 = p0, q2 = p0, q3 = p0                  // channel o+1
            var tail = SIMD8<Float>.zero                            // [channel o, o+1] × taps t…t3 (scalar columns)
            for b in images {
                let gb = dy + (b * co + o) * plane, xb = x + b * image + offp[t]
                for q in 0..<full {
                    var pg = gb + q * 8, px = xb + q * 8
                    for _ in 0..<oh {
                        let d0 = load8(pg), d1 = load8(pg + r1)
                        let x0 = load8(px), x1 = load8(px + v1), x2 = load8(px + v2), x3 = load8(px + v3)
                        p0 = p0.addingProduct(x0, d0); q0 = q0.addingProduct(x0, d1)
                        p1 = p1.addingProduct(x1, d0); q1 = q1.addingProduct(x1, d1)
                        p2 = p2.addingProduct(x2, d0); q2 = q2.addingProduct(x2, d1)
                        p3 = p3.addingProduct(x3, d0); q3 = q3.addingProduct(x3, d1)
                        pg += ow; px += width
                    }
                }
                for oy in 0..<oh {
                    for ox in (full * 8)..<ow {
                        let e = oy * ow + ox, s = xb + oy * width + ox
                        let u = SIMD4<Float>(s[0], s[v1], s[v2], s[v3])
                        tail = tail.addingProduct(SIMD8(lowHalf: u, highHalf: u),
                                                  SIMD8(lowHalf: SIMD4(repeating: gb[e]), highHalf: SIMD4(repeating: gb[e + r1])))
                    }
                }
            }
            let at = acc + o * taps
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 8) { sums in
                sums[0] = p0; sums[1] = p1; sums[2] = p2; sums[3] = p3; sums[4] = q0; sums[5] = q1; sums[6] = q2; sums[7] = q3
                for k in 0..<oc {
                    for m in 0..<Swift.min(4, taps - t) {
                        at[k * taps + t + m] += sums[4 * k + m]
                        at[k * taps + t + m][0] += tail[4 * k + m]
                    }
                }
            }
        }
    }

    /// Input gradient, accumulating: dx[b, c, iy, ix] += Σ_{o, i, j} w[o, c, i, j] · dy[b, o, iy − i, ix − j]
    /// (terms outside dy are 0). dy [B, Co, OH, OW], w [Co, Ci, kh, kw], dx [B, Ci, H, W].
    /// Rows of dy are zero-padded horizontally only ([B, Co, OH, OW + 2(kw − 1)]); per input row
    /// iy just the kernel rows i with 0 ≤ iy − i < OH are visited, so no work is spent on
    /// vertical padding. Register block: 4 input channels × 2 chunks of 8 columns (the last chunk
    /// overlaps when W is not a multiple of 8); per (o, i, j) two dy loads and four weight
    /// broadcasts feed 8 FMAs. A row is assembled in a buffer (overlapping chunks store the same
    /// values) and then added to dx once.
    @inline(never)
    public static func directConvolutionInputGradient(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                                      _ dx: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(directApplies(g), "directConvolutionInputGradient needs stride 1, no padding, OW ≥ 8")
        let (oh, ow, kh, kw, ci, height, width) = (g.outputHeight, g.outputWidth, g.kernelHeight, g.kernelWidth, g.channels, g.height, g.width)
        let pw = ow + 2 * (kw - 1), blocks = (ci + 3) / 4
        // dy rows padded left and right by kw − 1 zeros: [B, Co, OH, PW]
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: g.batch * co * oh * pw)
        padded.initialize(repeating: 0, count: g.batch * co * oh * pw)
        for r in 0..<(g.batch * co * oh) { (padded + r * pw + kw - 1).update(from: dy + r * ow, count: ow) }
        // weights packed [blocks, Co, kh, kw, 4] (input channels innermost, zero-padded)
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: blocks * co * kh * kw * 4)
        packed.initialize(repeating: 0, count: blocks * co * kh * kw * 4)
        for o in 0..<co { for c in 0..<ci { for i in 0..<kh { for j in 0..<kw {
            packed[((((c / 4) * co + o) * kh + i) * kw + j) * 4 + c % 4] = w[((o * ci + c) * kh + i) * kw + j]
        } } } }
        // chunk starts 0, 8, …, the last one W − 8; taken in pairs (an odd last one twice)
        var starts = Array(stride(from: 0, to: width - 7, by: 8))
        if starts.last! + 8 < width { starts.append(width - 8) }
        let row = UnsafeMutablePointer<Float>.allocate(capacity: 4 * width)   // [4, W] one output row per channel of a block
        defer { padded.deallocate(); packed.deallocate(); row.deallocate() }
        for b in 0..<g.batch {
            for blk in 0..<blocks {
                let cc = Swift.min(4, ci - blk * 4)
                for iy in 0..<height {
                    let iLow = Swift.max(0, iy - oh + 1), iHigh = Swift.min(kh - 1, iy)
                    for p in stride(from: 0, to: starts.count, by: 2) {
                        let x0 = starts[p], x1 = starts[Swift.min(p + 1, starts.count - 1)]
                        var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0   // chunk x0, channels 0…3
                        var c0 = a0, c1 = a0, c2 = a0, c3 = a0                  // chunk x1
                        for o in 0..<co where iLow <= iHigh {
                            for i in iLow...iHigh {
                                let src = padded + ((b * co + o) * oh + iy - i) * pw + kw - 1
                                let wi = packed + (((blk * co + o) * kh + i) * kw) * 4
                                for j in 0..<kw {
                                    let u = load8(src + x0 - j), v = load8(src + x1 - j), wt = wi + j * 4
                                    let w0 = SIMD8<Float>(repeating: wt[0]), w1 = SIMD8<Float>(repeating: wt[1])
                                    let w2 = SIMD8<Float>(repeating: wt[2]), w3 = SIMD8<Float>(repeating: wt[3])
                                    a0 = a0.addingProduct(u, w0); c0 = c0.addingProduct(v, w0)
                                    a1 = a1.addingProduct(u, w1); c1 = c1.addingProduct(v, w1)
                                    a2 = a2.addingProduct(u, w2); c2 = c2.addingProduct(v, w2)
                                    a3 = a3.addingProduct(u, w3); c3 = c3.addingProduct(v, w3)
                                }
                            }
                        }
                        store8(a0, row + x0); store8(c0, row + x1)
                        store8(a1, row + width + x0); store8(c1, row + width + x1)
                        store8(a2, row + 2 * width + x0); store8(c2, row + 2 * width + x1)
                        store8(a3, row + 3 * width + x0); store8(c3, row + 3 * width + x1)
                    }
                    for k in 0..<cc {
                        let d = dx + ((b * ci + blk * 4 + k) * height + iy) * width, r = row + k * width
                        for ix in 0..<width { d[ix] += r[ix] }
                    }
                }
            }
        }
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
