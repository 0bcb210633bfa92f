import Foundation

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

/// Random erasing (Zhong et al., "Random Erasing Data Augmentation", AAAI 2020), the erasing
/// augmentation of the hyper-representation papers (Schürholt et al. 2021/2022; SANE-SPEC does
/// not define it, so the image defaults are used): with probability p, one block of the view's
/// [ws, d_t] value matrix is set to 0. The block covers a fraction s ~ U(0.02, 0.33) of the
/// matrix with aspect ratio r, log r ~ U(log 0.3, log 3.3): h = round(√(s·ws·d_t·r)) tokens by
/// w = round(√(s·ws·d_t / r)) values, at a uniformly random corner; up to 10 draws until it
/// fits, else nothing is erased (as torchvision's RandomErasing).
public struct RandomErasing: Sendable, Equatable {
    public var probability: Float
    public var scale: ClosedRange<Float> = 0.02...0.33
    public var ratio: ClosedRange<Float> = 0.3...3.3

    public init(probability: Float) { self.probability = probability }

    /// The block to erase in a [rows, columns] matrix, or nil (not drawn, or no fitting block).
    /// Draws nothing when `probability` is 0.
    public func block(rows: Int, columns: Int, using g: inout SeededGenerator) -> (rows: Range<Int>, columns: Range<Int>)? {
        guard probability > 0, g.uniformFloat() < probability else { return nil }
        let area = Float(rows * columns)
        for _ in 0..<10 {
            let s = scale.lowerBound + (scale.upperBound - scale.lowerBound) * g.uniformFloat()
            let r = exp(log(ratio.lowerBound) + (log(ratio.upperBound) - log(ratio.lowerBound)) * g.uniformFloat())
            let h = Int((s * area * r).squareRoot().rounded()), w = Int((s * area / r).squareRoot().rounded())
            guard h >= 1, w >= 1, h <= rows, w <= columns else { continue }
            let top = g.int(below: rows - h + 1), left = g.int(below: columns - w + 1)
            return (top..<(top + h), left..<(left + w))
        }
        return nil
    }
}

extension TokenSequence {
    /// The sequence with `block` set to 0 (the mask is unchanged: the reconstruction target
    /// keeps the values, so the model learns to fill the erased block in).
    public func erasing(_ block: (rows: Range<Int>, columns: Range<Int>)) -> TokenSequence {
        var erased = self
        let d = tokenSize
        erased.tokens.withMutableHostBuffer { x in                      // (N, d_t)
            for row in block.rows { for c in block.columns { x[row * d + c] = 0 } }
        }
        return erased
    }
}
