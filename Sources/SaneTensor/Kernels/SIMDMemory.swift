// Explicit SIMD8 loads and stores for kernels that spell out their vector code (one ymm register
// of eight floats with the release build's AVX2).

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
