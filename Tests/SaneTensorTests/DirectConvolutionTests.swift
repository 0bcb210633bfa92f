import XCTest
@testable import SaneTensor

/// The direct convolution kernels (Kernels/ConvolutionKernels+Direct.swift, used by conv2d for
/// stride 1, no padding, OW ≥ 8) against the definition, forward and all gradients, summed in
/// Float64: y[b,o,oy,ox] = bias[o] + Σ_{c,i,j} w[o,c,i,j]·x[b,c,oy+i,ox+j].
final class DirectConvolutionTests: XCTestCase {
    func check(x xShape: [Int], w wShape: [Int], file: StaticString = #filePath, line: UInt = #line) {
        var g = SeededGenerator(seed: 5)
        let x = Variable(Tensor.normal(xShape, using: &g), requiresGrad: true)
        let w = Variable(Tensor.normal(wShape, std: 0.3, using: &g), requiresGrad: true)
        let bias = Variable(Tensor.normal([wShape[0]], using: &g), requiresGrad: true)
        let (bn, ci, h, wd) = (xShape[0], xShape[1], xShape[2], xShape[3])
        let (co, kh, kw) = (wShape[0], wShape[2], wShape[3])
        let (oh, ow) = (h - kh + 1, wd - kw + 1)
        XCTAssertTrue(ConvolutionKernels.directApplies(ConvolutionGeometry(batch: bn, channels: ci, height: h, width: wd, kernelHeight: kh,
                                                                           kernelWidth: kw, stride: 1, padding: 0)), file: file, line: line)
        let y = Variable.conv2d(x, weight: w, bias: bias)
        let seed = Tensor.normal(y.shape, using: &g)
        y.backward(seed: seed)
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count), db = [Double](repeating: 0, count: co)
        var maxError = 0.0
        for b in 0..<bn { for o in 0..<co { for oy in 0..<oh { for ox in 0..<ow {
            var acc = Double(bias.value[o])
            let gy = Double(seed[b, o, oy, ox])
            db[o] += gy
            for c in 0..<ci { for i in 0..<kh { for j in 0..<kw {
                let xi = ((b * ci + c) * h + oy + i) * wd + ox + j, wi = ((o * ci + c) * kh + i) * kw + j
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
        print("direct conv x \(xShape) w \(wShape): max |Δy| \(maxError), |Δdx| \(ex), |Δdw| \(ew), |Δdb| \(eb)")
        XCTAssertLessThan(maxError, 1e-4, "forward", file: file, line: line)
        XCTAssertLessThan(ex, 1e-4, "input gradient", file: file, line: line)
        XCTAssertLessThan(ew, 1e-3, "weight gradient", file: file, line: line)
        XCTAssertLessThan(eb, 1e-3, "bias gradient", file: file, line: line)
    }

    /// Output rows of 11 (one chunk + overlap/tail), 5 output channels (a partial block of 4).
    func testRaggedShapes() {
        check(x: [3, 2, 11, 13], w: [5, 2, 3, 3])
        // W 21: three chunk starts (0, 8, 13), an odd one out of the pairs; 5 input channels; kh ≠ kw
        check(x: [2, 5, 9, 21], w: [3, 5, 2, 4])
    }
    /// The zoo CNN's first two layers (OW 24 and 8), with 9 output channels (two blocks of 8).
    func testZooShapes() {
        check(x: [2, 1, 28, 28], w: [9, 1, 5, 5])
        check(x: [2, 8, 12, 12], w: [6, 8, 5, 5])
    }
}
