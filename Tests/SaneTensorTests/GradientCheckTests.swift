import XCTest
import Foundation
@testable import SaneTensor

/// Finite-difference checks of every differentiable op in SaneTensor.
final class GradientCheckTests: GradientCheckCase {
    func testBroadcastArithmetic() {
        assertGradients("add", [param([3, 4]), param([4])]) { $0[0] + $0[1] }
        assertGradients("sub", [param([2, 3, 4]), param([3, 1])]) { $0[0] - $0[1] }
        assertGradients("mul", [param([3, 4]), param([3, 1])]) { $0[0] * $0[1] }
        assertGradients("div", [param([3, 4]), param([1, 4], scale: 0.1, offset: 2)]) { $0[0] / $0[1] }
        assertGradients("scale-shift", [param([5])]) { $0[0] * 3 + 1 }
    }

    func testUnary() {
        assertGradients("exp", [param([10], scale: 0.5)]) { $0[0].exp() }
        assertGradients("log", [param([10], scale: 0.1, offset: 2)]) { $0[0].log() }
        assertGradients("sqrt", [param([10], scale: 0.1, offset: 2)]) { $0[0].sqrt() }
        assertGradients("tanh", [param([10])]) { $0[0].tanh() }
        assertGradients("sigmoid", [param([10])]) { $0[0].sigmoid() }
        assertGradients("relu", [param([10])], step: 1e-3) { $0[0].relu() }
        assertGradients("leakyRelu", [param([10])], step: 1e-3) { $0[0].leakyRelu(slope: 0.1) }
        assertGradients("gelu", [param([10])]) { $0[0].gelu() }
        assertGradients("silu", [param([10])]) { $0[0].silu() }
        assertGradients("squared", [param([10])]) { $0[0].squared() }
    }

