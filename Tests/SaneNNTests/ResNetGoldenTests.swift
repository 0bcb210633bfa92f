import XCTest
@testable import SaneNN
import SaneTensor

/// ResNet-18 (width 4) and ResNet-34 (width 2) against PyTorch, from the values written by
/// Scripts/golden/make_resnet_golden.py: state-dict keys, training-mode logits/loss/gradients and
/// running-statistics updates, then evaluation-mode logits.
extension GoldenTests {
    func checkResNet(_ file: String, blocks: [Int], width: Int) throws {
        let ref = try golden(file)
        var g = SeededGenerator(seed: 0)
        let net = ResNet(blocks: blocks, width: width, channelsIn: 3, classes: 10, using: &g)
        let stateKeys = ref.keys.filter { $0.hasPrefix("state.") }
        XCTAssertEqual(net.stateDict().keys, stateKeys.map { String($0.dropFirst("state.".count)) }, "state_dict keys and order as torchvision")
        try net.load(StateDict(stateKeys.map { (String($0.dropFirst("state.".count)), ref[$0]!) }))

        let x = Variable(try XCTUnwrap(ref["input"]), requiresGrad: true)
        let logits = net(x)
        let loss = Variable.crossEntropy(logits: logits, labels: labels(ref["labels"]))
        loss.backward()
        assertClose(logits.value, ref["train.logits"], "\(file) train logits", absolute: 1e-4, relative: 1e-3)
        assertClose(loss.value, ref["train.loss"], "\(file) train loss", absolute: 1e-5, relative: 1e-4)
        assertClose(x.grad!, ref["grad.input"], "\(file) grad input", absolute: 1e-5, relative: 2e-3)
        let params = Dictionary(uniqueKeysWithValues: net.namedParameters())
        let gradKeys = ref.keys.filter { $0.hasPrefix("grad.") && $0 != "grad.input" }
        XCTAssertGreaterThanOrEqual(gradKeys.count, 4)
        for key in gradKeys {
            let name = String(key.dropFirst("grad.".count))
            let p = try XCTUnwrap(params[name], name)
            assertClose(p.grad!, ref[key], "\(file) grad \(name)", absolute: 1e-5, relative: 2e-3)
        }
        let state = Dictionary(uniqueKeysWithValues: net.namedState())
        for key in ref.keys where key.hasPrefix("after.") {
            let name = String(key.dropFirst("after.".count))
            assertClose(try XCTUnwrap(state[name], name).value, ref[key], "\(file) \(name) after the training step", absolute: 1e-5, relative: 1e-4)
        }
        net.train(false)
        assertClose(net(Variable(x.value)).value, ref["eval.logits"], "\(file) eval logits", absolute: 1e-4, relative: 1e-3)
    }

    func testResNet18MatchesPyTorch() throws { try checkResNet("resnet18_w4", blocks: [2, 2, 2, 2], width: 4) }
    func testResNet34MatchesPyTorch() throws { try checkResNet("resnet34_w2", blocks: [3, 4, 6, 3], width: 2) }
}
