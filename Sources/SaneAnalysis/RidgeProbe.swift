/// Linear probes: ridge regression with intercept, λ chosen on validation, reported on test
/// (SANE-SPEC §6; Schürholt et al., "Towards Scalable and Versatile Weight Space Learning",
/// ICML 2024, §5 "property prediction").

/// One split of a probe data set: a feature row per sample and its scalar target.
public struct ProbeSplit: Sendable {
    /// [samples][features]
    public var features: [[Double]]
    /// [samples]
    public var targets: [Double]

    public init(features: [[Double]], targets: [Double]) {
        precondition(features.count == targets.count,
                     "ProbeSplit: \(features.count) feature rows but \(targets.count) targets")
        self.features = features
        self.targets = targets
    }
}

/// Which closed form solves the ridge system. Both give the same weights (up to rounding):
///   primal  w = (ZᵀZ + λI_d)⁻¹ Zᵀy_c     — a d×d system, cheap when d ≤ n;
///   dual    w = Zᵀ (ZZᵀ + λI_n)⁻¹ y_c    — an n×n system, cheap when n < d
/// (push-through identity (ZᵀZ + λI)⁻¹Zᵀ = Zᵀ(ZZᵀ + λI)⁻¹).
public enum RidgeForm: Sendable {
    /// Primal when features ≤ samples, dual otherwise.
    case automatic
    case primal
    case dual
}

/// A fitted ridge regression: ŷ(x) = intercept + Σ_j w_j · (x_j − μ_j) / s_j.
///
/// μ and s are the training means and scales (s = population standard deviation when
/// standardizing, else 1; constant features get s = 1 and so contribute nothing). Since the
/// training features are centered, the intercept is the training mean of y and is not penalized.
public struct RidgeRegression: Sendable {
    public let lambda: Double
    /// [features] weights on the standardized features.
    public let weights: [Double]
    public let intercept: Double
    /// [features] μ_j, training means.
    public let featureMeans: [Double]
    /// [features] s_j, training scales.
    public let featureScales: [Double]

    public func predict(_ features: [[Double]]) -> [Double] {
        features.map { row in
            precondition(row.count == weights.count,
                         "RidgeRegression.predict: row has \(row.count) features, model has \(weights.count)")
            var sum = intercept
            for j in 0..<row.count { sum += weights[j] * (row[j] - featureMeans[j]) / featureScales[j] }
            return sum
        }
    }
}

/// The outcome of a λ sweep: the model with the best validation R² and its scores.
public struct ProbeResult: Sendable {
    public let lambda: Double
    public let trainR2: Double
    public let validationR2: Double
    public let testR2: Double
    /// [test samples] predictions of the selected model.
    public let testPredictions: [Double]
    /// (λ, validation R²) for every λ of the sweep, in sweep order; R² is NaN where the
    /// system could not be solved (not positive definite).
    public let sweep: [(lambda: Double, validationR2: Double)]
    public let model: RidgeRegression
}

public enum RidgeProbe {
    /// The λ grid of SANE-SPEC §6, largest first.
    public static let lambdas: [Double] = [
        1e3, 3e2, 1e2, 3e1, 1e1, 3, 1, 0.3, 0.1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5,
    ]

    public enum Failure: Error, CustomStringConvertible {
        case noSolvableLambda
        public var description: String {
            "RidgeProbe: no λ of the sweep gave a positive definite system. HINT: check the features for NaN or infinities."
        }
    }

    /// Coefficient of determination R² = 1 − mean((y − ŷ)²) / mean((y − ȳ)²), with ȳ the mean of
    /// the evaluated targets. The mean predictor scores 0; constant targets give 1 for a perfect
    /// prediction and −∞ otherwise.
    public static func rSquared(predictions: [Double], targets: [Double]) -> Double {
        precondition(predictions.count == targets.count && !targets.isEmpty,
                     "RidgeProbe.rSquared: \(predictions.count) predictions for \(targets.count) targets")
        let mean = targets.reduce(0, +) / Double(targets.count)
        var residual = 0.0, total = 0.0
        for (prediction, target) in zip(predictions, targets) {
            residual += (target - prediction) * (target - prediction)
            total += (target - mean) * (target - mean)
        }
        if total == 0 { return residual == 0 ? 1 : -.infinity }
        return 1 - residual / total
    }

