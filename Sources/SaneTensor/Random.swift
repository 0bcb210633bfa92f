// Seeded random numbers. Every random choice in Sane takes one of these explicitly:
// the same seed gives the same zoo, the same training curve, the same samples.

/// xoshiro256** (Blackman & Vigna), seeded through SplitMix64. Fast, 256-bit state,
/// and its state can be saved and restored exactly (`state`).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var sm = seed
        func splitmix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// Restores a generator from `stateWords` (4 words, as returned by `stateWords`).
    public init(stateWords w: [UInt64]) {
        precondition(w.count == 4, "generator state needs 4 words")
        state = (w[0], w[1], w[2], w[3])
    }

    public var stateWords: [UInt64] { [state.0, state.1, state.2, state.3] }

    @inline(__always) static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = SeededGenerator.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0; state.3 ^= state.1; state.1 ^= state.2; state.0 ^= state.3
        state.2 ^= t
        state.3 = SeededGenerator.rotl(state.3, 45)
        return result
    }

    /// A new generator derived from this one (for per-model / per-thread streams).
    public mutating func fork() -> SeededGenerator { SeededGenerator(seed: next()) }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always) public mutating func uniformFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always) public mutating func uniformDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Standard normal N(0, 1) by the Box–Muller transform (double precision internally).
    public mutating func normal() -> Float {
        var u1 = uniformDouble()
        while u1 <= 0 { u1 = uniformDouble() }
        let u2 = uniformDouble()
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Uniform integer in 0..<n.
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0)
        return Int(next(upperBound: UInt64(n)))
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates).
    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 { for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, int(below: i + 1)) } }
        return p
    }
}

extension Tensor {
    /// Elements drawn from N(mean, std²).
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1, using g: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape) { p in for i in 0..<elementCount(shape) { p[i] = mean + std * g.normal() } }
    }

    /// Elements drawn from U(low, high).
    public static func uniform(_ shape: [Int], low: Float, high: Float, using g: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape) { p in for i in 0..<elementCount(shape) { p[i] = low + (high - low) * g.uniformFloat() } }
    }
}

import Foundation
