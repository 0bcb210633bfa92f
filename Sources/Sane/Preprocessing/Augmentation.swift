// Training-time augmentation of token sequences (SANE-SPEC §3 "Augmentation").
//
// Shape legend: N tokens, d_t token size.

extension TokenSequence {
    /// The sequence with multiplicative noise on its real values:
    ///
    ///     x' = x · (1 + σ · ε),   ε ~ N(0, 1) drawn independently per value
    ///
    /// Only entries with mask 1 are touched (and draw a random number, in row-major order);
    /// padding stays exactly 0. SANE uses σ = 0.1 on both views of a training sample.
    public func addingMultiplicativeNoise(sigma: Float, using generator: inout SeededGenerator) -> TokenSequence {
        var noisy = self
        noisy.tokens.withMutableHostBuffer { x in                       // (N, d_t)
            mask.withHostBuffer { m in                                  // (N, d_t)
                for i in 0..<m.count where m[i] != 0 { x[i] *= 1 + sigma * generator.normal() }
            }
        }
        return noisy
    }
}
