// CPython's `random.Random`, bit for bit, for the parts Sane needs: `Random(seed)`,
// `getrandbits(k)`, `random()` and `shuffle(x)`. The Model Zoos splits (and the zoo README's
// reference numbers) come from `random.Random(42).shuffle(sorted(names))`; reproducing it
// exactly makes our splits identical to the reference ones.
//
// Reference: CPython Modules/_randommodule.c (MT19937, init_by_array, random_seed) and
// Lib/random.py (shuffle, _randbelow_with_getrandbits).

/// The Mersenne Twister MT19937 seeded as CPython's `random.seed(int)`.
public struct PythonRandom: Sendable {
    private var mt = [UInt32](repeating: 0, count: 624)
    private var index = 624

    /// `random.Random(seed)` for an integer seed: the absolute value is split into 32-bit
    /// words (least significant first, at least one) and fed to `init_by_array`.
    public init(seed: Int) {
        var magnitude = seed.magnitude
        var key: [UInt32] = []
        repeat {
            key.append(UInt32(truncatingIfNeeded: magnitude))
            magnitude >>= 32
        } while magnitude != 0
        initByArray(key)
    }

    private mutating func initGenrand(_ s: UInt32) {
        mt[0] = s
        for i in 1..<624 {
            mt[i] = 1_812_433_253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i)
        }
        index = 624
    }

    private mutating func initByArray(_ key: [UInt32]) {
        initGenrand(19_650_218)
        var i = 1, j = 0
        for _ in 0..<max(624, key.count) {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_664_525)) &+ key[j] &+ UInt32(j)
            i += 1; j += 1
            if i >= 624 { mt[0] = mt[623]; i = 1 }
            if j >= key.count { j = 0 }
        }
        for _ in 0..<623 {
            mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) &* 1_566_083_941)) &- UInt32(i)
            i += 1
            if i >= 624 { mt[0] = mt[623]; i = 1 }
        }
        mt[0] = 0x8000_0000
    }

    /// The next 32 random bits (`genrand_uint32`).
    public mutating func nextUInt32() -> UInt32 {
        if index >= 624 {
            for k in 0..<624 {
                let y = (mt[k] & 0x8000_0000) | (mt[(k + 1) % 624] & 0x7FFF_FFFF)
                mt[k] = mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908_B0DF : 0)
            }
            index = 0
        }
        var y = mt[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// `getrandbits(k)` for 0 ≤ k ≤ 32: the top `k` bits of one output.
    public mutating func getrandbits(_ k: Int) -> UInt32 {
        precondition((0...32).contains(k), "getrandbits supports 0...32 bits here")
        return k == 0 ? 0 : nextUInt32() >> (32 - UInt32(k))
    }

    /// `random()`: a double in [0, 1) from 53 bits of two outputs.
    public mutating func random() -> Double {
        let a = Double(nextUInt32() >> 5), b = Double(nextUInt32() >> 6)
        return (a * 67_108_864 + b) * (1.0 / 9_007_199_254_740_992)
    }

    /// `_randbelow(n)`: uniform in 0..<n by rejection sampling on `n.bit_length()` bits.
    public mutating func randbelow(_ n: Int) -> Int {
        precondition(n > 0 && n <= Int(UInt32.max), "randbelow needs 0 < n < 2^32")
        let k = Int.bitWidth - n.leadingZeroBitCount
        var r = Int(getrandbits(k))
        while r >= n { r = Int(getrandbits(k)) }
        return r
    }

    /// `shuffle(x)`: Fisher–Yates from the end, j = randbelow(i + 1).
    public mutating func shuffle<T>(_ x: inout [T]) {
        guard x.count > 1 else { return }
        for i in stride(from: x.count - 1, to: 0, by: -1) {
            x.swapAt(i, randbelow(i + 1))
        }
    }
}