    /// Fits ridge regressions for every λ on `train`, keeps the one with the highest validation R²
    /// (the largest λ on ties) and reports it on `test`.
    ///
    /// Loss: Σ_i (y_i − b − z_iᵀw)² + λ‖w‖², z_i the (standardized) training features. The Gram
    /// matrix is formed once and re-solved by Cholesky for each λ.
    ///
    /// - Parameters:
    ///   - standardize: scale every feature to unit variance with the training statistics (default).
    ///   - form: primal (d×d) or dual (n×n) system; `.automatic` picks the smaller.
    public static func fit(train: ProbeSplit, validation: ProbeSplit, test: ProbeSplit,
                           lambdas: [Double] = RidgeProbe.lambdas, standardize: Bool = true,
                           form: RidgeForm = .automatic) throws -> ProbeResult {
        let solver = RidgeSolver(train: train, standardize: standardize, form: form)
        var sweep: [(lambda: Double, validationR2: Double)] = []
        var best: (model: RidgeRegression, validationR2: Double)?
        for lambda in lambdas {
            guard let model = try? solver.solve(lambda: lambda) else {
                sweep.append((lambda, .nan))
                continue
            }
            let r2 = rSquared(predictions: model.predict(validation.features), targets: validation.targets)
            sweep.append((lambda, r2))
            if best == nil || r2 > best!.validationR2 { best = (model, r2) }
        }
        guard let best else { throw Failure.noSolvableLambda }
        let testPredictions = best.model.predict(test.features)
        return ProbeResult(
            lambda: best.model.lambda,
            trainR2: rSquared(predictions: best.model.predict(train.features), targets: train.targets),
            validationR2: best.validationR2,
            testR2: rSquared(predictions: testPredictions, targets: test.targets),
            testPredictions: testPredictions,
            sweep: sweep,
            model: best.model)
    }

    /// Fits one ridge regression with a fixed λ.
    public static func fit(train: ProbeSplit, lambda: Double, standardize: Bool = true,
                           form: RidgeForm = .automatic) throws -> RidgeRegression {
        try RidgeSolver(train: train, standardize: standardize, form: form).solve(lambda: lambda)
    }
}

/// The λ-independent part of a ridge fit: standardized, centered training data and its Gram matrix.
struct RidgeSolver {
    let featureMeans: [Double]
    let featureScales: [Double]
    let targetMean: Double
    /// [d, n] Zᵀ, the transposed standardized, centered training features.
    let transposedFeatures: Matrix64
    let usesDual: Bool
    /// Primal: ZᵀZ [d, d]; dual: ZZᵀ [n, n].
    let gram: Matrix64
    /// Primal: Zᵀy_c [d]; dual: y_c [n].
    let rightHandSide: [Double]

    init(train: ProbeSplit, standardize: Bool, form: RidgeForm) {
        let n = train.features.count
        precondition(n > 0, "RidgeProbe: empty training split")
        let d = train.features[0].count
        precondition(train.features.allSatisfy { $0.count == d }, "RidgeProbe: ragged feature rows")
        var means = [Double](repeating: 0, count: d)
        for row in train.features { for j in 0..<d { means[j] += row[j] } }
        for j in 0..<d { means[j] /= Double(n) }
        var scales = [Double](repeating: 1, count: d)
        if standardize {
            var variances = [Double](repeating: 0, count: d)
            for row in train.features { for j in 0..<d { variances[j] += (row[j] - means[j]) * (row[j] - means[j]) } }
            for j in 0..<d {
                let std = (variances[j] / Double(n)).squareRoot()
                // A constant column still shows rounding-level spread around its computed mean.
                let isConstant = std <= 1e-12 * abs(means[j]) || std == 0
                scales[j] = isConstant ? 1 : std
            }
        }
        var z = Matrix64(rows: n, columns: d)
        for i in 0..<n { for j in 0..<d { z.values[i * d + j] = (train.features[i][j] - means[j]) / scales[j] } }
        let targetMean = train.targets.reduce(0, +) / Double(n)
        let centeredTargets = train.targets.map { $0 - targetMean }

        let usesDual: Bool
        switch form {
        case .automatic: usesDual = n < d
        case .primal: usesDual = false
        case .dual: usesDual = true
        }
        self.featureMeans = means
        self.featureScales = scales
        self.targetMean = targetMean
        let zt = z.transposed()
        self.transposedFeatures = zt
        self.usesDual = usesDual
        if usesDual {
            gram = z.rowGram()
            rightHandSide = centeredTargets
        } else {
            gram = zt.rowGram()
            rightHandSide = zt * centeredTargets
        }
    }

    func solve(lambda: Double) throws -> RidgeRegression {
        var system = gram
        for i in 0..<system.rows { system[i, i] += lambda }
        let solution = try system.choleskySolve(rightHandSide)
        // Dual coefficients α map back to weights w = Zᵀα.
        let weights = usesDual ? transposedFeatures * solution : solution
        return RidgeRegression(lambda: lambda, weights: weights, intercept: targetMean,
                               featureMeans: featureMeans, featureScales: featureScales)
    }
}
