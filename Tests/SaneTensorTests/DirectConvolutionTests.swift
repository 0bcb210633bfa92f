import XCTest
@testable import SaneTensor

/// The direct convolution kernels (used by conv2d for stride 1 without padding: row-blocked,
/// Kernels/ConvolutionKernels+Direct.swift, and on the input-width grid, +Flat.swift) against the
/// definition, forward and all gradients, summed in Float64:
/// y[b,o,oy,ox] = bias[o] + Σ_{c,i,j} w[o,c,i,j]·x[b,c,oy+i,ox+j].
final class DirectConvolutionTests: XCTestCase {
    /// Runs conv2d with `algorithm` forced (it must apply to the shape) and checks it against the definition.
    func check(x xShape: [Int], w wShape: [Int], stride st: Int = 1, padding pad: Int = 0, algorithm: ConvolutionAlgorithm,
               file: StaticString = #filePath, line: UInt = #line) {
        ConvolutionKernels.$forcedAlgorithm.withValue(algorithm) {
            checkForced(x: xShape, w: wShape, stride: st, padding: pad, algorithm: algorithm, file: file, line: line)
        }
    }

    private func checkForced(x xShape: [Int], w wShape: [Int], stride st: Int, padding pad: Int, algorithm: ConvolutionAlgorithm,
                             file: StaticString, line: UInt) {
        var g = SeededGenerator(seed: 5)
        let x = Variable(Tensor.normal(xShape, using: &g), requiresGrad: true)
        let w = Variable(Tensor.normal(wShape, std: 0.3, using: &g), requiresGrad: true)
        let bias = Variable(Tensor.normal([wShape[0]], using: &g), requiresGrad: true)
        let (bn, ci, h, wd) = (xShape[0], xShape[1], xShape[2], xShape[3])
        let (co, kh, kw) = (wShape[0], wShape[2], wShape[3])
        let (oh, ow) = ((h + 2 * pad - kh) / st + 1, (wd + 2 * pad - kw) / st + 1)
        XCTAssertEqual(ConvolutionKernels.algorithm(for: ConvolutionGeometry(batch: bn, channels: ci, height: h, width: wd, kernelHeight: kh,
                                                                            kernelWidth: kw, stride: st, padding: pad)), algorithm, file: file, line: line)
        let y = Variable.conv2d(x, weight: w, bias: bias, stride: st, padding: pad)
        let seed = Tensor.normal(y.shape, using: &g)
        y.backward(seed: seed)
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count), db = [Double](repeating: 0, count: co)
        var maxError = 0.0
        for b in 0..<bn { for o in 0..<co { for oy in 0..<oh { for ox in 0..<ow {
            var acc = Double(bias.value[o])
            let gy = Double(seed[b, o, oy, ox])
            db[o] += gy
            for c in 0..<ci { for i in 0..<kh { for j in 0..<kw {
                let (iy, ix) = (oy * st + i - pad, ox * st + j - pad)
                if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
                let xi = ((b * ci + c) * h + iy) * wd + ix, wi = ((o * ci + c) * kh + i) * kw + j
                acc += Double(w.value.readPointer[wi]) * Double(x.value.readPointer[xi])
                dw[wi] += gy * Double(x.value.readPointer[xi])
                dx[xi] += gy * Double(w.value.readPointer[wi])
            } } }
            maxError = max(maxError, abs(acc - Double(y.value[b, o, oy, ox])))
        } } } }
        func maxDiff(_ ref: [Double], _ t: Tensor?) -> Double {
            guard let t else { return .infinity }
            return zip(ref, (0..<t.count).map { Double(t.readPointer[$0]) }).map { abs($0 - $1) }.max() ?? 0
        }
        let (ex, ew, eb) = (maxDiff(dx, x.grad), maxDiff(dw, w.grad), maxDiff(db, bias.grad))
        print("direct conv (\(algorithm)) x \(xShape) w \(wShape) stride \(st) padding \(pad): max |Δy| \(maxError), |Δdx| \(ex), |Δdw| \(ew), |Δdb| \(eb)")
        XCTAssertLessThan(maxError, 1e-4, "forward", file: file, line: line)
        XCTAssertLessThan(ex, 1e-4, "input gradient", file: file, line: line)
        XCTAssertLessThan(ew, 1e-3, "weight gradient", file: file, line: line)
        XCTAssertLessThan(eb, 1e-3, "bias gradient", file: file, line: line)
    }

    /// Output rows of 11 (one chunk + overlap/tail), 5 output channels (a partial block of 4).
    func testRaggedShapes() {
        for algorithm in [ConvolutionAlgorithm.rows, .flat] {
            check(x: [3, 2, 11, 13], w: [5, 2, 3, 3], algorithm: algorithm)
            // W 21: three chunk starts (0, 8, 13), an odd one out of the pairs; 5 input channels; kh ≠ kw
            check(x: [2, 5, 9, 21], w: [3, 5, 2, 4], algorithm: algorithm)
        }
    }
    /// The zoo CNN's first two layers (OW 24 and 8), with 9 output channels (two blocks of 8).
    func testZooShapes() {
        check(x: [2, 1, 28, 28], w: [9, 1, 5, 5], algorithm: .rows)
        check(x: [2, 8, 12, 12], w: [6, 8, 5, 5], algorithm: .rows)
    }
    /// The flat kernels on CNN3's three layers (OW 30, 13, 4), the zoo CNN's last (OW 3: a grid
    /// span of 11), one image (its last chunk reads the zero-padded copy), a span of exactly 8,
    /// and 7 input channels / 6 taps (partial blocks of 4 channels and of 3 taps).
    func testFlatShapes() {
        check(x: [2, 3, 32, 32], w: [16, 3, 3, 3], algorithm: .flat)
        check(x: [2, 16, 15, 15], w: [32, 16, 3, 3], algorithm: .flat)
        check(x: [3, 32, 6, 6], w: [15, 32, 3, 3], algorithm: .flat)
        check(x: [2, 6, 4, 4], w: [4, 6, 2, 2], algorithm: .flat)
        check(x: [1, 2, 5, 7], w: [3, 2, 3, 3], algorithm: .flat)
        check(x: [2, 1, 2, 8], w: [2, 1, 2, 1], algorithm: .flat)   // OH 1, OW 8: span 8
        check(x: [2, 7, 5, 6], w: [5, 7, 2, 2], algorithm: .flat)
    }

    /// The flat kernels on a zero-padded copy (ResNet's 3×3 padding-1 layers): 32×32 and 4×4
    /// planes, 5 images (groups of 1 and 2), 7 channels (partial blocks), padding 2 and kh ≠ kw.
    func testPaddedFlatShapes() {
        check(x: [2, 3, 32, 32], w: [8, 3, 3, 3], padding: 1, algorithm: .flat)
        check(x: [5, 7, 4, 4], w: [6, 7, 3, 3], padding: 1, algorithm: .flat)
        check(x: [3, 5, 9, 11], w: [7, 5, 2, 3], padding: 2, algorithm: .flat)
        check(x: [1, 2, 1, 8], w: [3, 2, 3, 3], padding: 1, algorithm: .flat)   // OH 1: padded span 8
    }

    /// The padded flat path through the whole network's kind of layer equals im2col + GEMM to
    /// float rounding, and its weight gradient does not depend on the number of workers (fixed
    /// image groups, summed in order): bit-identical on 1 and 2 workers.
    func testPaddedFlatIsIndependentOfWorkers() {
        var g = SeededGenerator(seed: 9)
        let x = Tensor.normal([9, 8, 16, 16], using: &g), w = Tensor.normal([8, 8, 3, 3], std: 0.2, using: &g)
        let seed = Tensor.normal([9, 8, 16, 16], using: &g)
        func run(_ algorithm: ConvolutionAlgorithm, workers: Int) -> [Tensor] {
            ConvolutionKernels.$forcedAlgorithm.withValue(algorithm) {
                Parallel.$workers.withValue(workers) {
                    let (xv, wv) = (Variable(x, requiresGrad: true), Variable(w, requiresGrad: true))
                    let y = Variable.conv2d(xv, weight: wv, padding: 1)
                    y.backward(seed: seed)
                    return [y.value, xv.grad!, wv.grad!]
                }
            }
        }
        let one = run(.flat, workers: 1), two = run(.flat, workers: 2), reference = run(.im2col, workers: 1)
        for (a, b) in zip(one, two) {
            XCTAssertEqual(a.scalars, b.scalars)
        }
        for (a, b) in zip(one, reference) {
            XCTAssertLessThan(zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()!, 1e-3)
        }
    }

    /// The strided kernels (space-to-depth onto the flat kernels) against the definition: ResNet's
    /// 3×3 stride-2 padding-1 and 1×1 stride-2 layers on even and odd planes (odd: the last phase
    /// row/column is partly outside x), 5 images (groups of 1 and 2), 7 channels (partial blocks),
    /// stride 3, kh ≠ kw, padding 2 and a kernel smaller than the stride (unread input pixels).
    func testStridedShapes() {
        check(x: [2, 3, 16, 16], w: [8, 3, 3, 3], stride: 2, padding: 1, algorithm: .strided)
        check(x: [5, 7, 9, 11], w: [6, 7, 3, 3], stride: 2, padding: 1, algorithm: .strided)
        check(x: [3, 5, 8, 8], w: [9, 5, 1, 1], stride: 2, algorithm: .strided)
        check(x: [2, 4, 9, 7], w: [5, 4, 1, 1], stride: 2, algorithm: .strided)
        check(x: [2, 3, 13, 14], w: [4, 3, 2, 3], stride: 3, padding: 2, algorithm: .strided)
        check(x: [1, 2, 5, 17], w: [3, 2, 3, 3], stride: 2, padding: 1, algorithm: .strided)   // OH 3, OW 9
        check(x: [2, 32, 8, 8], w: [64, 32, 3, 3], stride: 2, padding: 1, algorithm: .strided)  // width 8's 32 → 64 layer
    }

    /// The strided path equals im2col + GEMM to float rounding and is bit-identical on 1 and 2
    /// workers (fixed image groups, weight gradients summed in group order).
    func testStridedIsIndependentOfWorkers() {
        var g = SeededGenerator(seed: 11)
        let x = Tensor.normal([9, 8, 16, 16], using: &g)
        for (k, pad) in [(3, 1), (1, 0)] {
            let w = Tensor.normal([16, 8, k, k], std: 0.2, using: &g), bias = Tensor.normal([16], using: &g)
            let seed = Tensor.normal([9, 16, 8, 8], using: &g)
            func run(_ algorithm: ConvolutionAlgorithm, workers: Int) -> [Tensor] {
                ConvolutionKernels.$forcedAlgorithm.withValue(algorithm) {
                    Parallel.$workers.withValue(workers) {
                        let (xv, wv, bv) = (Variable(x, requiresGrad: true), Variable(w, requiresGrad: true), Variable(bias, requiresGrad: true))
                        let y = Variable.conv2d(xv, weight: wv, bias: bv, stride: 2, padding: pad)
                        y.backward(seed: seed)
                        return [y.value, xv.grad!, wv.grad!, bv.grad!]
                    }
                }
            }
            let one = run(.strided, workers: 1), two = run(.strided, workers: 2), reference = run(.im2col, workers: 1)
            for (a, b) in zip(one, two) { XCTAssertEqual(a.scalars, b.scalars) }
            for (name, (a, b)) in zip(["y", "dx", "dw", "db"], zip(one, reference)) {
                let err = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()!, scale = b.scalars.map { abs($0) }.max()!
                print("strided \(k)×\(k) vs im2col \(name): max |Δ| \(err), max |ref| \(scale)")
                XCTAssertLessThan(err, 2e-5 * max(scale, 1), name)
            }
        }
    }

    /// Winograd F(2×2, 3×3) (3×3, stride 1, padding 1) against the definition: odd and even planes
    /// (a half tile on the right/bottom edge), planes smaller than a tile, 1 and 5 channels.
    func testWinogradShapes() {
        check(x: [3, 5, 7, 9], w: [4, 5, 3, 3], padding: 1, algorithm: .winograd)
        check(x: [2, 3, 8, 6], w: [7, 3, 3, 3], padding: 1, algorithm: .winograd)
        check(x: [2, 1, 1, 3], w: [2, 1, 3, 3], padding: 1, algorithm: .winograd)
        check(x: [1, 6, 4, 4], w: [5, 6, 3, 3], padding: 1, algorithm: .winograd)
        // W 35: 18 tiles per row, two full groups of eight tiles and a partial one; H 6 even
        check(x: [2, 3, 6, 35], w: [4, 3, 3, 3], padding: 1, algorithm: .winograd)
        check(x: [1, 2, 17, 16], w: [3, 2, 3, 3], padding: 1, algorithm: .winograd)
    }

    /// Winograd equals im2col + GEMM to float rounding on a ResNet-like layer large enough for the
    /// multi-core GEMMs, and gives bit-identical results on 1 and 2 workers.
    func testWinogradIsIndependentOfWorkers() {
        var g = SeededGenerator(seed: 9)
        let x = Tensor.normal([6, 64, 9, 10], using: &g), w = Tensor.normal([72, 64, 3, 3], std: 0.05, using: &g)
        let bias = Tensor.normal([72], using: &g), seed = Tensor.normal([6, 72, 9, 10], using: &g)
        func run(_ algorithm: ConvolutionAlgorithm, workers: Int) -> [Tensor] {
            ConvolutionKernels.$forcedAlgorithm.withValue(algorithm) {
                Parallel.$workers.withValue(workers) {
                    let (xv, wv, bv) = (Variable(x, requiresGrad: true), Variable(w, requiresGrad: true), Variable(bias, requiresGrad: true))
                    let y = Variable.conv2d(xv, weight: wv, bias: bv, padding: 1)
                    y.backward(seed: seed)
                    return [y.value, xv.grad!, wv.grad!, bv.grad!]
                }
            }
        }
        let one = run(.winograd, workers: 1), two = run(.winograd, workers: 2), reference = run(.im2col, workers: 1)
        for (a, b) in zip(one, two) { XCTAssertEqual(a.scalars, b.scalars) }
        for (name, (a, b)) in zip(["y", "dx", "dw", "db"], zip(one, reference)) {
            let err = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()!, scale = b.scalars.map { abs($0) }.max()!
            print("winograd vs im2col \(name): max |Δ| \(err), max |ref| \(scale)")
            XCTAssertLessThan(err, 2e-5 * max(scale, 1), name)
        }
    }

    /// The lanes kernels (eight images per SIMD vector) against the definition: CNN3's three
    /// layers, batches that are not a multiple of 8 (groups of 8 and a partial one: 3, 9, 13),
    /// odd planes, padding 0, 1 and 2, kh ≠ kw, partial blocks of 4 channels (5, 7, 15) and of
    /// 3 taps, planes narrower than 8 (one-by-one lane copies) and than a block of 3 pixels.
    func testLanesShapes() {
        check(x: [9, 3, 32, 32], w: [16, 3, 3, 3], algorithm: .lanes)
        check(x: [13, 16, 15, 15], w: [32, 16, 3, 3], algorithm: .lanes)
        check(x: [3, 32, 6, 6], w: [15, 32, 3, 3], algorithm: .lanes)
        check(x: [3, 2, 11, 13], w: [5, 2, 3, 3], algorithm: .lanes)
        check(x: [9, 5, 9, 21], w: [3, 5, 2, 4], algorithm: .lanes)
        check(x: [2, 7, 5, 6], w: [5, 7, 2, 2], padding: 1, algorithm: .lanes)
        check(x: [11, 3, 9, 10], w: [4, 3, 3, 3], padding: 1, algorithm: .lanes)
        check(x: [3, 5, 9, 11], w: [7, 5, 2, 3], padding: 2, algorithm: .lanes)
        check(x: [9, 2, 3, 2], w: [3, 2, 2, 2], algorithm: .lanes)                   // OH 2, OW 1
        check(x: [1, 1, 1, 1], w: [1, 1, 1, 1], algorithm: .lanes)
        check(x: [2, 6, 4, 4], w: [4, 6, 2, 2], algorithm: .lanes)
    }

    /// The lanes kernels equal the flat ones to float rounding on CNN3's middle layer with a
    /// batch of 21 (groups 8, 8, 5) and give bit-identical results on 1 and 2 workers (the
    /// groups are fixed, weight gradients summed per group and then in group order).
    func testLanesIsIndependentOfWorkers() {
        var g = SeededGenerator(seed: 13)
        let x = Tensor.normal([21, 16, 15, 15], using: &g), w = Tensor.normal([32, 16, 3, 3], std: 0.1, using: &g)
        let bias = Tensor.normal([32], using: &g), seed = Tensor.normal([21, 32, 13, 13], using: &g)
        func run(_ algorithm: ConvolutionAlgorithm, workers: Int) -> [Tensor] {
            ConvolutionKernels.$forcedAlgorithm.withValue(algorithm) {
                Parallel.$workers.withValue(workers) {
                    let (xv, wv, bv) = (Variable(x, requiresGrad: true), Variable(w, requiresGrad: true), Variable(bias, requiresGrad: true))
                    let y = Variable.conv2d(xv, weight: wv, bias: bv)
                    y.backward(seed: seed)
                    return [y.value, xv.grad!, wv.grad!, bv.grad!]
                }
            }
        }
        let reference = run(.flat, workers: 1)
        for algorithm in [ConvolutionAlgorithm.lanes] {
            let one = run(algorithm, workers: 1), two = run(algorithm, workers: 2)
            for (a, b) in zip(one, two) { XCTAssertEqual(a.scalars, b.scalars, "\(algorithm)") }
            for (name, (a, b)) in zip(["y", "dx", "dw", "db"], zip(one, reference)) {
                let err = zip(a.scalars, b.scalars).map { abs($0 - $1) }.max()!, scale = b.scalars.map { abs($0) }.max()!
                print("\(algorithm) vs flat \(name): max |Δ| \(err), max |ref| \(scale)")
                XCTAssertLessThan(err, 2e-5 * max(scale, 1), "\(algorithm) \(name)")
            }
        }
    }

    /// The per-shape rule: rows where OW is a multiple of 8, flat for other unpadded stride-1
    /// layers with a grid span ≥ 8, strided for narrow strided layers with large planes, im2col +
    /// GEMM for a shorter span; padded stride-1 layers flat, Winograd or im2col.
    func testAlgorithmRule() {
        func algorithm(_ c: Int, _ s: Int, _ k: Int, stride: Int = 1, padding: Int = 0) -> ConvolutionAlgorithm {
            ConvolutionKernels.algorithm(for: ConvolutionGeometry(batch: 64, channels: c, height: s, width: s, kernelHeight: k,
                                                                  kernelWidth: k, stride: stride, padding: padding))
        }
        XCTAssertEqual(algorithm(1, 28, 5), .rows)       // zoo CNN, OW 24
        XCTAssertEqual(algorithm(8, 12, 5), .rows)       // OW 8
        XCTAssertEqual(algorithm(6, 4, 2), .flat)        // OW 3, span 11
        XCTAssertEqual(algorithm(3, 32, 3), .flat)       // CNN3, OW 30
        XCTAssertEqual(algorithm(16, 15, 3), .lanes)     // OW 13, 169 output pixels
        XCTAssertEqual(algorithm(32, 6, 3), .lanes)      // OW 4: 16 output pixels
        XCTAssertEqual(algorithm(8, 12, 2), .lanes)      // 2×2 kernel
        XCTAssertEqual(algorithm(6, 6, 3), .flat)        // fewer than 8 input channels
        XCTAssertEqual(algorithm(16, 20, 3), .flat)      // 324 output pixels
        XCTAssertEqual(algorithm(4, 3, 2), .im2col)      // OH = OW = 2: span 1·3 + 2 = 5
        XCTAssertEqual(algorithm(64, 32, 3, padding: 1), .winograd)      // ResNet-18 width 64: the stem is flat, 3×3 layers Winograd
        XCTAssertEqual(algorithm(3, 32, 3, padding: 1), .flat)
        XCTAssertEqual(algorithm(8, 32, 3, padding: 1), .flat)           // width 8: layers 1–3 flat, 4 im2col
        XCTAssertEqual(algorithm(32, 8, 3, padding: 1), .flat)
        XCTAssertEqual(algorithm(64, 4, 3, padding: 1), .im2col)          // width 8's last stage: 4 tiles per plane
        XCTAssertEqual(algorithm(64, 8, 3, padding: 1), .winograd)
        XCTAssertEqual(algorithm(512, 4, 3, padding: 1), .winograd)       // width 64's last stage
        XCTAssertEqual(algorithm(16, 4, 3, padding: 1), .im2col)         // 16 output pixels
        XCTAssertEqual(algorithm(64, 32, 3, stride: 2, padding: 1), .im2col)
        XCTAssertEqual(algorithm(8, 32, 3, stride: 2, padding: 1), .strided)    // width 8's first stride-2 layer, 16×16 out
        XCTAssertEqual(algorithm(16, 32, 3, stride: 2, padding: 1), .strided)   // width 16's
        XCTAssertEqual(algorithm(16, 16, 3, stride: 2, padding: 1), .im2col)    // 8×8 out
        XCTAssertEqual(algorithm(8, 32, 1, stride: 2), .im2col)                 // 1×1 downsample
        XCTAssertEqual(algorithm(16, 15, 1, stride: 2), .im2col)                // lanes: stride 1 only
        XCTAssertEqual(algorithm(8, 4, 3, stride: 2, padding: 1), .im2col)      // 2×2 out: strided does not apply
    }
}
