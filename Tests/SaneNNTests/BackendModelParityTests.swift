import XCTest
@testable import SaneNN
import SaneTensor

/// Whole models on both backends: the same seeded tiny transformer block and small CNN, one
/// forward pass, loss, backward pass and AdamW step on `CPUBackend` and on `ReferenceBackend`;
/// loss, every parameter's gradient and every updated parameter must agree.
final class BackendModelParityTests: XCTestCase {
    /// Max |a − b| / max(|b|, 1e-3·max|b|) over the elements, and the largest |b|.
    func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        let scale = Swift.max(b.maxAbs * 1e-3, 1e-6)
        return zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, Swift.abs($1.0 - $1.1) / Swift.max(Swift.abs($1.1), scale)) }
    }

    /// Runs `step` (forward, loss, backward, optimizer step on a freshly built model) on each
    /// backend and compares the results (name, tensor) pairwise.
    func assertModelParity(_ name: String, tolerance: Float, _ step: () -> [(String, Tensor)]) {
        let cpu = Backends.using(CPUBackend()) { step() }
        let reference = Backends.using(ReferenceBackend()) { step() }
        XCTAssertEqual(cpu.map(\.0), reference.map(\.0))
        var worst: (String, Float) = ("-", 0)
        for ((label, a), (_, b)) in zip(cpu, reference) {
            XCTAssertEqual(a.shape, b.shape, "\(name) \(label)")
            let e = relativeError(a, b)
            if e > worst.1 { worst = (label, e) }
            XCTAssertLessThan(e, tolerance, "\(name): \(label) differs, max rel err \(e) (max abs err \(zip(a.scalars, b.scalars).map { Swift.abs($0 - $1) }.max() ?? 0))")
        }
        print("\(name): \(cpu.count) tensors compared, worst max rel err \(worst.1) at \(worst.0)")
    }

    /// Loss, gradients and updated parameters of one AdamW step of `model` on `loss`.
    func trainingStep(_ model: Module, _ loss: () -> Variable) -> [(String, Tensor)] {
        let optimizer = AdamW(parameters: model.namedParameters(), learningRate: 1e-2, weightDecay: 0.1)
        let l = loss()
        l.backward()
        var results = [("loss", l.value)]
        results += model.namedParameters().map { ("grad " + $0.0, $0.1.grad ?? Tensor(zeros: $0.1.shape)) }
        optimizer.step()
        results += model.namedParameters().map { ("updated " + $0.0, $0.1.value) }
        return results
    }

    func testTransformerBlock() {
        assertModelParity("transformer block d=12, 3 heads, B=2, T=7", tolerance: 2e-3) {
            var g = SeededGenerator(seed: 5)
            let block = TransformerBlock(dimensions: 12, heads: 3, stackDepth: 2, using: &g)
            let x = Variable(Tensor.normal([2, 7, 12], using: &g))
            let target = Tensor.normal([2, 7, 12], using: &g)
            var mask = Tensor(shape: [2, 7], repeating: 1)
            mask[1, 6] = 0; mask[1, 5] = 0
            let lossMask = Tensor(shape: [2, 7, 12], repeating: 1)
            return trainingStep(block) { Variable.maskedMSE(prediction: block(x, keyMask: mask), target: target, mask: lossMask) }
        }
    }

    /// The convolution before batch norm has no bias (as in ResNets): its gradient would be zero
    /// up to rounding, which AdamW would blow up into lr-sized steps in arbitrary directions.
    func testSmallCNN() {
        assertModelParity("CNN conv-bn-relu-pool-conv-gap-linear, B=3, 1×12×12", tolerance: 2e-3) {
            var g = SeededGenerator(seed: 6)
            let net = Sequential([
                Conv2d(1, 4, kernelSize: 3, bias: false, using: &g), BatchNorm2d(4), ActivationLayer(.relu), MaxPool2d(2),
                Conv2d(4, 6, kernelSize: 3, stride: 2, padding: 1, using: &g), ActivationLayer(.tanh), AvgPool2d(1), Flatten(),
                Linear(6 * 3 * 3, 5, using: &g),
            ])
            let x = Variable(Tensor.normal([3, 1, 12, 12], using: &g))
            return trainingStep(net) { Variable.crossEntropy(logits: net(x), labels: [0, 3, 4]) }
        }
    }
}
