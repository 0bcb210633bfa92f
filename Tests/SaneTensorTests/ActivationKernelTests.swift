import Foundation
import XCTest
@testable import SaneTensor

/// The vectorized activations (Kernels/ActivationKernels.swift) against libm in Float64 on a
/// dense grid over [−20, 20]; prints the max absolute and relative errors.
final class ActivationKernelTests: XCTestCase {
    let grid: [Float] = (-200_000...200_000).map { Float($0) / 10_000 } + [1e-30, -1e-30, 1e-8, -1e-8, 0, 60, -60, 100, -100]

    /// Max absolute and relative error of `f` against `reference` over the grid.
    func errors(_ f: (Float) -> Float, _ reference: (Double) -> Double) -> (absolute: Double, relative: Double) {
        var a = 0.0, r = 0.0
        for x in grid {
            let y = Double(f(x)), ref = reference(Double(x))
            a = max(a, abs(y - ref))
            if abs(ref) > 1e-30 { r = max(r, abs(y - ref) / abs(ref)) }
        }
        return (a, r)
    }

    func testTanh() {
        let e = errors(fastTanh, Foundation.tanh)
        print("fastTanh: max abs error \(e.absolute), max rel error \(e.relative)")
        XCTAssertLessThan(e.absolute, 2e-7)
        XCTAssertLessThan(e.relative, 1e-6)
        XCTAssertEqual(fastTanh(0), 0)
        XCTAssertEqual(fastTanh(-0.0).sign, .minus)
    }

    func testSigmoid() {
        let e = errors(fastSigmoid) { 1 / (1 + Foundation.exp(-$0)) }
        print("fastSigmoid: max abs error \(e.absolute), max rel error (x ≥ −80) see below")
        XCTAssertLessThan(e.absolute, 2e-7)
        var r = 0.0
        for x in grid where x >= -80 { let ref = 1 / (1 + Foundation.exp(-Double(x))); r = max(r, abs(Double(fastSigmoid(x)) - ref) / ref) }
        print("fastSigmoid: max rel error \(r) for x ≥ −80")
        XCTAssertLessThan(r, 1e-6)
    }

    /// Every kernel pair against the scalar formulas (forward) and f'(x) (backward, accumulating).
    func testKernelsMatchFormulas() {
        let x = grid.filter { abs($0) <= 12 }, n = x.count
        let dy = (0..<n).map { Float(($0 % 7) - 3) / 3 }
        typealias Forward = (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void
        typealias Backward = (UnsafeMutablePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, Int) -> Void
        let slope: Float = 0.01
        let cases: [(String, Forward, Backward, Bool, (Double) -> Double, (Double) -> Double)] = [
            ("tanh", ActivationKernels.tanhForward, ActivationKernels.tanhBackward, true, { Foundation.tanh($0) }, { 1 - Foundation.tanh($0) * Foundation.tanh($0) }),
            ("sigmoid", ActivationKernels.sigmoidForward, ActivationKernels.sigmoidBackward, true,
             { 1 / (1 + Foundation.exp(-$0)) }, { let s = 1 / (1 + Foundation.exp(-$0)); return s * (1 - s) }),
            ("relu", ActivationKernels.reluForward, ActivationKernels.reluBackward, false, { max($0, 0) }, { $0 > 0 ? 1 : 0 }),
            ("leakyrelu", { ActivationKernels.leakyReluForward($0, $1, $2, slope: slope) }, { ActivationKernels.leakyReluBackward($0, $1, $2, $3, slope: slope) }, false,
             { $0 > 0 ? $0 : Double(slope) * $0 }, { $0 > 0 ? 1 : Double(slope) }),
            ("silu", ActivationKernels.siluForward, ActivationKernels.siluBackward, false,
             { $0 / (1 + Foundation.exp(-$0)) }, { let s = 1 / (1 + Foundation.exp(-$0)); return s * (1 + $0 * (1 - s)) }),
        ]
        for (name, forward, backward, fromOutput, f, d) in cases {
            var y = [Float](repeating: 0, count: n), dx = [Float](repeating: 0.5, count: n)
            forward(&y, x, n)
            backward(&dx, dy, fromOutput ? y : x, n)
            var ef = 0.0, eb = 0.0
            for i in 0..<n {
                let xi = Double(x[i])
                ef = max(ef, abs(Double(y[i]) - f(xi)))
                eb = max(eb, abs(Double(dx[i]) - (0.5 + Double(dy[i]) * d(xi))))
            }
            print("\(name): max abs error forward \(ef), backward \(eb)")
            XCTAssertLessThan(ef, 2e-6, name)
            XCTAssertLessThan(eb, 2e-6, name)
        }
    }
}
