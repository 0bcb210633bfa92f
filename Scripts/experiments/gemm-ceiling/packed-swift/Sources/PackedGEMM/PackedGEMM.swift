import CKernel
import Foundation

// Environment switches of the experiment:
//   SKIP=1    Goto order only: pack nothing after the first call (wrong results; times the loop nest alone)
//   DIRECT=1  read A in place (strided broadcasts from 6 rows) instead of packing it, when not transposed
//   RESIDENT=1  the B-resident order (`runResident`); RES its B block in bytes (default 524288)
//   CK=1      with RESIDENT=1: the C kernel in Sources/CKernel instead of the Swift one
//   KC, MC, NC  the blocking (default 320, 144, 3072)
nonisolated(unsafe) var skipPack = false
/// CK=1: the C intrinsics kernel (Sources/CKernel) in the B-resident order.
let useC = ProcessInfo.processInfo.environment["CK"] != nil
nonisolated(unsafe) var directA = ProcessInfo.processInfo.environment["DIRECT"] != nil

/// Packed single-threaded SGEMM (Goto / BLIS loop order), row-major:
///     C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
enum PackedGEMM {
    static let mr = 6, nr = 16
    nonisolated(unsafe) static var kcMax = Int(ProcessInfo.processInfo.environment["KC"] ?? "320")!, mc = Int(ProcessInfo.processInfo.environment["MC"] ?? "144")!, nc = Int(ProcessInfo.processInfo.environment["NC"] ?? "3072")!

    /// Floats of scratch `run` needs.
    static var scratchCount: Int { mc * kcMax + kcMax * nc + mr * nr }

    static func run(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                    _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, scratch: UnsafeMutablePointer<Float>) {
        let ap = scratch, bp = scratch + mc * kcMax, tile = bp + kcMax * nc
        let kBlocks = (k + kcMax - 1) / kcMax
        let kcEven = (k + kBlocks - 1) / kBlocks
        var jc = 0
        while jc < n {
            let ncb = min(nc, n - jc)
            let nStrips = (ncb + nr - 1) / nr
            var pc = 0
            while pc < k {
                let kc = min(kcEven, k - pc)
                let betaNow: Float = pc == 0 ? beta : 1
                if !skipPack { packB(tb, b, ldb, pc, kc, jc, ncb, bp) }
                var ic = 0
                while ic < m {
                    let mcb = min(mc, m - ic)
                    let mStrips = (mcb + mr - 1) / mr
                    let direct = !ta && directA
                    if !skipPack && !direct { packA(ta, a, lda, ic, mcb, pc, kc, ap) } else if direct && mcb % mr != 0 { packA(ta, a, lda, ic, mcb, pc, kc, ap) }
                    for js in 0..<nStrips {
                        let j0 = jc + js * nr, nrv = min(nr, n - j0)
                        let bPanel = UnsafePointer(bp + js * kc * nr)
                        for s in 0..<mStrips {
                            let i0 = ic + s * mr, mrv = min(mr, m - i0)
                            let useDirect = direct && mrv == mr
                            let aPanel = useDirect ? a + i0 * lda + pc : UnsafePointer(ap + s * kc * mr)
                            let (rs, cs) = useDirect ? (lda, 1) : (1, mr)
                            if mrv == mr && nrv == nr {
                                kernel6x16(kc, aPanel, rs, cs, bPanel, c + i0 * ldc + j0, ldc, alpha, betaNow)
                            } else {
                                kernel6x16(kc, aPanel, rs, cs, bPanel, tile, nr, 1, 0)
                                storeEdge(tile, mrv, nrv, c + i0 * ldc + j0, ldc, alpha, betaNow)
                            }
                        }
                    }
                    ic += mcb
                }
                pc += kc
            }
            jc += ncb
        }
    }

    /// B-resident order: a block of packed B (kc × ncb, ≤ residentBytes) stays in L2 while every
    /// 6-row strip of A (packed on the fly, 6·kc floats in L1) sweeps over all its 16-column panels.
    nonisolated(unsafe) static var residentBytes = Int(ProcessInfo.processInfo.environment["RES"] ?? "524288")!
    static func runResident(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                    _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, scratch: UnsafeMutablePointer<Float>) {
        let ap = scratch, bp = scratch + mc * kcMax, tile = bp + kcMax * nc
        let kBlocks = (k + kcMax - 1) / kcMax
        let kcEven = (k + kBlocks - 1) / kBlocks
        let ncRes = max(nr, min(nc, residentBytes / (4 * kcEven) / nr * nr))
        var jc = 0
        while jc < n {
            let ncb = min(ncRes, n - jc)
            let nStrips = (ncb + nr - 1) / nr
            var pc = 0
            while pc < k {
                let kc = min(kcEven, k - pc)
                let betaNow: Float = pc == 0 ? beta : 1
                packB(tb, b, ldb, pc, kc, jc, ncb, bp)
                var i0 = 0
                while i0 < m {
                    let mrv = min(mr, m - i0)
                    packA(ta, a, lda, i0, mrv, pc, kc, ap)
                    let aPanel = UnsafePointer(ap)
                    for js in 0..<nStrips {
                        let j0 = jc + js * nr, nrv = min(nr, n - j0)
                        let bPanel = UnsafePointer(bp + js * kc * nr)
                        if mrv == mr && nrv == nr {
                            if useC { ck6x16(kc, aPanel, bPanel, c + i0 * ldc + j0, ldc, alpha, betaNow) } else { kernel6x16(kc, aPanel, 1, mr, bPanel, c + i0 * ldc + j0, ldc, alpha, betaNow) }
                        } else {
                            kernel6x16(kc, aPanel, 1, mr, bPanel, tile, nr, 1, 0)
                            storeEdge(tile, mrv, nrv, c + i0 * ldc + j0, ldc, alpha, betaNow)
                        }
                    }
                    i0 += mr
                }
                pc += kc
            }
            jc += ncb
        }
    }

