// Winograd F(2×2, 3×3) for 3×3 convolutions with stride 1 and padding 1 (ResNet's wide layers;
// Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural Networks"). Each output 2×2 tile
// comes from the 4×4 input patch d at (2·ty − 1, 2·tx − 1) (0 outside the image) as
//
//     Y = Aᵀ [ U ⊙ V ] A,   U = G g Gᵀ (per output/input channel pair),  V = Bᵀ d B (per input channel),
//
//     Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],  Aᵀ = [1 1 1 0; 0 1 −1 −1],
//
// and the sum over input channels of U ⊙ V is, for each of the 16 positions ξ of the 4×4 tile,
// one GEMM  M_ξ [Co, T] = U_ξ [Co, Ci] · V_ξ [Ci, T]  over all T = B·⌈OH/2⌉·⌈OW/2⌉ tiles of the
// batch: 16 products of Co·Ci·T multiply-adds against im2col's one of 9·Co·Ci·B·OH·OW, 2.25×
// fewer for even planes. Backward (same tiles):
//   - input gradient: a stride-1 padding-1 3×3 convolution of dy with the weights flipped and
//     transposed, w'[c, o, i, j] = w[o, c, 2 − i, 2 − j], so the same forward path, accumulating into dx;
//   - weight gradient: dM = A dY Aᵀ (dY the 2×2 gradient tile, 0 outside the output),
//     dU_ξ [Co, Ci] = dM_ξ [Co, T] · V_ξᵀ (V kept from the forward pass), dw += Gᵀ dU G.
// Layouts: v [16, C, T], m [16, Co, T], u [16, Co, Ci], tile t = (b·th + ty)·tw + tx. Every
// element is computed by the same arithmetic on any number of workers (planes spread over the
// cores, GEMMs deterministic), so results do not depend on the worker count.

extension ConvolutionKernels {
    /// Whether the Winograd kernels handle `g`: a 3×3 window, stride 1, padding 1.
    public static func winogradApplies(_ g: ConvolutionGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.padding == 1
    }

    /// Tiles per image row and column and in the batch: th = ⌈H/2⌉, tw = ⌈W/2⌉ (OH = H, OW = W), T = B·th·tw.
    static func winogradTiles(batch: Int, height: Int, width: Int) -> (th: Int, tw: Int, count: Int) {
        let (th, tw) = ((height + 1) / 2, (width + 1) / 2)
        return (th, tw, batch * th * tw)
    }

