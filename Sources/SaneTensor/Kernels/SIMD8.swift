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
