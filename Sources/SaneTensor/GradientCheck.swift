import Foundation

/// Finite-difference gradient checking for ops and layers (used by the test suites).
///
/// The scalar probed is L = Σ_i w_i · f(x)_i with fixed random weights w, so every output element
/// matters. For each input element, the analytic ∂L/∂x from `backward()` is compared with the
/// central difference (L(x + h) − L(x − h)) / 2h, with L accumulated in float64.
public enum GradientCheck {
    public struct Report: CustomStringConvertible {
        public var maxAbsoluteError: Double
        public var maxRelativeError: Double
        /// Largest |analytic| seen, for scale.
        public var maxGradient: Double
        public var worst: String
        public var description: String {
            String(format: "max abs err %.3e, max rel err %.3e (max |grad| %.3e) at %@", maxAbsoluteError, maxRelativeError, maxGradient, worst)
        }
        /// True when every element is within `absolute` OR `relative` tolerance.
        public var passed: Bool = true
    }

    /// Checks the gradients of `f` with respect to each of `inputs` (all must require gradients).
    /// At most `maxElements` elements per input are probed (evenly spread) to keep tests fast.
    public static func check(_ inputs: [Variable], step h: Float = 1e-2, absolute: Double = 2e-3, relative: Double = 2e-2,
                             maxElements: Int = 64, seed: UInt64 = 7, _ f: ([Variable]) -> Variable) -> Report {
        var g = SeededGenerator(seed: seed)
        let out0 = f(inputs)
        let w = Tensor.normal(out0.shape, using: &g)
        func loss() -> Double {
            let y = f(inputs).value
            var s: Double = 0
            for i in 0..<y.count { s += Double(y.readPointer[i]) * Double(w.readPointer[i]) }
            return s
        }
        for x in inputs { x.grad = nil }
        let y = f(inputs)
        (y * Variable(w)).sum().backward()
        var report = Report(maxAbsoluteError: 0, maxRelativeError: 0, maxGradient: 0, worst: "-")
        for (k, x) in inputs.enumerated() {
            let analytic = x.grad ?? Tensor(zeros: x.shape)
            let n = x.count, stride = Swift.max(1, n / maxElements)
            for i in Swift.stride(from: 0, to: n, by: stride) {
                let p = x.value.writePointer()
                let orig = p[i]
                p[i] = orig + h; let lp = loss()
                x.value.writePointer()[i] = orig - h; let lm = loss()
                x.value.writePointer()[i] = orig
                let numeric = (lp - lm) / (2 * Double(h))
                let a = Double(analytic.readPointer[i])
                let absErr = abs(a - numeric), relErr = absErr / Swift.max(abs(a), abs(numeric), 1e-6)
                report.maxGradient = Swift.max(report.maxGradient, abs(a))
                if absErr > report.maxAbsoluteError { report.maxAbsoluteError = absErr; report.worst = "input \(k) element \(i): analytic \(a), numeric \(numeric)" }
                report.maxRelativeError = Swift.max(report.maxRelativeError, Swift.min(relErr, absErr > absolute ? relErr : 0))
                if absErr > absolute && relErr > relative { report.passed = false }
            }
        }
        return report
    }
}
