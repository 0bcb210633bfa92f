import XCTest
@testable import SaneAnalysis

final class RidgeProbeTests: XCTestCase {
    /// y = 3 + Σ_j w_j x_j + noise, features with very different offsets and scales.
    func makeSplit(samples: Int, features: Int, noise: Double, generator: inout SplitMix64) -> ProbeSplit {
        let weights = (0..<features).map { Double($0 % 5) - 2 }
        var rows: [[Double]] = [], targets: [Double] = []
        for _ in 0..<samples {
            let row = (0..<features).map { j in 10 * Double(j) + Double(j + 1) * generator.normal() }
            rows.append(row)
            targets.append(3 + zip(weights, row).reduce(0) { $0 + $1.0 * $1.1 } + noise * generator.normal())
        }
        return ProbeSplit(features: rows, targets: targets)
    }

    func testRecoversLinearFunction() throws {
        var generator = SplitMix64(seed: 1)
        let train = makeSplit(samples: 200, features: 8, noise: 0.01, generator: &generator)
        let validation = makeSplit(samples: 50, features: 8, noise: 0.01, generator: &generator)
        let test = makeSplit(samples: 50, features: 8, noise: 0.01, generator: &generator)
        let result = try RidgeProbe.fit(train: train, validation: validation, test: test)
        XCTAssertGreaterThan(result.testR2, 0.9999, "test R² \(result.testR2)")
        XCTAssertGreaterThan(result.trainR2, 0.9999)
        XCTAssertLessThanOrEqual(result.lambda, 1, "a near noiseless problem wants little shrinkage")
        // The intercept: features at their training means predict the training mean of y.
        let atMeans = result.model.predict([result.model.featureMeans])[0]
        XCTAssertEqual(atMeans, train.targets.reduce(0, +) / 200, accuracy: 1e-9)
        XCTAssertEqual(result.testPredictions, result.model.predict(test.features))
    }

    func testLambdaIsChosenByValidation() throws {
        var generator = SplitMix64(seed: 2)
        // Few noisy samples, many features: heavy shrinkage should win on validation.
        let train = makeSplit(samples: 20, features: 15, noise: 40, generator: &generator)
        let validation = makeSplit(samples: 40, features: 15, noise: 40, generator: &generator)
        let test = makeSplit(samples: 40, features: 15, noise: 40, generator: &generator)
        let result = try RidgeProbe.fit(train: train, validation: validation, test: test)
        XCTAssertEqual(result.sweep.map(\.lambda), RidgeProbe.lambdas)
        let best = result.sweep.max { $0.validationR2 < $1.validationR2 }!
        XCTAssertEqual(result.lambda, best.lambda)
        XCTAssertEqual(result.validationR2, best.validationR2)
        // Refitting with the chosen λ reproduces the reported test score.
        let refit = try RidgeProbe.fit(train: train, lambda: result.lambda)
        let r2 = RidgeProbe.rSquared(predictions: refit.predict(test.features), targets: test.targets)
        XCTAssertEqual(r2, result.testR2, accuracy: 1e-12)
        // Validation choice differs from the training optimum (smallest λ always fits train best).
        let smallest = try RidgeProbe.fit(train: train, lambda: 1e-5)
        let smallestTrainR2 = RidgeProbe.rSquared(predictions: smallest.predict(train.features), targets: train.targets)
        XCTAssertGreaterThanOrEqual(smallestTrainR2, result.trainR2)
    }

    func testPrimalAndDualFormsAgree() throws {
        var generator = SplitMix64(seed: 3)
        for (samples, features) in [(30, 50), (50, 20)] {
            let train = makeSplit(samples: samples, features: features, noise: 1, generator: &generator)
            let test = makeSplit(samples: 25, features: features, noise: 1, generator: &generator)
            for lambda in [1e3, 1, 1e-2] {
                let primal = try RidgeProbe.fit(train: train, lambda: lambda, form: .primal)
                let dual = try RidgeProbe.fit(train: train, lambda: lambda, form: .dual)
                let difference = maxAbsDifference(primal.predict(test.features), dual.predict(test.features))
                XCTAssertLessThan(difference, 1e-8, "n \(samples) d \(features) λ \(lambda): max difference \(difference)")
            }
        }
    }

    func testConstantFeatureIsIgnored() throws {
        var generator = SplitMix64(seed: 4)
        let train = makeSplit(samples: 40, features: 5, noise: 0.5, generator: &generator)
        let test = makeSplit(samples: 10, features: 5, noise: 0.5, generator: &generator)
        func withConstant(_ split: ProbeSplit) -> ProbeSplit {
            ProbeSplit(features: split.features.map { $0 + [0.1] }, targets: split.targets)
        }
        let plain = try RidgeProbe.fit(train: train, lambda: 0.1)
        let padded = try RidgeProbe.fit(train: withConstant(train), lambda: 0.1)
        XCTAssertEqual(padded.featureScales.last, 1)
        XCTAssertLessThan(maxAbsDifference(plain.predict(test.features), padded.predict(withConstant(test).features)), 1e-9)
    }

    func testUnstandardizedFitMatchesNormalEquations() throws {
        // y = 1 + 2x exactly; with λ → 0 and no standardization the slope is 2.
        let train = ProbeSplit(features: [[0], [1], [2], [3]], targets: [1, 3, 5, 7])
        let model = try RidgeProbe.fit(train: train, lambda: 1e-9, standardize: false)
        XCTAssertEqual(model.weights[0], 2, accuracy: 1e-8)
        XCTAssertEqual(model.predict([[10]])[0], 21, accuracy: 1e-7)
        // With λ = 5: w = Σ x_c y_c / (Σ x_c² + λ) = 10 / (5 + 5) = 1.
        let shrunk = try RidgeProbe.fit(train: train, lambda: 5, standardize: false)
        XCTAssertEqual(shrunk.weights[0], 1, accuracy: 1e-12)
    }

    func testRSquaredOfMeanPredictorIsZero() {
        let targets = [1.0, 4, 2, 8, 5]
        let mean = targets.reduce(0, +) / 5
        XCTAssertEqual(RidgeProbe.rSquared(predictions: Array(repeating: mean, count: 5), targets: targets), 0, accuracy: 1e-15)
        XCTAssertEqual(RidgeProbe.rSquared(predictions: targets, targets: targets), 1)
    }

    /// Wide problems (features ≫ samples, like the 400 × 2,464 flattened-weights baseline, which
    /// takes about 0.7 s for the 17-λ sweep in a release build) go through the n×n dual system.
    func testWideProblemUsesDualForm() throws {
        var generator = SplitMix64(seed: 5)
        let features = 600
        let direction = (0..<features).map { _ in generator.normal() }
        func split(_ samples: Int) -> ProbeSplit {
            let rows = (0..<samples).map { _ in (0..<features).map { _ in generator.normal() } }
            return ProbeSplit(features: rows, targets: rows.map { zip($0, direction).reduce(0) { $0 + $1.0 * $1.1 } })
        }
        let train = split(100), validation = split(30), test = split(30)
        XCTAssertTrue(RidgeSolver(train: train, standardize: true, form: .automatic).usesDual)
        let result = try RidgeProbe.fit(train: train, validation: validation, test: test)
        XCTAssertEqual(result.testPredictions.count, 30)
        XCTAssertEqual(result.model.weights.count, features)
    }
}
