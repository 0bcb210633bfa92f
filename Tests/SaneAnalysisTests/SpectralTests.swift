import XCTest
@testable import SaneAnalysis

final class SpectralTests: XCTestCase {
    func testEigenvaluesAreSquaredSingularValues() throws {
        let weights: [Float] = [0.5, -1.0, 2.0, 0.0, 1.5,
                                1.0, 0.25, -0.5, 3.0, -2.0,
                                -1.5, 2.0, 0.75, 1.0, 0.5]
        // W = np.array([[0.5,-1,2,0,1.5],[1,0.25,-0.5,3,-2],[-1.5,2,0.75,1,0.5]]);
        // print((np.linalg.svd(W)[1]**2).tolist())
        let expected = [16.047361101505082, 8.006571805528777, 5.821067092966138]
        let wide = try Spectral.eigenvalues(weights: weights, outputs: 3, inputs: 5)
        XCTAssertLessThan(maxAbsDifference(wide, expected), 1e-12, "\(wide)")
        // The transposed view [5, 3] has the same non-zero spectrum.
        var transposed = [Float](repeating: 0, count: 15)
        for i in 0..<3 { for j in 0..<5 { transposed[j * 3 + i] = weights[i * 5 + j] } }
        let tall = try Spectral.eigenvalues(weights: transposed, outputs: 5, inputs: 3)
        XCTAssertLessThan(maxAbsDifference(tall, expected), 1e-12, "\(tall)")
        let spectrum = try Spectral.analyze(weights: weights, outputs: 3, inputs: 5)
        XCTAssertEqual(spectrum.logSpectralNorm, log10(expected[0]), accuracy: 1e-12)
        XCTAssertNotNil(spectrum.powerLaw)
    }

    func testPowerLawExponentOfParetoSample() throws {
        // Pareto tail p(x) ∝ x^(−2.5), x ≥ 1, drawn by inversion x = (1 − u)^(−1/(α − 1)), plus a
        // uniform bulk below 1 that the x_min search must cut away.
        var generator = SplitMix64(seed: 42)
        let alpha = 2.5
        let tail = (0..<3000).map { _ in pow(1 - generator.uniform(), -1 / (alpha - 1)) }
        let bulk = (0..<1000).map { _ in 0.1 + 0.9 * generator.uniform() }
        let fit = try XCTUnwrap(Spectral.fitPowerLaw(tail + bulk))
        XCTAssertEqual(fit.alpha, alpha, accuracy: 0.1 * alpha, "fit \(fit)")
        XCTAssertGreaterThan(fit.minimumValue, 0.9, "fit \(fit)")
        XCTAssertLessThan(fit.ksDistance, 0.05, "fit \(fit)")
    }

    func testPowerLawNeedsTwoDistinctValues() {
        XCTAssertNil(Spectral.fitPowerLaw([2, 2, 2]))
    }

    func testCorrelationsMatchScipy() {
        let x = [1.0, 2, 3, 4, 5, 6]
        // import scipy.stats as st; st.pearsonr(x,[2,1,4,3,7,5]); st.spearmanr(x,[2,1,4,3,7,5]);
        // st.spearmanr(x,[1,3,3,2,5,5])
        XCTAssertEqual(Correlation.pearson(x, [2, 1, 4, 3, 7, 5]), 0.7917946548886294, accuracy: 1e-12)
        XCTAssertEqual(Correlation.spearman(x, [2, 1, 4, 3, 7, 5]), 0.8285714285714287, accuracy: 1e-12)
        XCTAssertEqual(Correlation.spearman(x, [1, 3, 3, 2, 5, 5]), 0.7944613465542746, accuracy: 1e-12)
        XCTAssertEqual(Correlation.ranks([10, 30, 20, 30]), [1, 3.5, 2, 3.5])
    }
}
