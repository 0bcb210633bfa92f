import XCTest
@testable import SaneAnalysis

final class WeightStatisticsTests: XCTestCase {
    func testPercentileMatchesNumpyLinearInterpolation() {
        let values = [3.1, -0.5, 2.2, 7.7, 0.0, 1.5, -2.4, 4.8, 9.9, 0.3]
        // python3 -c "import numpy as np; print(np.percentile(np.array(
        //   [3.1,-0.5,2.2,7.7,0.0,1.5,-2.4,4.8,9.9,0.3]),[1,25,50,75,99]).tolist())"
        let expected = [-2.229, 0.075, 1.85, 4.375, 9.702]
        let result = [1.0, 25, 50, 75, 99].map { WeightStatistics.percentile(of: values, percent: $0) }
        XCTAssertLessThan(maxAbsDifference(result, expected), 1e-12, "\(result)")
        XCTAssertEqual(WeightStatistics.percentile(of: values, percent: 0), -2.4)
        XCTAssertEqual(WeightStatistics.percentile(of: values, percent: 100), 9.9)
    }

    func testFeaturesOfTwoLayersMatchNumpy() {
        let layers: [[Float]] = [[1, 2, 3, 4, 10], [0.5, -0.5, 2]]
        // for l in ([1,2,3,4,10],[0.5,-0.5,2]): a=np.array(l,dtype=np.float32).astype(float);
        //   print([a.mean(), a.var()] + np.percentile(a,[1,25,50,75,99]).tolist())
        let expected = [4.0, 10.0, 1.04, 2.0, 3.0, 4.0, 9.76,
                        0.6666666666666666, 1.0555555555555556, -0.48, 0.0, 0.5, 1.25, 1.97]
        let features = WeightStatistics.features(layers: layers)
        XCTAssertEqual(features.count, 14)
        XCTAssertLessThan(maxAbsDifference(features, expected), 1e-12, "\(features)")
        XCTAssertEqual(WeightStatistics.featureNames(layerCount: 2)[8], "layer1.variance")
    }
}
