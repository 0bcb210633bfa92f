// Winograd F(2×2, 3×3) with the images on the SIMD lanes (layout of ConvolutionKernels+Lanes.swift)
// for 3×3 stride-1 layers with small planes — CNN3's 16 → 32 layer on 15×15.
//
// Shape legend as in ConvolutionKernels.swift; ξ < 16 indexes the 4×4 transformed tile, a tile
// (ty, tx) of the output is its 2×2 block at (2ty, 2tx), TH×TW = ⌈OH/2⌉×⌈OW/2⌉ tiles, numbered
// t = ty·TW + tx. With Lavin & Gray's matrices (Bᵀ 4×4, G 4×3, Aᵀ 2×4):
//
//     U[ξ, o, c] = (G w[o, c] Gᵀ)[ξ]                      weights, once per call
//     V[ξ, c, t] = (Bᵀ d[c, t] B)[ξ]                       d = the 4×4 input tile at (2ty, 2tx) of xl
//     M[ξ, o, t] = Σ_c U[ξ, o, c] · V[ξ, c, t]             16 small products, vectors of eight images
//     y[o, tile t] = Aᵀ M[·, o, t] A + bias[o]             (outputs past OH, OW dropped)
//
// Backward, the adjoints of the same steps: dM[ξ, o, t] = (A dy[o, t] Aᵀ)[ξ] (dy 0 past OH, OW);
// dU[ξ, o, c] = Σ_{t, lanes} dM · V, dw[o, c] += Gᵀ dU[·, o, c] G; dV[ξ, c, t] = Σ_o U · dM,
// dx[c, tile] += B dV[·, c, t] Bᵀ (4×4 input tiles overlap by two rows and columns and add up).
// Every transform is adds of whole vectors (one lane per image, no shuffles); the products are
// 4 × 3 register blocks of SIMD8 FMAs with a broadcast weight. Tiles go in chunks of
// `lanesWinogradChunk` (V, M and dM of a chunk stay in L2); a tile row past OH or column past OW
// reads the zero row and column that the lanes layout keeps after the padded input.
//
// Results differ from the direct kernels by float rounding (the transforms reassociate the
// sums); they do not depend on the number of workers (fixed groups, summed in group order).

extension ConvolutionKernels {
    /// Whether Winograd on the lanes handles `g`: 3×3, stride 1 (any padding).
    static func lanesWinogradApplies(_ g: ConvolutionGeometry) -> Bool {
        g.stride == 1 && g.kernelHeight == 3 && g.kernelWidth == 3
    }

    /// Tiles per chunk (a multiple of the product blocks' 3).
    static let lanesWinogradChunk = 12

