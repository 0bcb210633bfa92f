import Foundation
import XCTest
@testable import SaneNN
import SaneTensor

/// Compares layers and optimizers with PyTorch values written by Scripts/golden/make_nn_golden.py.
final class GoldenTests: XCTestCase {
    func golden(_ name: String) throws -> StateDict {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Golden/\(name)", withExtension: "safetensors"),
                                "missing golden file \(name); run python3 Scripts/golden/make_nn_golden.py")
        return try Safetensors.read(url)
    }

    /// Asserts |a − b| ≤ absolute + relative·|b| elementwise; the message gives the max errors.
    func assertClose(_ a: Tensor, _ b: Tensor?, _ what: String, absolute: Float = 1e-5, relative: Float = 1e-4,
                     file: StaticString = #filePath, line: UInt = #line) {
        guard let b else { return XCTFail("\(what): no reference value", file: file, line: line) }
        XCTAssertEqual(a.count, b.count, "\(what): sizes differ, \(a.shape) vs \(b.shape)", file: file, line: line)
        guard a.count == b.count else { return }
        var maxAbs: Float = 0, maxRel: Float = 0, ok = true
        for i in 0..<a.count {
            let (x, y) = (a.readPointer[i], b.readPointer[i])
            let e = abs(x - y)
            maxAbs = max(maxAbs, e); maxRel = max(maxRel, e / max(abs(y), 1e-12))
            if !(e <= absolute + relative * abs(y)) { ok = false }
        }
        XCTAssertTrue(ok, "\(what): max abs err \(maxAbs), max rel err \(maxRel) (tolerance \(absolute) + \(relative)·|ref|)", file: file, line: line)
    }

    func labels(_ t: Tensor?) -> [Int] { (t?.scalars ?? []).map { Int($0) } }

    /// conv(stride 2, pad 1) → maxpool → batchnorm(train) → relu → flatten → linear → CE:
    /// logits, loss, every parameter gradient, the input gradient, and BN running statistics.
    func testConvStackMatchesPyTorch() throws {
        let ref = try golden("conv_stack")
        var g = SeededGenerator(seed: 0)
        let conv = Conv2d(2, 3, kernelSize: 3, stride: 2, padding: 1, using: &g)
        let pool = MaxPool2d(2), bn = BatchNorm2d(3), fc = Linear(12, 5, using: &g)
        let params: [(String, Variable)] = [("conv.weight", conv.weight), ("conv.bias", conv.bias!), ("bn.weight", bn.weight),
                                            ("bn.bias", bn.bias), ("fc.weight", fc.weight), ("fc.bias", fc.bias!)]
        for (name, v) in params { v.value = try XCTUnwrap(ref["init." + name], name).reshaped(v.shape) }
        let x = Variable(try XCTUnwrap(ref["input"]), requiresGrad: true)
        let logits = fc(Flatten()(ActivationLayer(.relu)(bn(pool(conv(x))))))
        let loss = Variable.crossEntropy(logits: logits, labels: labels(ref["labels"]))
        loss.backward()
        assertClose(logits.value, ref["logits"], "logits")
        assertClose(loss.value, ref["loss"], "loss")
        assertClose(x.grad!, ref["grad.input"], "grad input", absolute: 1e-6)
        for (name, v) in params { assertClose(v.grad!, ref["grad." + name], "grad \(name)", absolute: 1e-6) }
        assertClose(bn.runningMean.value, ref["after.bn.running_mean"], "running_mean")
        assertClose(bn.runningVariance.value, ref["after.bn.running_var"], "running_var")
        XCTAssertEqual(bn.batchesTracked.value.scalar, 1)
        XCTAssertEqual(bn.stateDict().keys, ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
    }

    /// Replays the golden optimizer run: the MLP Linear(6,8) → tanh → Linear(8,3) from the same
    /// initial weights, cross-entropy on the same data, and compares the weights after each step.
    func replay(_ file: String, steps: Int, makeOptimizer: ([(String, Variable)]) -> Optimizer,
                schedule: ((Int, Optimizer) -> Void)? = nil, tolerance: Float = 2e-6) throws {
        let ref = try golden(file)
        var g = SeededGenerator(seed: 0)
        let net = Sequential([Linear(6, 8, using: &g), ActivationLayer(.tanh), Linear(8, 3, using: &g)])
        try net.load(StateDict(net.stateDict().keys.map { ("\($0)", ref["init." + $0]!) }))
        let x = Variable(try XCTUnwrap(ref["data.x"])), y = labels(ref["data.y"])
        let opt = makeOptimizer(net.namedParameters())
        for i in 0..<steps {
            schedule?(i, opt)
            if let lr = ref["lr.\(i)"] { XCTAssertEqual(opt.learningRate, Double(lr.scalar), accuracy: 1e-9 + 1e-6 * Double(lr.scalar), "\(file) lr at step \(i)") }
            net.zeroGradients()
            Variable.crossEntropy(logits: net(x), labels: y).backward()
            opt.step()
            for (name, v) in net.stateDict().items { assertClose(v, ref["step\(i).\(name)"], "\(file) step \(i) \(name)", absolute: tolerance, relative: 1e-4) }
        }
    }

    func testSGDMomentumMatchesPyTorch() throws {
        try replay("sgd", steps: 5) { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-2) }
    }

    func testAdamMatchesPyTorch() throws {
        try replay("adam", steps: 5) { Adam(parameters: $0, learningRate: 1e-2, weightDecay: 1e-2) }
    }

    func testAdamWWithOneCycleMatchesPyTorch() throws {
        let ref = try golden("adamw_onecycle")
        let schedule = OneCycleSchedule(maxLearningRate: 1e-2, totalSteps: 10)
        for i in 0..<10 {
            let (lr, beta1) = schedule(i)
            XCTAssertEqual(lr, Double(ref["lr.\(i)"]!.scalar), accuracy: 1e-6 * lr, "OneCycle lr at step \(i)")
            XCTAssertEqual(beta1, Double(ref["beta1.\(i)"]!.scalar), accuracy: 1e-6, "OneCycle beta1 at step \(i)")
        }
        try replay("adamw_onecycle", steps: 10, makeOptimizer: { AdamW(parameters: $0, learningRate: 1e-2, weightDecay: 0.1) },
                   schedule: { step, opt in
                       let (lr, beta1) = schedule(step)
                       let adamw = opt as! AdamW
                       adamw.learningRate = lr; adamw.beta1 = beta1
                   })
    }

    /// Saving and restoring the optimizer state mid-run gives the same weights as not stopping.
    func testOptimizerStateRoundTrip() throws {
        func run(interrupt: Bool) throws -> [Float] {
            var g = SeededGenerator(seed: 3)
            let net = Linear(4, 2, using: &g)
            let x = Variable(Tensor.normal([5, 4], using: &g))
            var opt: Optimizer = AdamW(parameters: net.namedParameters(), learningRate: 1e-2, weightDecay: 0.1)
            for i in 0..<6 {
                if interrupt && i == 3 {
                    let saved = opt.stateDict()
                    opt = AdamW(parameters: net.namedParameters(), learningRate: 1e-2, weightDecay: 0.1)
                    try opt.load(saved)
                }
                net.zeroGradients()
                Variable.crossEntropy(logits: net(x), labels: [0, 1, 1, 0, 1]).backward()
                opt.step()
            }
            return net.weight.value.scalars + net.bias!.value.scalars
        }
        XCTAssertEqual(try run(interrupt: false), try run(interrupt: true))
        var g = SeededGenerator(seed: 4)
        let lin = Linear(3, 2, using: &g)
        let sgd = SGD(parameters: lin.namedParameters(), learningRate: 0.1, momentum: 0.9)
        Variable.crossEntropy(logits: lin(Variable(Tensor.normal([2, 3], using: &g))), labels: [0, 1]).backward()
        sgd.step()
        XCTAssertEqual(sgd.stateDict().keys, ["weight.momentum_buffer", "bias.momentum_buffer"])
        let sgd2 = SGD(parameters: lin.namedParameters(), learningRate: 0.1, momentum: 0.9)
        try sgd2.load(sgd.stateDict())
        XCTAssertEqual(sgd2.stateDict()["weight.momentum_buffer"]!.scalars, sgd.stateDict()["weight.momentum_buffer"]!.scalars)
    }
}
