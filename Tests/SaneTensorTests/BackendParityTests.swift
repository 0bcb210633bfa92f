import XCTest
@testable import SaneTensor

/// Every kernel pair of the `Backend` protocol, run through its op on `CPUBackend` and on
/// `ReferenceBackend` over ragged shapes (1, 3, 7, 17, 33, …): the outputs of the forward pass
/// and the gradients of the backward pass must agree. The backward starts from a random output
/// gradient, and every input's gradient is pre-filled with random values, so the test also
/// checks that backward kernels accumulate (+=) instead of overwriting.
final class BackendParityTests: XCTestCase {
    var g = SeededGenerator(seed: 12)

    func normal(_ shape: [Int], std: Float = 1, mean: Float = 0) -> Tensor { Tensor.normal(shape, mean: mean, std: std, using: &g) }

    func positive(_ shape: [Int]) -> Tensor {
        var t = normal(shape)
        t.withMutableHostBuffer { b in for i in b.indices { b[i] = Swift.abs(b[i]) + 0.2 } }
        return t
    }

    /// Largest |a − b| and |a − b|/max(|b|, floor) over two tensors of equal element count.
    func errors(_ a: Tensor, _ b: Tensor, floor: Float) -> (absolute: Float, relative: Float) {
        var absolute: Float = 0, relative: Float = 0
        for (x, y) in zip(a.scalars, b.scalars) {
            let e = Swift.abs(x - y)
            if x.isNaN != y.isNaN { return (.nan, .nan) }
            absolute = Swift.max(absolute, e)
            relative = Swift.max(relative, e / Swift.max(Swift.abs(y), floor))
        }
        return (absolute, relative)
    }

    /// nil when every element is within `absolute` or within `relative` of the reference, else
    /// a message with the max abs/rel error and the worst element.
    func mismatch(_ cpu: Tensor, _ reference: Tensor, absolute: Float, relative: Float) -> String? {
        if cpu.shape != reference.shape { return "shapes \(cpu.shape) and \(reference.shape) differ" }
        var worst: (index: Int, cpu: Float, reference: Float)?
        for (i, (x, y)) in zip(cpu.scalars, reference.scalars).enumerated() {
            let e = Swift.abs(x - y)
            let ok = (x.isNaN && y.isNaN) || e <= absolute || e <= relative * Swift.abs(y)
            if !ok && (worst == nil || !(e <= Swift.abs(worst!.cpu - worst!.reference))) { worst = (i, x, y) }
        }
        guard let worst else { return nil }
        let (a, r) = errors(cpu, reference, floor: 1e-6)
        return String(format: "max abs err %.3e, max rel err %.3e (tolerance abs %.1e, rel %.1e); worst element %d: cpu %.8g, reference %.8g",
                      a, r, absolute, relative, worst.index, worst.cpu, worst.reference)
    }

    func assertClose(_ name: String, _ cpu: Tensor, _ reference: Tensor, absolute: Float, relative: Float,
                     file: StaticString = #filePath, line: UInt = #line) {
        if let message = mismatch(cpu, reference, absolute: absolute, relative: relative) { XCTFail("\(name): \(message)", file: file, line: line) }
    }

    /// Runs `f` forward and backward on `backend` over fresh variables holding `inputs`, with the
    /// given output gradient and pre-filled input gradients; returns the output and the gradients.
    func run(_ backend: any Backend, _ inputs: [Tensor], seed: Tensor?, startGradients: [Tensor],
             _ f: ([Variable]) -> Variable) -> (Tensor, [Tensor]) {
        Backends.using(backend) {
            let xs = inputs.map { Variable($0, requiresGrad: true) }
            let y = f(xs)
            for (x, g0) in zip(xs, startGradients) { x.grad = g0 }
            y.backward(seed: seed ?? Tensor(shape: y.shape, repeating: 1))
            return (y.value, xs.map { $0.grad ?? Tensor(zeros: $0.shape) })
        }
    }