    /// u [16, ⌈R/4⌉, K, 4] (zero-padded): u[ξ, r/4, k, r mod 4] = (G w[o, c] Gᵀ)[ξ] with (r, k) =
    /// (o, c) when `outputsFirst`, else (c, o) — the broadcast operand of the forward pass and
    /// of the input gradient. w [Co, Ci, 3, 3].
    static func lanesWinogradWeights(_ w: UnsafePointer<Float>, outChannels co: Int, inChannels ci: Int, outputsFirst: Bool) -> UnsafeMutablePointer<Float> {
        let (rows, inner) = outputsFirst ? (co, ci) : (ci, co), blocks = (rows + 3) / 4
        let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * blocks * inner * 4)
        u.initialize(repeating: 0, count: 16 * blocks * inner * 4)
        for o in 0..<co { for c in 0..<ci {
            let g = w + (o * ci + c) * 9
            // G g: rows g₀, (g₀ + g₁ + g₂)/2, (g₀ − g₁ + g₂)/2, g₂ (g's rows, 3 values each)
            var gg = [Float](repeating: 0, count: 12)
            for j in 0..<3 {
                let (a, b, d) = (g[j], g[3 + j], g[6 + j])
                gg[j] = a; gg[3 + j] = 0.5 * (a + b + d); gg[6 + j] = 0.5 * (a - b + d); gg[9 + j] = d
            }
            let (r, k) = outputsFirst ? (o, c) : (c, o)
            for i in 0..<4 {
                let (a, b, d) = (gg[3 * i], gg[3 * i + 1], gg[3 * i + 2])
                let row = [a, 0.5 * (a + b + d), 0.5 * (a - b + d), d]
                for j in 0..<4 { u[((((4 * i + j) * blocks + r / 4) * inner + k) * 4) + r % 4] = row[j] }
            }
        } }
        return u
    }

    /// out[ξ, r, t] = Σ_k a[ξ, r/4, k, r mod 4] · v[ξ, k, t] for t < n, r < R. a [16, ⌈R/4⌉, K, 4],
    /// v [16, K, NT, 8], out [16, R, NT, 8] (NT = `lanesWinogradChunk`). Register block 4 rows ×
    /// 3 tiles (the last block of a chunk overlapping, or repeating its last tile); a missing
    /// row (r ≥ R) stores its zero sums into row R − 1 first, which the real row then overwrites.
    @inline(__always)
    static func lanesWinogradProducts(_ a: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                      rows: Int, inner: Int, tiles n: Int) {
        let l = laneImages, nt = lanesWinogradChunk, blocks = (rows + 3) / 4, step = nt * l
        for xi in 0..<16 {
            let vx = v + xi * inner * step, ox = out + xi * rows * step
            for rb in 0..<blocks {
                let r = rb * 4, r1 = Swift.min(r + 1, rows - 1) * step, r2 = Swift.min(r + 2, rows - 1) * step, r3 = Swift.min(r + 3, rows - 1) * step
                for t in stride(from: 0, to: n, by: 3) {
                    let t0 = Swift.max(0, Swift.min(t, n - 3)), t1 = Swift.min(t0 + 1, n - 1), t2 = Swift.min(t0 + 2, n - 1)
                    var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0   // tile t0, rows r…r+3
                    var c0 = a0, c1 = a0, c2 = a0, c3 = a0                  // tile t1
                    var e0 = a0, e1 = a0, e2 = a0, e3 = a0                  // tile t2
                    var ap = a + (xi * blocks + rb) * inner * 4
                    var p0 = vx + t0 * l, p1 = vx + t1 * l, p2 = vx + t2 * l
                    for _ in 0..<inner {
                        let u = load8(p0), x = load8(p1), z = load8(p2)
                        let w0 = SIMD8<Float>(repeating: ap[0]), w1 = SIMD8<Float>(repeating: ap[1])
                        let w2 = SIMD8<Float>(repeating: ap[2]), w3 = SIMD8<Float>(repeating: ap[3])
                        a0 = a0.addingProduct(u, w0); c0 = c0.addingProduct(x, w0); e0 = e0.addingProduct(z, w0)
                        a1 = a1.addingProduct(u, w1); c1 = c1.addingProduct(x, w1); e1 = e1.addingProduct(z, w1)
                        a2 = a2.addingProduct(u, w2); c2 = c2.addingProduct(x, w2); e2 = e2.addingProduct(z, w2)
                        a3 = a3.addingProduct(u, w3); c3 = c3.addingProduct(x, w3); e3 = e3.addingProduct(z, w3)
                        p0 += step; p1 += step; p2 += step; ap += 4
                    }
                    let q0 = t0 * l, q1 = t1 * l, q2 = t2 * l, r0 = r * step
                    store8(a3, ox + r3 + q0); store8(c3, ox + r3 + q1); store8(e3, ox + r3 + q2)
                    store8(a2, ox + r2 + q0); store8(c2, ox + r2 + q1); store8(e2, ox + r2 + q2)
                    store8(a1, ox + r1 + q0); store8(c1, ox + r1 + q1); store8(e1, ox + r1 + q2)
                    store8(a0, ox + r0 + q0); store8(c0, ox + r0 + q1); store8(e0, ox + r0 + q2)
                }
            }
        }
    }

    /// v[ξ, c, k] = (Bᵀ d B)[ξ] for the chunk's tiles k < n (tile `first` + k), d the 4×4 block of
    /// xl [C, Hx, Wx, 8] at (2ty, 2tx). v [16, C, NT, 8].
    @inline(__always)
    static func lanesWinogradInputTransform(_ xl: UnsafePointer<Float>, _ v: UnsafeMutablePointer<Float>, channels: Int, hx: Int, wx: Int,
                                            tilesWide tw: Int, first: Int, tiles n: Int) {
        let l = laneImages, xiStride = channels * lanesWinogradChunk * l, row = wx * l
        // Bᵀ applied to four vectors: (x₀ − x₂, x₁ + x₂, x₂ − x₁, x₁ − x₃)
        @inline(__always) func bt(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>)
            -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) { (x0 - x2, x1 + x2, x2 - x1, x1 - x3) }
        for c in 0..<channels {
            let plane = xl + c * hx * wx * l
            for k in 0..<n {
                let t = first + k, (ty, tx) = (t / tw, t % tw)
                let d = plane + (2 * ty * wx + 2 * tx) * l
                // columns of Bᵀ d: (Bᵀ d)[i, j] = cj.i
                let c0 = bt(load8(d), load8(d + row), load8(d + 2 * row), load8(d + 3 * row))
                let c1 = bt(load8(d + l), load8(d + l + row), load8(d + l + 2 * row), load8(d + l + 3 * row))
                let c2 = bt(load8(d + 2 * l), load8(d + 2 * l + row), load8(d + 2 * l + 2 * row), load8(d + 2 * l + 3 * row))
                let c3 = bt(load8(d + 3 * l), load8(d + 3 * l + row), load8(d + 3 * l + 2 * row), load8(d + 3 * l + 3 * row))
                let out = v + (c * lanesWinogradChunk + k) * l
                @inline(__always) func put(_ i: Int, _ r: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) {
                    store8(r.0, out + (4 * i) * xiStride); store8(r.1, out + (4 * i + 1) * xiStride)
                    store8(r.2, out + (4 * i + 2) * xiStride); store8(r.3, out + (4 * i + 3) * xiStride)
                }
                put(0, bt(c0.0, c1.0, c2.0, c3.0)); put(1, bt(c0.1, c1.1, c2.1, c3.1))
                put(2, bt(c0.2, c1.2, c2.2, c3.2)); put(3, bt(c0.3, c1.3, c2.3, c3.3))
            }
        }
    }

    /// Forward on the lanes by Winograd F(2×2, 3×3) (overwrites y): y [B, Co, OH, OW] from x
    /// [B, Ci, H, W], w [Co, Ci, 3, 3], bias [Co] or nil. The batch on the lanes is left in
    /// `lanes` [⌈B/8⌉, Ci, Hx, Wx, 8] (`lanesWorkspaceShape`) for the backward pass.
    @inline(never)
    public static func lanesWinogradConvolution(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                                _ y: UnsafeMutablePointer<Float>, _ g: ConvolutionGeometry, outChannels co: Int,
                                                lanes: UnsafeMutablePointer<Float>) {
        precondition(lanesWinogradApplies(g), "lanesWinogradConvolution needs a 3×3 kernel and stride 1")
        let (oh, ow, ci, l, nt) = (g.outputHeight, g.outputWidth, g.channels, laneImages, lanesWinogradChunk)
        let (hx, wx) = lanesPlane(g), plane = oh * ow, (th, tw) = ((oh + 1) / 2, (ow + 1) / 2), tiles = th * tw
        let groups = (g.batch + l - 1) / l
        let u = lanesWinogradWeights(w, outChannels: co, inChannels: ci, outputsFirst: true)
        defer { u.deallocate() }
        Parallel.forEach(groups) { group in
            let images = group * l..<Swift.min(g.batch, (group + 1) * l)
            let xl = lanes + group * ci * hx * wx * l                                               // [Ci, Hx, Wx, 8]
            let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * ci * nt * l)                // [16, Ci, NT, 8]
            let m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * co * nt * l)                // [16, Co, NT, 8]
            let yl = UnsafeMutablePointer<Float>.allocate(capacity: co * plane * l)                 // [Co, P, 8]
            defer { v.deallocate(); m.deallocate(); yl.deallocate() }
            toLanes(x, xl, channels: ci, height: g.height, width: g.width, padding: g.padding, images: images, hx: hx, wx: wx)
            for first in stride(from: 0, to: tiles, by: nt) {
                let n = Swift.min(nt, tiles - first)
                lanesWinogradInputTransform(xl, v, channels: ci, hx: hx, wx: wx, tilesWide: tw, first: first, tiles: n)
                lanesWinogradProducts(u, v, m, rows: co, inner: ci, tiles: n)
                // y = Aᵀ M A + bias: Aᵀ applied to four vectors is (x₀ + x₁ + x₂, x₁ − x₂ − x₃)
                let xiStride = co * nt * l
                for o in 0..<co {
                    let b8 = SIMD8<Float>(repeating: bias?[o] ?? 0), yo = yl + o * plane * l
                    for k in 0..<n {
                        let t = first + k, (ty, tx) = (t / tw, t % tw), mk = m + (o * nt + k) * l
                        @inline(__always) func at(_ xi: Int) -> SIMD8<Float> { load8(mk + xi * xiStride) }
                        // rows of Aᵀ M (four columns each)
                        var s0 = SIMD8<Float>.zero, s1 = s0, s2 = s0, s3 = s0, d0 = s0, d1 = s0, d2 = s0, d3 = s0
                        s0 = at(0) + at(4) + at(8); d0 = at(4) - at(8) - at(12)
                        s1 = at(1) + at(5) + at(9); d1 = at(5) - at(9) - at(13)
                        s2 = at(2) + at(6) + at(10); d2 = at(6) - at(10) - at(14)
                        s3 = at(3) + at(7) + at(11); d3 = at(7) - at(11) - at(15)
                        let (oy, ox) = (2 * ty, 2 * tx)
                        store8(s0 + s1 + s2 + b8, yo + (oy * ow + ox) * l)
                        if ox + 1 < ow { store8(s1 - s2 - s3 + b8, yo + (oy * ow + ox + 1) * l) }
                        if oy + 1 < oh {
                            store8(d0 + d1 + d2 + b8, yo + ((oy + 1) * ow + ox) * l)
                            if ox + 1 < ow { store8(d1 - d2 - d3 + b8, yo + ((oy + 1) * ow + ox + 1) * l) }
                        }
                    }
                }
            }
            fromLanes(yl, y, channels: co, spatial: plane, images: images, accumulate: false)
        }
    }

    /// Backward on the lanes by Winograd F(2×2, 3×3), accumulating into whichever of dw
    /// [Co, Ci, 3, 3] and dx [B, Ci, H, W] is given (formulas above). dy [B, Co, OH, OW]; `lanes`
    /// is the forward pass's x on the lanes (or nil: x is re-laid here). Per group: dy onto the
    /// lanes behind a zero border of two (as the direct backward), then per chunk of tiles dM;
    /// for dw the chunk's V and dU [16, Co, Ci] (vectors, summed over the group's tiles, then
    /// over their lanes into the group's partial) += dM·Vᵀ in 4 output × 3 input channel
    /// blocks; for dx dV = Uᵀ·dM and the tiles B dV Bᵀ added into a zeroed [Ci, Hx, Wx, 8].
    @inline(never)
    public static func lanesWinogradConvolutionBackward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, lanes: UnsafePointer<Float>?,
                                                        w: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?,
                                                        _ g: ConvolutionGeometry, outChannels co: Int) {
        precondition(lanesWinogradApplies(g), "lanesWinogradConvolutionBackward needs a 3×3 kernel and stride 1")
        guard dx != nil || dw != nil else { return }
        let (oh, ow, ci, l, nt, p) = (g.outputHeight, g.outputWidth, g.channels, laneImages, lanesWinogradChunk, g.padding)
        let (hx, wx) = lanesPlane(g), plane = oh * ow, (th, tw) = ((oh + 1) / 2, (ow + 1) / 2), tiles = th * tw
        let (dh, dwd) = (oh + 4, ow + 4), dyPlane = dh * dwd * l   // dyl [Co, OH + 4, OW + 4, 8], dy at (2, 2)
        let groups = (g.batch + l - 1) / l
        let u = dx == nil ? nil : lanesWinogradWeights(w, outChannels: co, inChannels: ci, outputsFirst: false)
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: dw == nil ? 0 : groups * 16 * co * ci)   // [groups, 16, Co, Ci]
        defer { u?.deallocate(); partial.deallocate() }
        Parallel.forEach(groups) { group in
            let images = group * l..<Swift.min(g.batch, (group + 1) * l)
            let dyl = UnsafeMutablePointer<Float>.allocate(capacity: co * dyPlane)
            let dm = UnsafeMutablePointer<Float>.allocate(capacity: 16 * co * nt * l)   // [16, Co, NT, 8]
            let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * ci * nt * l)    // [16, Ci, NT, 8]: V, or dV
            defer { dyl.deallocate(); dm.deallocate(); v.deallocate() }
            dyl.update(repeating: 0, count: co * dyPlane)
            scatterToLanes(dy + images.lowerBound * co * plane, imageStride: co * plane, images: images.count, channels: co, rows: oh,
                           columns: ow, dyl + (2 * dwd + 2) * l, channelStride: dyPlane, rowStride: dwd * l)
            // x on the lanes: the forward pass's, or made here
            var made: UnsafeMutablePointer<Float>?
            if dw != nil && lanes == nil {
                made = .allocate(capacity: ci * hx * wx * l)
                toLanes(x, made!, channels: ci, height: g.height, width: g.width, padding: p, images: images, hx: hx, wx: wx)
            }
            defer { made?.deallocate() }
            let xl = made.map { UnsafePointer($0) } ?? lanes.map { $0 + group * ci * hx * wx * l }
            let du = dw == nil ? nil : UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 16 * co * ci)   // [16, Co, Ci]
            du?.initialize(repeating: .zero, count: 16 * co * ci)
            let dxl = dx == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: ci * hx * wx * l)     // [Ci, Hx, Wx, 8]
            dxl?.initialize(repeating: 0, count: ci * hx * wx * l)
            defer { du?.deallocate(); dxl?.deallocate() }
            let dmStride = co * nt * l, vStride = ci * nt * l
            for first in stride(from: 0, to: tiles, by: nt) {
                let n = Swift.min(nt, tiles - first)
                // dM = A dy Aᵀ: A applied to two vectors is (x₀, x₀ + x₁, x₀ − x₁, −x₁)
                for o in 0..<co {
                    let src = dyl + o * dyPlane
                    for k in 0..<n {
                        let t = first + k, (ty, tx) = (t / tw, t % tw)
                        let q = src + ((2 * ty + 2) * dwd + 2 * tx + 2) * l
                        let (y00, y01, y10, y11) = (load8(q), load8(q + l), load8(q + dwd * l), load8(q + (dwd + 1) * l))
                        // rows of A dy: (y0·), (y0· + y1·), (y0· − y1·), (−y1·); each row (a, b) times Aᵀ
                        let out = dm + (o * nt + k) * l
                        @inline(__always) func put(_ i: Int, _ a: SIMD8<Float>, _ b: SIMD8<Float>) {
                            store8(a, out + (4 * i) * dmStride); store8(a + b, out + (4 * i + 1) * dmStride)
                            store8(a - b, out + (4 * i + 2) * dmStride); store8(-b, out + (4 * i + 3) * dmStride)
                        }
                        put(0, y00, y01); put(1, y00 + y10, y01 + y11); put(2, y00 - y10, y01 - y11); put(3, -y10, -y11)
                    }
                }
                if let du, let xl {
                    lanesWinogradInputTransform(xl, v, channels: ci, hx: hx, wx: wx, tilesWide: tw, first: first, tiles: n)
                    // dU[ξ, o, c] += Σ_k dM[ξ, o, k] · V[ξ, c, k]: blocks of 4 output × 3 input channels
                    for xi in 0..<16 {
                        let dmx = dm + xi * dmStride, vx = v + xi * vStride, dux = du + xi * co * ci
                        for o in stride(from: 0, to: co, by: 4) {
                            let m0 = dmx + o * nt * l, m1 = dmx + Swift.min(o + 1, co - 1) * nt * l
                            let m2 = dmx + Swift.min(o + 2, co - 1) * nt * l, m3 = dmx + Swift.min(o + 3, co - 1) * nt * l
                            for c in stride(from: 0, to: ci, by: 3) {
                                let x0 = vx + c * nt * l, x1 = vx + Swift.min(c + 1, ci - 1) * nt * l, x2 = vx + Swift.min(c + 2, ci - 1) * nt * l
                                var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0   // channel c, outputs o…o+3
                                var c0 = a0, c1 = a0, c2 = a0, c3 = a0                  // c + 1
                                var e0 = a0, e1 = a0, e2 = a0, e3 = a0                  // c + 2
                                for k in 0..<n {
                                    let q = k * l
                                    let u0 = load8(x0 + q), u1 = load8(x1 + q), u2 = load8(x2 + q)
                                    let v0 = load8(m0 + q)
                                    a0 = a0.addingProduct(u0, v0); c0 = c0.addingProduct(u1, v0); e0 = e0.addingProduct(u2, v0)
                                    let v1 = load8(m1 + q)
                                    a1 = a1.addingProduct(u0, v1); c1 = c1.addingProduct(u1, v1); e1 = e1.addingProduct(u2, v1)
                                    let v2 = load8(m2 + q)
                                    a2 = a2.addingProduct(u0, v2); c2 = c2.addingProduct(u1, v2); e2 = e2.addingProduct(u2, v2)
                                    let v3 = load8(m3 + q)
                                    a3 = a3.addingProduct(u0, v3); c3 = c3.addingProduct(u1, v3); e3 = e3.addingProduct(u2, v3)
                                }
                                let oc = Swift.min(4, co - o), cc = Swift.min(3, ci - c), at = dux + o * ci + c
                                withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { s in
                                    s[0] = a0; s[1] = a1; s[2] = a2; s[3] = a3; s[4] = c0; s[5] = c1; s[6] = c2; s[7] = c3
                                    s[8] = e0; s[9] = e1; s[10] = e2; s[11] = e3
                                    for mm in 0..<cc { for kk in 0..<oc { at[kk * ci + mm] += s[4 * mm + kk] } }
                                }
                            }
                        }
                    }
                }
                if let u, let dxl {
                    // dV = Uᵀ dM, then dx tile += B dV Bᵀ: B applied to four vectors is (x₀, x₁ − x₂ + x₃, x₁ + x₂ − x₀, −x₃)
                    lanesWinogradProducts(u, dm, v, rows: ci, inner: co, tiles: n)
                    @inline(__always) func bb(_ x0: SIMD8<Float>, _ x1: SIMD8<Float>, _ x2: SIMD8<Float>, _ x3: SIMD8<Float>)
                        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) { (x0, x1 - x2 + x3, x1 + x2 - x0, -x3) }
                    for c in 0..<ci {
                        let dplane = dxl + c * hx * wx * l
                        for k in 0..<n {
                            let t = first + k, (ty, tx) = (t / tw, t % tw), vk = v + (c * nt + k) * l
                            @inline(__always) func at(_ xi: Int) -> SIMD8<Float> { load8(vk + xi * vStride) }
                            // columns of B dV
                            let k0 = bb(at(0), at(4), at(8), at(12)), k1 = bb(at(1), at(5), at(9), at(13))
                            let k2 = bb(at(2), at(6), at(10), at(14)), k3 = bb(at(3), at(7), at(11), at(15))
                            let d = dplane + (2 * ty * wx + 2 * tx) * l
                            @inline(__always) func add(_ i: Int, _ r: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) {
                                let q = d + i * wx * l
                                store8(load8(q) + r.0, q); store8(load8(q + l) + r.1, q + l)
                                store8(load8(q + 2 * l) + r.2, q + 2 * l); store8(load8(q + 3 * l) + r.3, q + 3 * l)
                            }
                            add(0, bb(k0.0, k1.0, k2.0, k3.0)); add(1, bb(k0.1, k1.1, k2.1, k3.1))
                            add(2, bb(k0.2, k1.2, k2.2, k3.2)); add(3, bb(k0.3, k1.3, k2.3, k3.3))
                        }
                    }
                }
            }
            if let du {
                let part = partial + group * 16 * co * ci
                for e in 0..<(16 * co * ci) { part[e] = du[e].sum() }
            }
            if let dx, let dxl {
                gatherFromLanes(dxl + (p * wx + p) * l, channelStride: hx * wx * l, rowStride: wx * l, dx, channels: ci, rows: g.height,
                                columns: g.width, images: images)
            }
        }
        if let dw {
            // dU summed over the groups in order, then dw[o, c] += Gᵀ dU G: Gᵀ applied to four values
            // is (x₀ + (x₁ + x₂)/2, (x₁ − x₂)/2, (x₁ + x₂)/2 + x₃)
            for o in 0..<co { for c in 0..<ci {
                var d = [Float](repeating: 0, count: 16)
                for group in 0..<groups { for xi in 0..<16 { d[xi] += partial[((group * 16 + xi) * co + o) * ci + c] } }
                @inline(__always) func gt(_ x0: Float, _ x1: Float, _ x2: Float, _ x3: Float) -> (Float, Float, Float) {
                    (x0 + 0.5 * (x1 + x2), 0.5 * (x1 - x2), 0.5 * (x1 + x2) + x3)
                }
                let c0 = gt(d[0], d[4], d[8], d[12]), c1 = gt(d[1], d[5], d[9], d[13])
                let c2 = gt(d[2], d[6], d[10], d[14]), c3 = gt(d[3], d[7], d[11], d[15])
                let r0 = gt(c0.0, c1.0, c2.0, c3.0), r1 = gt(c0.1, c1.1, c2.1, c3.1), r2 = gt(c0.2, c1.2, c2.2, c3.2)
                let out = dw + (o * ci + c) * 9
                out[0] += r0.0; out[1] += r0.1; out[2] += r0.2
                out[3] += r1.0; out[4] += r1.1; out[5] += r1.2
                out[6] += r2.0; out[7] += r2.1; out[8] += r2.2
            } }
        }
    }
}