    func testMatmulAllTransposeCases() {
        for ta in [false, true] { for tb in [false, true] {
            let a = param(ta ? [2, 4, 3] : [2, 3, 4]), b = param(tb ? [2, 5, 4] : [2, 4, 5])
            assertGradients("matmul tA \(ta) tB \(tb)", [a, b]) { Variable.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
            let b2 = param(tb ? [5, 4] : [4, 5])
            assertGradients("matmul shared-B tA \(ta) tB \(tb)", [a, b2]) { Variable.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
        } }
    }

    func testLinear() {
        assertGradients("linear", [param([2, 3, 4]), param([5, 4]), param([5])]) { Variable.linear($0[0], weight: $0[1], bias: $0[2]) }
        assertGradients("linear no bias", [param([3, 4]), param([5, 4])]) { Variable.linear($0[0], weight: $0[1]) }
    }

    func testReductions() {
        assertGradients("sum axis", [param([2, 3, 4])]) { $0[0].sum(axis: 1) }
        assertGradients("mean axis keep", [param([2, 3, 4])]) { $0[0].mean(axis: -1, keepDims: true) }
        assertGradients("sum all", [param([2, 3])]) { $0[0].sum() }
        assertGradients("mean all", [param([2, 3])]) { $0[0].mean() }
        assertGradients("max axis", [param([3, 5])], step: 1e-3) { $0[0].max(axis: 1) }
    }

    func testShapeOps() {
        assertGradients("reshape", [param([2, 6])]) { $0[0].reshaped([3, 4]) * $0[0].reshaped([3, 4]) }
        assertGradients("permute", [param([2, 3, 4])]) { $0[0].permuted([2, 0, 1]) }
        assertGradients("transpose", [param([3, 4])]) { $0[0].transposed() }
        assertGradients("slice", [param([4, 5])]) { $0[0].sliced(axis: 1, 1..<4) }
        assertGradients("concat", [param([2, 3]), param([2, 2])]) { Variable.concat([$0[0], $0[1]], axis: 1) }
        assertGradients("gather", [param([5, 3])]) { $0[0].gathered(rows: [4, 0, 4, 2]) }
    }

    func testSoftmaxFamily() {
        assertGradients("softmax", [param([3, 6])]) { $0[0].softmax() }
        assertGradients("logSoftmax", [param([3, 6])]) { $0[0].logSoftmax() }
    }

    func testLayerNorm() {
        assertGradients("layerNorm", [param([4, 8]), param([8], scale: 0.2, offset: 1), param([8])]) {
            Variable.layerNorm($0[0], weight: $0[1], bias: $0[2])
        }
        assertGradients("layerNorm no bias", [param([2, 3, 8]), param([8], scale: 0.2, offset: 1)]) {
            Variable.layerNorm($0[0], weight: $0[1])
        }
    }

    func testAttention() {
        assertGradients("attention", [param([2, 5, 3 * 8], scale: 0.5)]) { Variable.attention(qkv: $0[0], heads: 2) }
        let mask = Tensor(shape: [2, 5], scalars: [1, 1, 1, 0, 0, 1, 1, 1, 1, 1])
        assertGradients("attention masked", [param([2, 5, 3 * 8], scale: 0.5)]) { Variable.attention(qkv: $0[0], heads: 4, keyMask: mask) }
    }

    func testLosses() {
        assertGradients("crossEntropy", [param([4, 5])]) { Variable.crossEntropy(logits: $0[0], labels: [0, 3, 4, 1]) }
        let target = Tensor.normal([3, 4], using: &g)
        let mask = Tensor(shape: [3, 4], scalars: [1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0])
        assertGradients("maskedMSE", [param([3, 4])]) { Variable.maskedMSE(prediction: $0[0], target: target, mask: mask) }
        assertGradients("ntXent", [param([4, 6]), param([4, 6])]) { Variable.ntXent($0[0], $0[1], temperature: 0.5) }
        // targets of mean 3 and std ≈ 0.5, so the normalization matters; moments from the target and given
        let shiftedTarget = Tensor.normal([3, 4], mean: 3, std: 0.5, using: &g)
        assertGradients("normalizedMaskedMSE", [param([3, 4], scale: 0.5, offset: 3)]) {
            Variable.normalizedMaskedMSE(prediction: $0[0], target: shiftedTarget, mask: mask)
        }
        assertGradients("normalizedMaskedMSE with moments", [param([3, 4], scale: 0.5, offset: 3)]) {
            Variable.normalizedMaskedMSE(prediction: $0[0], target: shiftedTarget, mask: mask, moments: (mean: 2.5, std: 0.8))
        }
    }

    /// normalizedMaskedMSE's value against the formula in Float64: μ, σ over the masked entries,
    /// L = Σ m((ŷ − μ)s − (y − μ)s)² / Σ m with s = 1/(σ + ε).
    func testNormalizedMaskedMSEValue() {
        let prediction = Tensor.normal([5, 3], mean: 2, using: &g), target = Tensor.normal([5, 3], mean: 2, std: 0.3, using: &g)
        let mask = Tensor(shape: [5, 3], scalars: [1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1])
        let (p, t, m) = (prediction.scalars.map(Double.init), target.scalars.map(Double.init), mask.scalars.map(Double.init))
        let n = m.reduce(0, +)
        let mean = zip(t, m).reduce(0) { $0 + $1.0 * $1.1 } / n
        let std = (zip(t, m).reduce(0) { $0 + $1.1 * ($1.0 - mean) * ($1.0 - mean) } / n).squareRoot()
        let s = 1 / (std + 1e-4)
        let expected = (0..<15).reduce(0.0) { $0 + m[$1] * pow((p[$1] - mean) * s - (t[$1] - mean) * s, 2) } / n
        let loss = Variable.normalizedMaskedMSE(prediction: Variable(prediction), target: target, mask: mask).value.scalar
        XCTAssertEqual(Double(loss), expected, accuracy: 1e-5 * expected, "normalizedMaskedMSE \(loss) vs formula \(expected)")
    }

    func testAttentionMatchesComposedOps() {
        // Fused attention equals the same computation composed from primitive ops.
        let qkv = param([2, 4, 3 * 6])
        let fused = Variable.attention(qkv: qkv, heads: 2).value
        let c = 6, h = 2, d = 3
        func head(_ x: Variable, _ block: Int, _ i: Int) -> Variable { x.sliced(axis: 2, (block * c + i * d)..<(block * c + (i + 1) * d)) }
        var outs: [Variable] = []
        for i in 0..<h {
            let s = Variable.matmul(head(qkv, 0, i), head(qkv, 1, i), transposeB: true) * (1 / Float(d).squareRoot())
            outs.append(Variable.matmul(s.softmax(), head(qkv, 2, i)))
        }
        let composed = Variable.concat(outs, axis: 2).value
        for i in 0..<fused.count { XCTAssertEqual(fused.readPointer[i], composed.readPointer[i], accuracy: 1e-5) }
    }
}

final class GradientCheckSelfTests: XCTestCase {
    /// The checker must fail on a wrong backward (here: the derivative of x² taken as x).
    func testDetectsWrongGradient() {
        var g = SeededGenerator(seed: 3)
        let x = Variable(Tensor.normal([6], using: &g), requiresGrad: true)
        let r = GradientCheck.check([x]) { xs in
            let v = xs[0]
            let y = Tensor(shape: v.shape) { o in for i in 0..<v.count { o[i] = v.value.readPointer[i] * v.value.readPointer[i] } }
            return Variable(y, parents: [v]) { gr in let d = v.gradientPointer(); for i in 0..<v.count { d[i] += gr.readPointer[i] * v.value.readPointer[i] } }
        }
        XCTAssertFalse(r.passed, "a wrong gradient passed the check: \(r)")
    }
}

final class FastMathTests: XCTestCase {
    /// fastExp / fastErf against libm (double precision) over a dense grid.
    func testAgainstLibm() {
        var maxExpRel = 0.0, maxErfAbs = 0.0
        for i in -8700...8800 {
            let x = Float(i) / 100
            let e = Double(fastExp(x)), ref = Foundation.exp(Double(x))
            maxExpRel = max(maxExpRel, abs(e - ref) / ref)
        }
        for i in -1000...1000 {
            let x = Float(i) / 100
            maxErfAbs = max(maxErfAbs, abs(Double(fastErf(x)) - Foundation.erf(Double(x))))
        }
        XCTAssertLessThan(maxExpRel, 5e-7, "fastExp max rel error \(maxExpRel)")
        XCTAssertLessThan(maxErfAbs, 3e-7, "fastErf max abs error \(maxErfAbs)")
    }
}

final class SGEMMSplitTests: XCTestCase {
    /// Tall products are split by rows of C over the workers (one single-threaded BLAS call each),
    /// others use BLAS's threads. For both, every transpose case, strided operands, alpha and
    /// beta, the result with 1, 2 and 3 workers must equal a float64 reference, and repeat bitwise.
    /// (Not bitwise equal across worker counts: OpenBLAS's edge kernels sum in another order.)
    func testSplitMatchesReferenceAndRepeats() {
        var g = SeededGenerator(seed: 11)
        for (m, n, k, split) in [(1100, 40, 50, true), (300, 301, 130, false)] {
            XCTAssertGreaterThanOrEqual(m * n * k, BLAS.parallelThreshold)
            XCTAssertEqual(m / 2 >= BLAS.minimumRowsPerCore, split, "the test must exercise both paths")
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                // stored shapes with padded row strides
                let (ar, ac) = ta ? (k, m) : (m, k), (br, bc) = tb ? (n, k) : (k, n)
                let (lda, ldb, ldc) = (ac + 3, bc + 5, n + 2)
                let a = Tensor.normal([ar, lda], using: &g), b = Tensor.normal([br, ldb], using: &g)
                let c0 = Tensor.normal([m, ldc], using: &g)
                let (alpha, beta): (Float, Float) = (0.75, 0.5)
                func run(workers: Int) -> Tensor {
                    var c = c0
                    let pc = c.writePointer()
                    Parallel.$workers.withValue(workers) {
                        sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: alpha, a: a.readPointer, lda: lda,
                              b: b.readPointer, ldb: ldb, beta: beta, c: pc, ldc: ldc)
                    }
                    return c
                }
                for workers in 1...3 {
                    let result = run(workers: workers)
                    XCTAssertEqual(result.scalars, run(workers: workers).scalars, "m \(m) n \(n) k \(k) tA \(ta) tB \(tb): \(workers) workers do not repeat")
                    let pa = a.scalars, pb = b.scalars, pc = c0.scalars, out = result.scalars
                    var maxError: Double = 0
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum: Double = 0
                            for l in 0..<k {
                                let x = Double(ta ? pa[l * lda + i] : pa[i * lda + l])
                                let y = Double(tb ? pb[j * ldb + l] : pb[l * ldb + j])
                                sum += x * y
                            }
                            let expected = Double(alpha) * sum + Double(beta) * Double(pc[i * ldc + j])
                            maxError = max(maxError, abs(expected - Double(out[i * ldc + j])))
                        }
                        // padding columns of C are untouched
                        for j in n..<ldc { XCTAssertEqual(out[i * ldc + j], pc[i * ldc + j]) }
                    }
                    XCTAssertLessThan(maxError, 1e-4, "m \(m) n \(n) k \(k) tA \(ta) tB \(tb), \(workers) workers: max abs error \(maxError)")
                }
            }
        }
    }
}