    /// Compares the forward output and every input gradient of `f` on the two backends.
    func assertParity(_ name: String, _ inputs: [Tensor], absolute: Float = 2e-5, relative: Float = 2e-4,
                      file: StaticString = #filePath, line: UInt = #line, _ f: @escaping ([Variable]) -> Variable) {
        let shape = Backends.using(ReferenceBackend()) { Variable.withoutGradients { f(inputs.map { Variable($0) }).shape } }
        let seed = normal(shape)
        let starts = inputs.map { normal($0.shape) }
        let (yc, gc) = run(CPUBackend(), inputs, seed: seed, startGradients: starts, f)
        let (yr, gr) = run(ReferenceBackend(), inputs, seed: seed, startGradients: starts, f)
        assertClose("\(name) forward", yc, yr, absolute: absolute, relative: relative, file: file, line: line)
        for (k, (a, b)) in zip(gc, gr).enumerated() {
            assertClose("\(name) backward, gradient of input \(k)", a, b, absolute: absolute, relative: relative, file: file, line: line)
        }
    }

    // MARK: Matrix products

    func testMatmulAllTransposeCasesRaggedShapes() {
        for (m, n, k) in [(1, 1, 1), (3, 7, 17), (17, 3, 33), (33, 17, 7)] {
            for ta in [false, true] { for tb in [false, true] {
                let a = normal(ta ? [2, k, m] : [2, m, k]), b = normal(tb ? [2, n, k] : [2, k, n])
                assertParity("matmul batched \(m)×\(n)×\(k) tA \(ta) tB \(tb)", [a, b]) { Variable.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
                let shared = normal(tb ? [n, k] : [k, n])
                assertParity("matmul shared B \(m)×\(n)×\(k) tA \(ta) tB \(tb)", [a, shared]) { Variable.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) }
            } }
        }
    }

    func testLinear() {
        for (rows, inF, outF) in [(1, 1, 1), (7, 17, 3), (33, 7, 17)] {
            assertParity("linear \(rows)×\(inF)→\(outF)", [normal([rows, inF]), normal([outF, inF]), normal([outF])]) {
                Variable.linear($0[0], weight: $0[1], bias: $0[2])
            }
            assertParity("linear 3-D, no bias", [normal([3, rows, inF]), normal([outF, inF])]) { Variable.linear($0[0], weight: $0[1]) }
        }
    }

    // MARK: Elementwise

    func testPointwiseFunctions() {
        let functions: [(String, PointwiseFunction, Bool)] = [
            ("exp", .exp, false), ("log", .log, true), ("sqrt", .sqrt, true), ("square", .square, false),
            ("tanh", .tanh, false), ("sigmoid", .sigmoid, false), ("relu", .relu, false),
            ("leakyRelu", .leakyRelu(slope: 0.07), false), ("silu", .silu, false), ("gelu", .gelu, false),
        ]
        // 4099 crosses the CPU GELU's 4096-element chunks
        for count in [1, 7, 33, 4099] {
            for (name, f, needsPositive) in functions {
                let x = needsPositive ? positive([count]) : normal([count], std: 2)
                assertParity("\(name) n=\(count)", [x], absolute: 2e-6, relative: 2e-5) { $0[0].pointwise(f) }
            }
        }
    }

    func testScaleShiftAndMask() {
        assertParity("scaledAndShifted", [normal([17, 3])]) { $0[0] * 2.5 + 0.75 }
        var mask = normal([7, 33])
        mask.withMutableHostBuffer { b in for i in b.indices { b[i] = b[i] > 0 ? 1.25 : 0 } }
        assertParity("masked(by:)", [normal([7, 33])]) { $0[0].masked(by: mask) }
    }