    /// V = Bᵀ d B for every tile: x [B, C, H, W] → v [16, C, T]. Planes (b, c) spread over the cores.
    /// Eight tiles of a tile row at a time (SIMD8 lanes = tiles): each tile row first copies its
    /// four input rows into a zero-bordered scratch (index 0 = column −1), whose even and odd
    /// entries are the tiles' columns 0, 1 (and 2, 3 two further on); the 16 results go to their
    /// 16 rows of v as one vector each.
    static func winogradInputTransform(_ x: UnsafePointer<Float>, _ v: UnsafeMutablePointer<Float>, batch: Int, channels: Int,
                                       height h: Int, width w: Int) {
        let (th, tw, tiles) = winogradTiles(batch: batch, height: h, width: w)
        let groups = (tw + 7) / 8, span = 16 * groups + 16, position = channels * tiles
        Parallel.forEach(batch * channels, minimumPerWorker: minimumItems(perItem: 4 * h * w)) { plane in
            let (b, c) = (plane / channels, plane % channels)
            let src = x + plane * h * w, out = v + c * tiles + b * th * tw
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 * span) { buffer in
                let rows = buffer.baseAddress!
                rows.update(repeating: 0, count: 4 * span)
                for ty in 0..<th {
                    for r in 0..<4 {
                        let iy = 2 * ty - 1 + r, row = rows + r * span + 1
                        if iy >= 0 && iy < h { copyRow(row, src + iy * w, count: w) } else { row.update(repeating: 0, count: w) }
                    }
                    for q in 0..<groups {
                        // d_r = the tiles' row r, columns 0…3
                        @inline(__always) func tileRow(_ r: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                            let p = UnsafeRawPointer(rows + r * span + 16 * q)
                            let lo = p.loadUnaligned(as: SIMD16<Float>.self), hi = p.loadUnaligned(fromByteOffset: 8, as: SIMD16<Float>.self)
                            return (lo.evenHalf, lo.oddHalf, hi.evenHalf, hi.oddHalf)
                        }
                        let (d0, d1, d2, d3) = (tileRow(0), tileRow(1), tileRow(2), tileRow(3))
                        // t = Bᵀ d (rows d0 − d2, d1 + d2, d2 − d1, d1 − d3), then each row times B
                        let n = Swift.min(8, tw - 8 * q), o = out + ty * tw + 8 * q
                        @inline(__always) func store(_ r: Int, _ t: (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)) {
                            let base = o + 4 * r * position
                            let values = (t.0 - t.2, t.1 + t.2, t.2 - t.1, t.1 - t.3)
                            if n == 8 {
                                store8(values.0, base); store8(values.1, base + position)
                                store8(values.2, base + 2 * position); store8(values.3, base + 3 * position)
                            } else {
                                store8(values.0, base, count: n); store8(values.1, base + position, count: n)
                                store8(values.2, base + 2 * position, count: n); store8(values.3, base + 3 * position, count: n)
                            }
                        }
                        store(0, (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3))
                        store(1, (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3))
                        store(2, (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3))
                        store(3, (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3))
                    }
                }
            }
        }
    }

    /// U = G g Gᵀ: w [Co, Ci, 3, 3] → u [16, Co, Ci]; with `transposed`, w is [Ci, Co, 3, 3] and
    /// the convolution's weights are the flipped transpose w'[o, c, i, j] = w[c, o, 2 − i, 2 − j]
    /// (the input gradient of a convolution with w).
    static func winogradWeightTransform(_ w: UnsafePointer<Float>, _ u: UnsafeMutablePointer<Float>, outChannels co: Int, inChannels ci: Int,
                                        transposed: Bool) {
        let position = co * ci
        let g = UnsafeMutablePointer<Float>.allocate(capacity: 9), gg = UnsafeMutablePointer<Float>.allocate(capacity: 12)
        defer { g.deallocate(); gg.deallocate() }
        for o in 0..<co { for c in 0..<ci {
            if transposed { for k in 0..<9 { g[k] = w[(c * co + o) * 9 + 8 - k] } } else { for k in 0..<9 { g[k] = w[(o * ci + c) * 9 + k] } }
            // G g (4×3), row by row
            for j in 0..<3 {
                let (a, b, d) = (g[j], g[3 + j], g[6 + j])
                gg[j] = a; gg[3 + j] = 0.5 * (a + b + d); gg[6 + j] = 0.5 * (a - b + d); gg[9 + j] = d
            }
            // (G g) Gᵀ (4×4)
            for r in 0..<4 {
                let (a, b, d) = (gg[3 * r], gg[3 * r + 1], gg[3 * r + 2])
                let dst = u + 4 * r * position + o * ci + c
                dst[0] = a; dst[position] = 0.5 * (a + b + d); dst[2 * position] = 0.5 * (a - b + d); dst[3 * position] = d
            }
        } }
    }

    /// The 16 products M_ξ = U_ξ [Co, Ci] · V_ξ [Ci, T] (or, `weightGradient`, dU_ξ [Co, Ci] =
    /// dM_ξ [Co, T] · V_ξᵀ into `out`). Small products run one per core, large ones one after another on all cores.
    static func winogradProducts(_ a: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                 outChannels co: Int, inChannels ci: Int, tiles: Int, weightGradient: Bool) {
        func product(_ xi: Int) {
            if weightGradient {
                sgemm(transposeA: false, transposeB: true, m: co, n: ci, k: tiles, a: a + xi * co * tiles, lda: tiles,
                      b: v + xi * ci * tiles, ldb: tiles, c: out + xi * co * ci, ldc: ci)
            } else {
                sgemm(transposeA: false, transposeB: false, m: co, n: tiles, k: ci, a: a + xi * co * ci, lda: ci,
                      b: v + xi * ci * tiles, ldb: tiles, c: out + xi * co * tiles, ldc: tiles)
            }
        }
        if co * ci * tiles < BLAS.parallelThreshold { Parallel.forEach(16) { product($0) } } else { for xi in 0..<16 { product(xi) } }
    }

    /// Y = Aᵀ M A (+ bias) for every tile: m [16, Co, T] → y [B, Co, H, W], overwritten or, with
    /// `accumulate`, added to; the second row/column of a tile past the plane's edge is dropped.
    /// Eight tiles at a time (one vector from each of the 16 rows of m) into two scratch rows, whose
    /// first W entries then go to the output rows 2·ty and 2·ty + 1.
    static func winogradOutputTransform(_ m: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
                                        batch: Int, channels co: Int, height h: Int, width w: Int, accumulate: Bool) {
        let (th, tw, tiles) = winogradTiles(batch: batch, height: h, width: w)
        let groups = (tw + 7) / 8, span = 16 * groups, position = co * tiles
        Parallel.forEach(batch * co, minimumPerWorker: minimumItems(perItem: 4 * h * w)) { plane in
            let (b, o) = (plane / co, plane % co)
            let src = m + o * tiles + b * th * tw, dst = y + plane * h * w, beta = SIMD8<Float>(repeating: bias?[o] ?? 0)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * span) { buffer in
                let (top, bottom) = (buffer.baseAddress!, buffer.baseAddress! + span)
                for ty in 0..<th {
                    for q in 0..<groups {
                        let n = Swift.min(8, tw - 8 * q), s = src + ty * tw + 8 * q
                        @inline(__always) func at(_ xi: Int) -> SIMD8<Float> { n == 8 ? load8(s + xi * position) : load8(s + xi * position, count: n) }
                        // Aᵀ M: rows m0 + m1 + m2 and m1 − m2 − m3 (each a row of 4 positions)
                        let s0 = (at(0) + at(4) + at(8), at(1) + at(5) + at(9), at(2) + at(6) + at(10), at(3) + at(7) + at(11))
                        let s1 = (at(4) - at(8) - at(12), at(5) - at(9) - at(13), at(6) - at(10) - at(14), at(7) - at(11) - at(15))
                        let y00 = s0.0 + s0.1 + s0.2 + beta, y01 = s0.1 - s0.2 - s0.3 + beta
                        let y10 = s1.0 + s1.1 + s1.2 + beta, y11 = s1.1 - s1.2 - s1.3 + beta
                        let (t, u) = (top + 16 * q, bottom + 16 * q)
                        for l in 0..<8 { t[2 * l] = y00[l]; t[2 * l + 1] = y01[l]; u[2 * l] = y10[l]; u[2 * l + 1] = y11[l] }
                    }
                    for r in 0..<Swift.min(2, h - 2 * ty) {
                        let d = dst + (2 * ty + r) * w, row = r == 0 ? top : bottom
                        if accumulate { for k in 0..<w { d[k] += row[k] } } else { copyRow(d, row, count: w) }
                    }
                }
            }
        }
    }

    /// dM = A dY Aᵀ for every tile: dy [B, Co, H, W] → dm [16, Co, T] (dY's entries past the edge
    /// are 0). Eight tiles at a time from two zero-padded scratch rows (even entries: the tiles'
    /// column 0, odd: column 1).
    static func winogradOutputGradientTransform(_ dy: UnsafePointer<Float>, _ dm: UnsafeMutablePointer<Float>, batch: Int, channels co: Int,
                                                height h: Int, width w: Int) {
        let (th, tw, tiles) = winogradTiles(batch: batch, height: h, width: w)
        let groups = (tw + 7) / 8, span = 16 * groups, position = co * tiles
        Parallel.forEach(batch * co, minimumPerWorker: minimumItems(perItem: 4 * h * w)) { plane in
            let (b, o) = (plane / co, plane % co)
            let src = dy + plane * h * w, out = dm + o * tiles + b * th * tw
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * span) { buffer in
                let (top, bottom) = (buffer.baseAddress!, buffer.baseAddress! + span)
                top.update(repeating: 0, count: 2 * span)
                for ty in 0..<th {
                    copyRow(top, src + 2 * ty * w, count: w)
                    if 2 * ty + 1 < h { copyRow(bottom, src + (2 * ty + 1) * w, count: w) } else { bottom.update(repeating: 0, count: w) }
                    for q in 0..<groups {
                        let a = UnsafeRawPointer(top + 16 * q).loadUnaligned(as: SIMD16<Float>.self)
                        let c = UnsafeRawPointer(bottom + 16 * q).loadUnaligned(as: SIMD16<Float>.self)
                        let (g00, g01, g10, g11) = (a.evenHalf, a.oddHalf, c.evenHalf, c.oddHalf)
                        let n = Swift.min(8, tw - 8 * q), d = out + ty * tw + 8 * q
                        // e = A dY (4×2): rows (g0·), (g0· + g1·), (g0· − g1·), (−g1·); then dM = e Aᵀ per row
                        @inline(__always) func store(_ r: Int, _ p: SIMD8<Float>, _ q: SIMD8<Float>) {
                            let base = d + 4 * r * position
                            if n == 8 {
                                store8(p, base); store8(p + q, base + position); store8(p - q, base + 2 * position); store8(-q, base + 3 * position)
                            } else {
                                store8(p, base, count: n); store8(p + q, base + position, count: n)
                                store8(p - q, base + 2 * position, count: n); store8(-q, base + 3 * position, count: n)
                            }
                        }
                        store(0, g00, g01); store(1, g00 + g10, g01 + g11); store(2, g00 - g10, g01 - g11); store(3, -g10, -g11)
                    }
                }
            }
        }
    }

    /// dw [Co, Ci, 3, 3] += Gᵀ dU G for du [16, Co, Ci].
    static func winogradWeightGradientTransform(_ du: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>, outChannels co: Int, inChannels ci: Int) {
        let position = co * ci
        // Gᵀ (3×4): rows (1, ½, ½, 0), (0, ½, −½, 0), (0, ½, ½, 1)
        let h = UnsafeMutablePointer<Float>.allocate(capacity: 12)   // Gᵀ dU (3×4)
        defer { h.deallocate() }
        for o in 0..<co { for c in 0..<ci {
            let s = du + o * ci + c
            for col in 0..<4 {
                let (a, b, d, e) = (s[col * position], s[(4 + col) * position], s[(8 + col) * position], s[(12 + col) * position])
                h[col] = a + 0.5 * (b + d); h[4 + col] = 0.5 * (b - d); h[8 + col] = 0.5 * (b + d) + e
            }
            let out = dw + (o * ci + c) * 9
            for i in 0..<3 {
                let (a, b, d, e) = (h[4 * i], h[4 * i + 1], h[4 * i + 2], h[4 * i + 3])
                out[3 * i] += a + 0.5 * (b + d); out[3 * i + 1] += 0.5 * (b - d); out[3 * i + 2] += 0.5 * (b + d) + e
            }
        } }
    }

    /// y = conv3×3, stride 1, padding 1 (x [B, Ci, H, W], w [Co, Ci, 3, 3] — or, `transposed`,
    /// the flipped transpose of w [Ci, Co, 3, 3]) + bias, into y [B, Co, H, W] (overwritten, or
    /// added to with `accumulate`). Returns V [16, Ci, T], the input transform the weight gradient needs.
    @discardableResult
    public static func winogradConvolution(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                           _ y: UnsafeMutablePointer<Float>, batch: Int, inChannels ci: Int, outChannels co: Int,
                                           height h: Int, width wd: Int, transposed: Bool = false, accumulate: Bool = false) -> Tensor {
        let tiles = winogradTiles(batch: batch, height: h, width: wd).count
        let v = Tensor(shape: [16, ci, tiles]) { winogradInputTransform(x, $0, batch: batch, channels: ci, height: h, width: wd) }
        let u = Tensor(shape: [16, co, ci]) { winogradWeightTransform(w, $0, outChannels: co, inChannels: ci, transposed: transposed) }
        let m = Tensor(shape: [16, co, tiles]) {
            winogradProducts(u.readPointer, v.readPointer, $0, outChannels: co, inChannels: ci, tiles: tiles, weightGradient: false)
        }
        winogradOutputTransform(m.readPointer, bias, y, batch: batch, channels: co, height: h, width: wd, accumulate: accumulate)
        return v
    }

    /// dw [Co, Ci, 3, 3] += the weight gradient of `winogradConvolution` for dy [B, Co, H, W] and
    /// its input transform v [16, Ci, T].
    public static func winogradWeightGradient(_ dy: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                              batch: Int, inChannels ci: Int, outChannels co: Int, height h: Int, width wd: Int) {
        let tiles = winogradTiles(batch: batch, height: h, width: wd).count
        let dm = Tensor(shape: [16, co, tiles]) { winogradOutputGradientTransform(dy, $0, batch: batch, channels: co, height: h, width: wd) }
        let du = Tensor(shape: [16, co, ci]) {
            winogradProducts(dm.readPointer, v, $0, outChannels: co, inChannels: ci, tiles: tiles, weightGradient: true)
        }
        winogradWeightGradientTransform(du.readPointer, dw, outChannels: co, inChannels: ci)
    }
}
