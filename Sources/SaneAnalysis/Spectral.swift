import Foundation

/// WeightWatcher-style spectral metrics of layer weights (SANE-SPEC §8; Martin & Mahoney,
/// "Predicting trends in the quality of state-of-the-art neural networks without access to
/// training or testing data", Nature Communications 12, 2021).

/// A power law p(x) ∝ x^(−α) fitted to the tail x ≥ x_min of a sample.
public struct PowerLawFit: Sendable, Equatable {
    /// Exponent α of the density.
    public let alpha: Double
    /// Lower end of the fitted tail.
    public let minimumValue: Double
    /// Number of sample values in the tail (x ≥ x_min).
    public let tailCount: Int
    /// Kolmogorov–Smirnov distance between the tail's empirical CDF and the fitted one.
    public let ksDistance: Double
}

/// Spectral summary of one layer.
public struct LayerSpectrum: Sendable {
    /// Eigenvalues of WᵀW (= squared singular values of W), descending; min(c_out, r) of them.
    public let eigenvalues: [Double]
    /// log10 of the largest eigenvalue of WᵀW (WeightWatcher's `log_spectral_norm`).
    public let logSpectralNorm: Double
    /// Power-law fit of the eigenvalue tail, nil with fewer than two distinct positive eigenvalues.
    public let powerLaw: PowerLawFit?
}

public enum Spectral {
    /// Eigenvalues of WᵀW for a weight matrix viewed as [c_out, r] (row-major, r = all inputs of one
    /// output, e.g. c_in·k·k for a convolution), descending. The non-zero spectrum of WᵀW equals that
    /// of WWᵀ, so the smaller Gram matrix (BLAS dsyrk) is diagonalized (LAPACK dsyevd, float64);
    /// rounding-level negative values are clamped to 0.
    /// - Throws: `Matrix64.Failure` for NaN or infinite weights.
    public static func eigenvalues(weights: [Float], outputs: Int, inputs: Int) throws -> [Double] {
        precondition(weights.count == outputs * inputs,
                     "Spectral.eigenvalues: \(weights.count) weights for a \(outputs)×\(inputs) matrix")
        let matrix = Matrix64(rows: outputs, columns: inputs, values: weights.map(Double.init))
        let gram = outputs <= inputs ? matrix.rowGram() : matrix.columnGram()
        return try gram.symmetricEigenvalues().map { max($0, 0) }.reversed()
    }

    /// Eigenvalues, log10 spectral norm and power-law exponent of one layer ([c_out, r] view).
    public static func analyze(weights: [Float], outputs: Int, inputs: Int) throws -> LayerSpectrum {
        let eigenvalues = try eigenvalues(weights: weights, outputs: outputs, inputs: inputs)
        return LayerSpectrum(eigenvalues: eigenvalues,
                             logSpectralNorm: log10(eigenvalues.first ?? 0),
                             powerLaw: fitPowerLaw(eigenvalues.filter { $0 > 0 }))
    }

    /// Fits a continuous power law p(x) ∝ x^(−α), x ≥ x_min, to the tail of a positive sample, as
    /// WeightWatcher does through the `powerlaw` package (Clauset, Shalizi & Newman, "Power-law
    /// distributions in empirical data", SIAM Review 51, 2009, §3; Alstott et al., PLoS ONE 9, 2014):
    ///
    ///   for every distinct value x_min except the largest:
    ///     tail = {x_i ≥ x_min},  n = |tail|,  α̂ = 1 + n / Σ_tail ln(x_i / x_min)      (MLE, eq. 3.1)
    ///     D = max_i |F(x_(i)) − i/n|,  F(x) = 1 − (x / x_min)^(1 − α̂)                  (KS distance)
    ///   keep the x_min with the smallest D.
    ///
    /// The empirical CDF at a tail value is the fraction of tail values strictly below it (the
    /// `powerlaw` package's convention, so ties count once). Returns nil when there are fewer than
    /// two distinct values. Non-positive values are not allowed.
    public static func fitPowerLaw(_ values: [Double]) -> PowerLawFit? {
        precondition(values.allSatisfy { $0 > 0 }, "Spectral.fitPowerLaw: values must be positive")
        let sorted = values.sorted()
        let logs = sorted.map { log($0) }
        // suffixLogSums[k] = Σ_{i ≥ k} ln x_(i)
        var suffixLogSums = [Double](repeating: 0, count: sorted.count + 1)
        for i in stride(from: sorted.count - 1, through: 0, by: -1) { suffixLogSums[i] = suffixLogSums[i + 1] + logs[i] }

        var best: PowerLawFit?
        var start = 0
        while start < sorted.count {
            let minimum = sorted[start]
            if minimum == sorted[sorted.count - 1] { break }  // the largest distinct value is no candidate
            let tailCount = sorted.count - start
            let n = Double(tailCount)
            let alpha = 1 + n / (suffixLogSums[start] - n * logs[start])
            var distance = 0.0
            var i = start
            while i < sorted.count {
                let empirical = Double(i - start) / n
                let fitted = 1 - pow(sorted[i] / minimum, 1 - alpha)
                distance = max(distance, abs(fitted - empirical))
                let value = sorted[i]
                while i < sorted.count && sorted[i] == value { i += 1 }
            }
            if best == nil || distance < best!.ksDistance {
                best = PowerLawFit(alpha: alpha, minimumValue: minimum, tailCount: tailCount, ksDistance: distance)
            }
            while start < sorted.count && sorted[start] == minimum { start += 1 }
        }
        return best
    }
}

/// Correlation coefficients between two paired samples.
public enum Correlation {
    /// Pearson's r = Σ (x − x̄)(y − ȳ) / √(Σ (x − x̄)² · Σ (y − ȳ)²); NaN if either sample is constant.
    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        precondition(x.count == y.count && x.count >= 2, "Correlation.pearson: need two equally long samples of ≥ 2 values")
        let meanX = x.reduce(0, +) / Double(x.count)
        let meanY = y.reduce(0, +) / Double(y.count)
        var covariance = 0.0, varianceX = 0.0, varianceY = 0.0
        for (a, b) in zip(x, y) {
            covariance += (a - meanX) * (b - meanY)
            varianceX += (a - meanX) * (a - meanX)
            varianceY += (b - meanY) * (b - meanY)
        }
        return covariance / (varianceX * varianceY).squareRoot()
    }

    /// Spearman's ρ = Pearson's r of the ranks; tied values share their average rank
    /// (as `scipy.stats.spearmanr`).
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double {
        pearson(ranks(x), ranks(y))
    }

    /// 1-based ranks, ties getting the average of the ranks they span.
    public static func ranks(_ values: [Double]) -> [Double] {
        let order = values.indices.sorted { values[$0] < values[$1] }
        var ranks = [Double](repeating: 0, count: values.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && values[order[end + 1]] == values[order[start]] { end += 1 }
            let averageRank = Double(start + end) / 2 + 1
            for k in start...end { ranks[order[k]] = averageRank }
            start = end + 1
        }
        return ranks
    }
}