    /// C[0..<mrv, 0..<nrv] = alpha · tile + beta · C (C not read when beta = 0); tile is 6×16.
    static func storeEdge(_ tile: UnsafePointer<Float>, _ mrv: Int, _ nrv: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int,
                          _ alpha: Float, _ beta: Float) {
        for r in 0..<mrv {
            let row = c + r * ldc, t = tile + r * nr
            if beta == 0 { for j in 0..<nrv { row[j] = alpha * t[j] } }
            else { for j in 0..<nrv { row[j] = alpha * t[j] + beta * row[j] } }
        }
    }

    /// Packs rows ic..<ic+mcb, columns pc..<pc+kc of op(A) into strips of `mr` rows:
    /// dst[s·kc·mr + p·mr + r] = op(A)[ic + s·mr + r, pc + p] (zero beyond m).
    @inline(__always)
    static func packA(_ ta: Bool, _ a: UnsafePointer<Float>, _ lda: Int, _ ic: Int, _ mcb: Int, _ pc: Int, _ kc: Int,
                      _ dst: UnsafeMutablePointer<Float>) {
        var s = 0
        while s * mr < mcb {
            let i0 = ic + s * mr, mrv = min(mr, mcb - s * mr)
            var d = dst + s * kc * mr
            if !ta {
                if mrv == mr {
                    let r0 = a + i0 * lda + pc, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda
                    for p in 0..<kc {
                        d[0] = r0[p]; d[1] = r1[p]; d[2] = r2[p]; d[3] = r3[p]; d[4] = r4[p]; d[5] = r5[p]
                        d += mr
                    }
                } else {
                    for p in 0..<kc {
                        for r in 0..<mr { d[r] = r < mrv ? a[(i0 + r) * lda + pc + p] : 0 }
                        d += mr
                    }
                }
            } else {
                for p in 0..<kc {
                    let src = a + (pc + p) * lda + i0
                    if mrv == mr { d[0] = src[0]; d[1] = src[1]; d[2] = src[2]; d[3] = src[3]; d[4] = src[4]; d[5] = src[5] }
                    else { for r in 0..<mr { d[r] = r < mrv ? src[r] : 0 } }
                    d += mr
                }
            }
            s += 1
        }
    }

    /// Packs rows pc..<pc+kc, columns jc..<jc+ncb of op(B) into strips of `nr` columns:
    /// dst[js·kc·nr + p·nr + j] = op(B)[pc + p, jc + js·nr + j] (zero beyond n).
    @inline(__always)
    static func packB(_ tb: Bool, _ b: UnsafePointer<Float>, _ ldb: Int, _ pc: Int, _ kc: Int, _ jc: Int, _ ncb: Int,
                      _ dst: UnsafeMutablePointer<Float>) {
        var js = 0
        while js * nr < ncb {
            let j0 = jc + js * nr, nrv = min(nr, ncb - js * nr)
            let d = dst + js * kc * nr
            if !tb {
                for p in 0..<kc {
                    let src = b + (pc + p) * ldb + j0, dp = d + p * nr
                    if nrv == nr { store8(load8(src), dp); store8(load8(src + 8), dp + 8) }
                    else { for j in 0..<nr { dp[j] = j < nrv ? src[j] : 0 } }
                }
            } else {
                for j in 0..<nr {
                    if j < nrv {
                        let src = b + (j0 + j) * ldb + pc
                        for p in 0..<kc { d[p * nr + j] = src[p] }
                    } else {
                        for p in 0..<kc { d[p * nr + j] = 0 }
                    }
                }
            }
            js += 1
        }
    }

    /// C[6×16] = alpha · Σ_p a[p, 0..<6] ⊗ b[p, 0..<16] + beta · C (C not read when beta = 0);
    /// a packed kc×6, b packed kc×16.
    @inline(never)
    static func kernel6x16(_ kc: Int, _ a: UnsafePointer<Float>, _ rs: Int, _ cs: Int, _ b: UnsafePointer<Float>,
                           _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
        var c00 = SIMD8<Float>.zero, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00
        var c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00
        let a0 = a, a1 = a + rs, a2 = a + 2 * rs, a3 = a + 3 * rs, a4 = a + 4 * rs, a5 = a + 5 * rs
        var q = 0, b = b
        for _ in 0..<kc {
            let b0 = load8(b), b1 = load8(b + 8)
            var x = SIMD8<Float>(repeating: a0[q]); c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: a1[q]); c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: a2[q]); c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: a3[q]); c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: a4[q]); c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            x = SIMD8<Float>(repeating: a5[q]); c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
            q += cs; b += 16
        }
        @inline(__always) func put(_ r: Int, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>) {
            let p = c + r * ldc
            if beta == 0 { store8(alpha * v0, p); store8(alpha * v1, p + 8) }
            else {
                let bv = SIMD8<Float>(repeating: beta)
                store8((alpha * v0).addingProduct(bv, load8(p)), p)
                store8((alpha * v1).addingProduct(bv, load8(p + 8)), p + 8)
            }
        }
        put(0, c00, c01); put(1, c10, c11); put(2, c20, c21); put(3, c30, c31); put(4, c40, c41); put(5, c50, c51)
    }
}

@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self) }
