import XCTest
@testable import SaneTensor

/// Finite-difference checks of the convolution-family ops (Ops/Convolution.swift).
final class ConvolutionGradientTests: GradientCheckCase {
    override func setUp() { g = SeededGenerator(seed: 11) }

    func assertGradients(_ name: String, _ inputs: [Variable], step: Float = 1e-2, absolute: Double = 2e-3, relative: Double = 2e-2,
                         file: StaticString = #filePath, line: UInt = #line, _ f: @escaping ([Variable]) -> Variable) {
        super.assertGradients(name, inputs, step: step, absolute: absolute, relative: relative, maxElements: 80, file: file, line: line, f)
    }

    func testConv2d() {
        assertGradients("conv 3x3", [param([2, 3, 6, 5]), param([4, 3, 3, 3], scale: 0.3), param([4])]) {
            Variable.conv2d($0[0], weight: $0[1], bias: $0[2])
        }
        assertGradients("conv stride 2 pad 1", [param([2, 2, 7, 6]), param([3, 2, 3, 3], scale: 0.3), param([3])]) {
            Variable.conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
        assertGradients("conv 2x2 pad 2 no bias", [param([1, 2, 4, 4]), param([2, 2, 2, 2], scale: 0.3)]) {
            Variable.conv2d($0[0], weight: $0[1], stride: 3, padding: 2)
        }
    }

    /// The flat kernels on a zero-padded copy (ResNet's 3×3 padding-1 layers; the per-shape rule
    /// picks them for ≤ 32 channels and ≥ 64 output pixels), forced here on small shapes.
    func testPaddedFlatConv2d() {
        ConvolutionKernels.$forcedAlgorithm.withValue(.flat) {
            assertGradients("conv 3x3 pad 1 (flat)", [param([5, 3, 4, 6]), param([4, 3, 3, 3], scale: 0.3), param([4])]) {
                Variable.conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
            }
            assertGradients("conv 2x3 pad 2 (flat) no bias", [param([2, 2, 3, 5]), param([3, 2, 2, 3], scale: 0.3)]) {
                Variable.conv2d($0[0], weight: $0[1], padding: 2)
            }
        }
    }

    /// The strided kernels (space-to-depth onto the flat kernels; the rule picks them for narrow
    /// stride-2 layers), forced here: 3×3 stride 2 padding 1 on an odd plane, 1×1 stride 2, and
    /// a 2×3 kernel with stride 3 and padding 2.
    func testStridedConv2d() {
        ConvolutionKernels.$forcedAlgorithm.withValue(.strided) {
            assertGradients("conv 3x3 s2 pad 1 (strided)", [param([2, 3, 7, 8]), param([4, 3, 3, 3], scale: 0.3), param([4])]) {
                Variable.conv2d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
            }
            assertGradients("conv 1x1 s2 (strided) no bias", [param([2, 3, 8, 9]), param([5, 3, 1, 1], scale: 0.3)]) {
                Variable.conv2d($0[0], weight: $0[1], stride: 2)
            }
            assertGradients("conv 2x3 s3 pad 2 (strided)", [param([1, 2, 10, 13]), param([3, 2, 2, 3], scale: 0.3), param([3])]) {
                Variable.conv2d($0[0], weight: $0[1], bias: $0[2], stride: 3, padding: 2)
            }
        }
    }

    /// Winograd F(2×2, 3×3) (the per-shape rule picks it for 3×3 stride-1 padding-1 layers of
    /// ≥ 64 channels on planes ≥ 8 wide, or ≥ 256 channels), forced here on small shapes with odd
    /// sides (half tiles at the edges).
    func testWinogradConv2d() {
        ConvolutionKernels.$forcedAlgorithm.withValue(.winograd) {
            assertGradients("conv 3x3 pad 1 (winograd)", [param([2, 3, 5, 6]), param([4, 3, 3, 3], scale: 0.3), param([4])]) {
                Variable.conv2d($0[0], weight: $0[1], bias: $0[2], padding: 1)
            }
            assertGradients("conv 3x3 pad 1 (winograd) no bias, 3×3 plane", [param([3, 2, 3, 3]), param([3, 2, 3, 3], scale: 0.3)]) {
                Variable.conv2d($0[0], weight: $0[1], padding: 1)
            }
        }
    }

    /// The lanes kernels (eight images on the SIMD lanes), forced on small shapes: a batch of 9
    /// (a group of 8 and one of 1), padding 0 and 1, kh ≠ kw, planes narrower than a block of 3.
    func testLanesConv2d() {
        ConvolutionKernels.$forcedAlgorithm.withValue(.lanes) {
            assertGradients("conv 3x3 (lanes)", [param([9, 3, 5, 6]), param([5, 3, 3, 3], scale: 0.3), param([5])]) {
                Variable.conv2d($0[0], weight: $0[1], bias: $0[2])
            }
            assertGradients("conv 2x3 pad 1 (lanes) no bias", [param([3, 2, 4, 2]), param([3, 2, 2, 3], scale: 0.3)]) {
                Variable.conv2d($0[0], weight: $0[1], padding: 1)
            }
        }
    }

    /// conv2d equals the direct definition y[b,o,oy,ox] = bias[o] + Σ w·x (padded) on a small case.
    func testConv2dMatchesDirectSum() {
        let x = param([2, 2, 5, 4]).value, w = param([3, 2, 3, 2]).value, bias = param([3]).value
        let (s, pad) = (2, 1)
        let y = Variable.conv2d(Variable(x), weight: Variable(w), bias: Variable(bias), stride: s, padding: pad).value
        XCTAssertEqual(y.shape, [2, 3, 3, 3])
        for b in 0..<2 { for o in 0..<3 { for oy in 0..<3 { for ox in 0..<3 {
            var acc = bias[o]
            for c in 0..<2 { for i in 0..<3 { for j in 0..<2 {
                let iy = oy * s + i - pad, ix = ox * s + j - pad
                if iy >= 0 && iy < 5 && ix >= 0 && ix < 4 { acc += w[o, c, i, j] * x[b, c, iy, ix] }
            } } }
            XCTAssertEqual(y[b, o, oy, ox], acc, accuracy: 1e-5)
        } } } }
    }

    func testPooling() {
        assertGradients("max pool 2", [param([2, 3, 6, 6])], step: 1e-3) { $0[0].maxPool2d(kernelSize: 2) }
        assertGradients("max pool 3 stride 2", [param([1, 2, 7, 7])], step: 1e-3) { $0[0].maxPool2d(kernelSize: 3, stride: 2) }
        assertGradients("avg pool 2", [param([2, 3, 5, 5])]) { $0[0].avgPool2d(kernelSize: 2) }
        assertGradients("avg pool 3 stride 1", [param([1, 2, 5, 4])]) { $0[0].avgPool2d(kernelSize: 3, stride: 1) }
    }

    /// The vectorized 2×2/2 max pool equals the definition: y = the window maximum, the gradient
    /// goes to the first maximum in row-major window order (ties included), a NaN wins its
    /// window. Rows of ≥ 8 outputs (an overlapping last chunk), rows of fewer (one partial chunk;
    /// an odd input width; the last rows of x one by one).
    func testVectorMaxPoolMatchesDefinition() {
        checkMaxPool([2, 3, 18, 22], nan: [1, 2, 4, 7])            // OW 11: one chunk + overlap
        checkMaxPool([2, 3, 13, 13], nan: [1, 1, 5, 3])            // OW 6 (CNN3's second pool)
        checkMaxPool([3, 2, 4, 4], nan: [2, 1, 3, 0])              // OW 2 (CNN3's third pool)
        checkMaxPool([2, 2, 30, 30], nan: [0, 1, 29, 28])          // CNN3's first pool: OW 15
    }

    private func checkMaxPool(_ shape: [Int], nan: [Int], file: StaticString = #filePath, line: UInt = #line) {
        var x = param(shape).value
        for k in stride(from: 0, to: x.count, by: 7) { x.writePointer()[k] = 0.5 }   // ties
        x[nan[0], nan[1], nan[2], nan[3]] = .nan
        let input = Variable(x, requiresGrad: true)
        let y = input.maxPool2d(kernelSize: 2)
        let (bn, cn, oh, ow) = (shape[0], shape[1], shape[2] / 2, shape[3] / 2)
        XCTAssertEqual(y.shape, [bn, cn, oh, ow], file: file, line: line)
        let dy = param([bn, cn, oh, ow]).value
        (y * Variable(dy)).sum().backward()
        var dx = Tensor(zeros: x.shape)
        for b in 0..<bn { for c in 0..<cn { for oy in 0..<oh { for ox in 0..<ow {
            var best = -Float.infinity, at = (2 * oy, 2 * ox)
            for i in 0..<2 { for j in 0..<2 {
                let v = x[b, c, 2 * oy + i, 2 * ox + j]
                if v > best || (v.isNaN && !best.isNaN) { best = v; at = (2 * oy + i, 2 * ox + j) }
            } }
            let got = y.value[b, c, oy, ox]
            XCTAssertTrue(got == best || (got.isNaN && best.isNaN), "\(shape): y[\(b), \(c), \(oy), \(ox)] = \(got), expected \(best)", file: file, line: line)
            dx[b, c, at.0, at.1] += dy[b, c, oy, ox]
        } } } }
        XCTAssertEqual(input.grad!.scalars, dx.scalars, "\(shape): gradient routed to the first maximum", file: file, line: line)
    }

    func testBatchNormTraining() {
        var rm = Tensor(zeros: [3]), rv = Tensor(shape: [3], repeating: 1)
        assertGradients("batchNorm train", [param([4, 3, 3, 2]), param([3], scale: 0.2, offset: 1), param([3])]) {
            Variable.batchNorm2d($0[0], weight: $0[1], bias: $0[2], runningMean: &rm, runningVariance: &rv, training: true)
        }
        assertGradients("batchNorm eval", [param([2, 3, 2, 2]), param([3], scale: 0.2, offset: 1), param([3])]) {
            Variable.batchNorm2d($0[0], weight: $0[1], bias: $0[2], runningMean: &rm, runningVariance: &rv, training: false)
        }
    }

    /// The ResNet pieces: 3×3 stride-2 padded conv and 1×1 stride-2 downsample conv without
    /// bias, the residual add of two [B, C, H, W] tensors, global average pooling, and a whole
    /// BasicBlock-shaped composition (conv → BN(train) → act → conv → BN + downsample → act; tanh
    /// for the activation, whose smoothness keeps finite differences exact — relu is checked alone).
    func testResNetPieces() {
        assertGradients("conv 3x3 stride 2 pad 1 no bias", [param([2, 3, 6, 6]), param([4, 3, 3, 3], scale: 0.3)]) {
            Variable.conv2d($0[0], weight: $0[1], stride: 2, padding: 1)
        }
        assertGradients("conv 1x1 stride 2 no bias", [param([2, 3, 5, 5]), param([4, 3, 1, 1], scale: 0.3)]) {
            Variable.conv2d($0[0], weight: $0[1], stride: 2)
        }
        assertGradients("residual add", [param([2, 3, 4, 4]), param([2, 3, 4, 4])]) { $0[0] + $0[1] }
        assertGradients("global average pool", [param([2, 3, 4, 5])]) { $0[0].globalAveragePool2d() }
        XCTAssertEqual(Variable(Tensor(shape: [1, 2, 2, 2], scalars: [1, 2, 3, 4, 5, 6, 7, 9])).globalAveragePool2d().value.scalars, [2.5, 6.75])
        var s1 = (Tensor(zeros: [4]), Tensor(shape: [4], repeating: 1)), s2 = s1, s3 = s1
        assertGradients("basic block", [param([3, 2, 6, 6]), param([4, 2, 3, 3], scale: 0.4), param([4, 4, 3, 3], scale: 0.3),
                                        param([4, 2, 1, 1], scale: 0.5), param([4], scale: 0.2, offset: 1), param([4])], step: 3e-3) { v in
            func bn(_ x: Variable, _ s: inout (Tensor, Tensor)) -> Variable {
                Variable.batchNorm2d(x, weight: v[4], bias: v[5], runningMean: &s.0, runningVariance: &s.1, training: true)
            }
            let h = bn(Variable.conv2d(v[0], weight: v[1], stride: 2, padding: 1), &s1).tanh()
            let y = bn(Variable.conv2d(h, weight: v[2], padding: 1), &s2)
            return (y + bn(Variable.conv2d(v[0], weight: v[3], stride: 2), &s3)).tanh().globalAveragePool2d()
        }
    }

    func testDropoutWithFixedMask() {
        var gen = SeededGenerator(seed: 5)
        let mask = Tensor.dropoutMask([4, 6], probability: 0.3, using: &gen)
        let kept = mask.scalars.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.7) < 1e-6 }, "kept entries must be scaled by 1/(1 − p)")
        assertGradients("dropout", [param([4, 6])]) { $0[0].masked(by: mask) }
        // Identity in evaluation.
        let x = param([3, 3])
        XCTAssertEqual(x.dropout(probability: 0.5, training: false, using: &gen).value.scalars, x.value.scalars)
    }
}