    func testBroadcastArithmetic() {
        let pairs: [([Int], [Int])] = [([7, 33], [7, 33]), ([7, 1, 3], [17, 3]), ([1], [33]), ([3, 17, 1], [1, 7]), ([], [7, 3])]
        for (sa, sb) in pairs {
            assertParity("add \(sa) \(sb)", [normal(sa), normal(sb)]) { $0[0] + $0[1] }
            assertParity("subtract \(sa) \(sb)", [normal(sa), normal(sb)]) { $0[0] - $0[1] }
            assertParity("multiply \(sa) \(sb)", [normal(sa), normal(sb)]) { $0[0] * $0[1] }
            assertParity("divide \(sa) \(sb)", [normal(sa), positive(sb)], absolute: 1e-4, relative: 1e-4) { $0[0] / $0[1] }
        }
    }

    // MARK: Reductions and data movement

    func testReductions() {
        let x = normal([3, 7, 17])
        for axis in 0..<3 {
            assertParity("sum axis \(axis)", [x]) { $0[0].sum(axis: axis) }
            assertParity("mean axis \(axis) keepDims", [x]) { $0[0].mean(axis: axis, keepDims: true) }
            assertParity("max axis \(axis)", [x]) { $0[0].max(axis: axis) }
        }
        assertParity("sum all", [normal([33, 17])], absolute: 1e-4) { $0[0].sum() }
        assertParity("mean all", [normal([1])]) { $0[0].mean() }
    }

    func testShapeOps() {
        let x = normal([3, 7, 17])
        assertParity("reshape", [x]) { $0[0].reshaped([21, -1]) }
        assertParity("permute", [x]) { $0[0].permuted([2, 0, 1]) }
        assertParity("transpose", [normal([1, 33, 3])]) { $0[0].transposed() }
        assertParity("slice axis 1", [x]) { $0[0].sliced(axis: 1, 2..<6) }
        assertParity("slice axis 2", [x]) { $0[0].sliced(axis: 2, 16..<17) }
        assertParity("concat axis 1", [x, normal([3, 1, 17]), normal([3, 33, 17])]) { Variable.concat($0, axis: 1) }
        assertParity("concat axis 0", [normal([1, 7]), normal([17, 7])]) { Variable.concat($0, axis: 0) }
        let rows: [Int32] = [4, 0, 16, 4, 4, 7, 33 - 17]
        assertParity("gathered rows", [normal([17, 33])]) { $0[0].gathered(rows: rows) }
    }

    // MARK: Softmax and losses

    func testSoftmaxFamilyAndLosses() {
        for shape in [[1, 1], [7, 33], [17, 3], [3, 7, 17]] {
            assertParity("softmax \(shape)", [normal(shape, std: 3)]) { $0[0].softmax() }
            assertParity("logSoftmax \(shape)", [normal(shape, std: 3)]) { $0[0].logSoftmax() }
        }
        for (n, k) in [(1, 1), (7, 3), (17, 33)] {
            let labels = (0..<n).map { ($0 * 5 + 2) % k }
            assertParity("crossEntropy \(n)×\(k)", [normal([n, k], std: 2)]) { Variable.crossEntropy(logits: $0[0], labels: labels) }
        }
        for shape in [[1], [7, 33], [3, 17, 7]] {
            let target = normal(shape)
            var mask = normal(shape)
            mask.withMutableHostBuffer { b in for i in b.indices { b[i] = b[i] > -0.3 ? 1 : 0 } }
            assertParity("maskedMSE \(shape)", [normal(shape)]) { Variable.maskedMSE(prediction: $0[0], target: target, mask: mask) }
        }
    }

    // MARK: Transformer kernels

    func testLayerNorm() {
        for (n, c) in [(1, 3), (7, 17), (3, 33)] {
            assertParity("layerNorm \(n)×\(c)", [normal([n, c], std: 2, mean: 0.5), normal([c]), normal([c])], absolute: 1e-4, relative: 1e-3) {
                Variable.layerNorm($0[0], weight: $0[1], bias: $0[2])
            }
            assertParity("layerNorm \(n)×\(c) no bias", [normal([2, n, c]), normal([c])], absolute: 1e-4, relative: 1e-3) {
                Variable.layerNorm($0[0], weight: $0[1])
            }
        }
    }

