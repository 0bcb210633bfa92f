// Helpers for kernels that spell out their vector code in SIMD8<Float> (one ymm register of eight
// floats with the release build's AVX2).

#if arch(x86_64) && SANE_NATIVE
import _Builtin_intrinsics.intel
#endif

/// Eight floats at `p` (unaligned).
@inline(__always) func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Stores eight floats at `p` (unaligned).
@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// The first `count` (< 8) floats at `p`, the other lanes zero.
@inline(__always) func load8(_ p: UnsafePointer<Float>, count: Int) -> SIMD8<Float> {
    var v = SIMD8<Float>.zero
    for i in 0..<count { v[i] = p[i] }
    return v
}

/// Stores the first `count` (< 8) lanes of `v` at `p`.
@inline(__always) func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

/// Copies `count` floats from `s` to `d` (not overlapping) inline: rows of a few dozen floats, where
/// a call to `memmove` per row cost more than the copy (6.8 % of CNN3 training with the flat
/// kernels' per-row copies). Eight at a time, the last eight overlapping; below 8 one by one.
@inline(__always) func copyRow(_ d: UnsafeMutablePointer<Float>, _ s: UnsafePointer<Float>, count: Int) {
    if count < 8 {
        for k in 0..<count { d[k] = s[k] }
        return
    }
    var k = 0
    while k + 8 <= count { store8(load8(s + k), d + k); k += 8 }
    if k < count { store8(load8(s + count - 8), d + count - 8) }
}

/// √x lane by lane. Swift's `squareRoot()` on Float and on SIMD vectors calls libm's `sqrtf`
/// (errno semantics: a compare and a branch per lane, never `vsqrtps`), which also keeps LLVM
/// from vectorizing loops around it. The AVX build uses the instruction.
@inline(__always) func sqrt8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    #if arch(x86_64) && SANE_NATIVE
    return _mm256_sqrt_ps(x)
    #else
    return x.squareRoot()
    #endif
}