    func testAttention() {
        for (b, t, c, heads) in [(1, 1, 3, 1), (2, 7, 6, 3), (3, 17, 33, 3)] {
            assertParity("attention B\(b) T\(t) C\(c) H\(heads)", [normal([b, t, 3 * c])], absolute: 1e-4, relative: 1e-3) {
                Variable.attention(qkv: $0[0], heads: heads)
            }
            // key mask: the last key of every item masked out, and (T > 1) every key of item 0 but the first
            var mask = Tensor(shape: [b, t], repeating: 1)
            for bi in 0..<b where t > 1 { mask[bi, t - 1] = 0 }
            for j in 1..<Swift.max(t, 1) { mask[0, j] = 0 }
            assertParity("attention B\(b) T\(t) C\(c) H\(heads) masked", [normal([b, t, 3 * c])], absolute: 1e-4, relative: 1e-3) {
                Variable.attention(qkv: $0[0], heads: heads, keyMask: mask)
            }
        }
    }

    // MARK: Convolution family

    func testConvolution() {
        // (B, Ci, H, W, Co, k, stride, padding): the first takes the CPU's direct kernels
        // (stride 1, no padding, OW ≥ 8), the fourth and the last the flat kernels on a padded
        // copy (stride 1, padding, ≤ 32 channels, ≥ 64 output pixels; the last with 5 images in
        // 4 groups), the seventh Winograd F(2×2, 3×3) (3×3, stride 1, padding 1, 64 channels on
        // a plane 9 wide; odd sides), the eighth the strided kernels (3×3 stride 2, ≤ 16 channels,
        // ≥ 256 output pixels; 5 images in 4 groups, odd sides), the ninth and tenth the lanes
        // kernels (stride 1, no padding, ≥ 8 channels, ≤ 256 output pixels; 9 images: a partial
        // group of eight; 2×2), the others batched im2col + GEMM
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int)] = [
            (2, 3, 12, 17, 5, 3, 1, 0), (3, 2, 7, 9, 4, 3, 2, 1), (1, 1, 1, 1, 1, 1, 1, 0), (2, 3, 7, 7, 17, 2, 1, 1), (1, 7, 17, 3, 3, 3, 3, 2),
            (5, 6, 8, 9, 7, 3, 1, 1), (2, 64, 5, 9, 9, 3, 1, 1), (5, 3, 33, 31, 6, 3, 2, 1),
            (9, 8, 11, 12, 5, 3, 1, 0), (3, 9, 7, 6, 4, 2, 1, 0),
        ]
        for (b, ci, h, w, co, k, s, p) in cases {
            let name = "conv2d x[\(b),\(ci),\(h),\(w)] w[\(co),\(ci),\(k),\(k)] s\(s) p\(p)"
            assertParity(name, [normal([b, ci, h, w]), normal([co, ci, k, k]), normal([co])], absolute: 1e-4, relative: 1e-3) {
                Variable.conv2d($0[0], weight: $0[1], bias: $0[2], stride: s, padding: p)
            }
            assertParity(name + " no bias", [normal([b, ci, h, w]), normal([co, ci, k, k])], absolute: 1e-4, relative: 1e-3) {
                Variable.conv2d($0[0], weight: $0[1], stride: s, padding: p)
            }
        }
    }

    func testPooling() {
        // 17×17 → 8×8 takes the CPU's vectorized 2×2 path; 7×7 its scalar tail
        for shape in [[2, 3, 17, 17], [1, 2, 7, 7], [3, 1, 33, 18]] {
            assertParity("maxPool2d(2) \(shape)", [normal(shape)]) { $0[0].maxPool2d(kernelSize: 2) }
            assertParity("maxPool2d(3, stride 2) \(shape)", [normal(shape)]) { $0[0].maxPool2d(kernelSize: 3, stride: 2) }
            assertParity("avgPool2d(2) \(shape)", [normal(shape)]) { $0[0].avgPool2d(kernelSize: 2) }
            assertParity("avgPool2d(3, stride 1) \(shape)", [normal(shape)]) { $0[0].avgPool2d(kernelSize: 3, stride: 1) }
            assertParity("globalAveragePool2d \(shape)", [normal(shape)]) { $0[0].globalAveragePool2d() }
        }
    }

    func testBatchNorm() {
        for shape in [[2, 3, 7, 7], [17, 5], [3, 1, 1, 33]] {
            let c = shape[1]
            for training in [true, false] {
                var statistics: [[Tensor]] = []
                let x0 = normal(shape), mean0 = normal([c]), variance0 = positive([c])
                for backend in [CPUBackend(), ReferenceBackend()] as [any Backend] {
                    var runningMean = mean0, runningVariance = variance0
                    // running statistics after one forward pass, compared below
                    Backends.using(backend) {
                        _ = Variable.batchNorm2d(Variable(x0), weight: nil, bias: nil, runningMean: &runningMean,
                                                 runningVariance: &runningVariance, training: training)
                    }
                    statistics.append([runningMean, runningVariance])
                }
                assertClose("batchNorm2d \(shape) running mean", statistics[0][0], statistics[1][0], absolute: 1e-5, relative: 1e-4)
                assertClose("batchNorm2d \(shape) running variance", statistics[0][1], statistics[1][1], absolute: 1e-5, relative: 1e-4)
                assertParity("batchNorm2d \(shape) training \(training) affine", [normal(shape, std: 2, mean: 1), normal([c]), normal([c])],
                             absolute: 1e-4, relative: 1e-3) {
                    var rm = mean0, rv = variance0
                    return Variable.batchNorm2d($0[0], weight: $0[1], bias: $0[2], runningMean: &rm, runningVariance: &rv, training: training)
                }
                assertParity("batchNorm2d \(shape) training \(training) not affine", [normal(shape)], absolute: 1e-4, relative: 1e-3) {
                    var rm = mean0, rv = variance0
                    return Variable.batchNorm2d($0[0], weight: nil, bias: nil, runningMean: &rm, runningVariance: &rv, training: training)
                }
            }
        }
    }

    // MARK: Optimizer

    func testAdamUpdate() {
        // 70 001 elements cross the CPU backend's 64 Ki chunks
        for n in [1, 7, 33, 70_001] {
            for (decay, l2): (Float, Float) in [(1, 0), (0.999, 0), (1, 0.01), (0.99, 0.02)] {
                let c = AdamCoefficients(decayFactor: decay, l2: l2, oneMinusBeta1: 0.1, beta2: 0.999, oneMinusBeta2: 0.001,
                                         stepSize: 1e-3 / 0.19, biasCorrection2Sqrt: 0.0447, epsilon: 1e-8)
                let p0 = normal([n]), m0 = normal([n], std: 0.1), v0 = positive([n]), grad = normal([n])
                var results: [[Tensor]] = []
                for backend in [CPUBackend(), ReferenceBackend()] as [any Backend] {
                    var p = p0, m = m0, v = v0
                    backend.adamUpdate(parameters: p.writePointer(), firstMoment: m.writePointer(), secondMoment: v.writePointer(),
                                       gradient: grad.readPointer, count: n, coefficients: c)
                    results.append([p, m, v])
                }
                for (k, name) in ["parameters", "first moment", "second moment"].enumerated() {
                    assertClose("adamUpdate n=\(n) decay \(decay) l2 \(l2): \(name)", results[0][k], results[1][k], absolute: 1e-6, relative: 1e-5)
                }
            }
        }
    }

    func testSGDUpdate() {
        // 70 001 elements cross the CPU backend's 64 Ki chunks
        for n in [1, 7, 70_001] {
            for (momentum, dampening, decay, nesterov, first): (Float, Float, Float, Bool, Bool) in
                    [(0, 0, 0, false, false), (0, 0, 5e-4, false, false), (0.9, 0, 0, false, true), (0.9, 0.1, 5e-4, false, false),
                     (0.9, 0, 1e-2, true, false), (0.9, 0, 0, true, true)] {
                let c = SGDCoefficients(learningRate: 0.1, weightDecay: decay, momentum: momentum, oneMinusDampening: 1 - dampening,
                                        usesMomentum: momentum != 0, nesterov: nesterov, firstStep: first)
                let p0 = normal([n]), b0 = normal([n], std: 0.1), grad = normal([n])
                var results: [[Tensor]] = []
                for backend in [CPUBackend(), ReferenceBackend()] as [any Backend] {
                    var p = p0, b = b0
                    backend.sgdUpdate(parameters: p.writePointer(), momentumBuffer: b.writePointer(), gradient: grad.readPointer,
                                      count: n, coefficients: c)
                    results.append([p, b])
                }
                let label = "sgdUpdate n=\(n) μ \(momentum) dampening \(dampening) λ \(decay) nesterov \(nesterov) first \(first)"
                assertClose(label + ": parameters", results[0][0], results[1][0], absolute: 1e-6, relative: 1e-5)
                assertClose(label + ": momentum buffer", results[0][1], results[1][1], absolute: 1e-6, relative: 1e-5)
                XCTAssertNotEqual(results[0][0].scalars, p0.scalars, label + ": no update")
                if momentum == 0 { XCTAssertEqual(results[0][1].scalars, b0.scalars, label + ": buffer touched without momentum") }
            }
        }
    }

    // MARK: The seam itself

    func testCurrentBackendIsScopedAndKeptByBackward() {
        XCTAssertEqual(Backends.current.name, "cpu")
        let x = Variable(normal([7]), requiresGrad: true)
        // forward on the reference backend, backward outside its scope: the op keeps its backend
        let y = Backends.using(ReferenceBackend()) { () -> Variable in
            XCTAssertEqual(Backends.current.name, "reference")
            return x.gelu().sum()
        }
        XCTAssertEqual(Backends.current.name, "cpu")
        y.backward()
        let expected = Backends.using(ReferenceBackend()) { () -> Tensor in
            let x2 = Variable(x.value, requiresGrad: true)
            x2.gelu().sum().backward()
            return x2.grad!
        }
        XCTAssertEqual(x.grad!.scalars, expected.scalars, "backward ran on another backend than its forward")
        // Parallel.jobs carries the binding into its worker threads
        var names = [String](repeating: "", count: 4)
        names.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            Backends.using(ReferenceBackend()) { Parallel.jobs(4) { i in base[i] = Backends.current.name } }
        }
        XCTAssertEqual(names, ["reference", "reference", "reference", "reference"])
        XCTAssertEqual(x.value.device, .cpu)
    }

    /// The comparison itself must catch a wrong kernel: a GELU gradient off by 0.5 % fails it,
    /// the CPU backend's passes.
    func testParityDetectsAWrongKernel() {
        let x = normal([33], std: 2), seed = normal([33])
        let zero = [Tensor(zeros: [33])]
        let (_, cpu) = run(CPUBackend(), [x], seed: seed, startGradients: zero) { $0[0].gelu() }
        let (_, reference) = run(ReferenceBackend(), [x], seed: seed, startGradients: zero) { $0[0].gelu() }
        XCTAssertNil(mismatch(cpu[0], reference[0], absolute: 2e-6, relative: 2e-5))
        var wrong = cpu[0]
        wrong.withMutableHostBuffer { b in for i in b.indices { b[i] *= 1.005 } }
        XCTAssertNotNil(mismatch(wrong, reference[0], absolute: 2e-6, relative: 2e-5))
    }
}
