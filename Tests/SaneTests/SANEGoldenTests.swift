import Foundation
import XCTest
@testable import Sane
import SaneNN
import SaneTensor

/// Compares one SANE training step (SANE-SPEC §4–§5) and one transformer block with PyTorch:
/// reference values from `python3 Scripts/golden/make_sane_golden.py` (model in
/// Scripts/golden/sane_reference.py, computed in float64), files in Tests/SaneTests/Golden/.
/// Checked: z, reconstruction, the three losses and the gradient of the total loss for every
/// parameter, loaded and compared by the Swift state-dict names.
final class SANEGoldenTests: XCTestCase {
    private func golden(_ name: String) throws -> StateDict {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Golden/\(name)", withExtension: "safetensors"),
                                "missing golden file \(name); run python3 Scripts/golden/make_sane_golden.py")
        return try Safetensors.read(url)
    }

    /// Asserts |a − b| ≤ absolute + relative·|b| elementwise; the message gives the max errors.
    private func assertClose(_ a: Tensor?, _ b: Tensor?, _ what: String, absolute: Float = 1e-5, relative: Float = 1e-4,
                             file: StaticString = #filePath, line: UInt = #line) {
        guard let a else { return XCTFail("\(what): no value", file: file, line: line) }
        guard let b else { return XCTFail("\(what): no reference value", file: file, line: line) }
        guard a.count == b.count else { return XCTFail("\(what): sizes differ, \(a.shape) vs \(b.shape)", file: file, line: line) }
        var maxAbs: Float = 0, maxRel: Float = 0, worst = 0, bad = 0
        for i in 0..<a.count {
            let (x, y) = (a.readPointer[i], b.readPointer[i])
            let e = abs(x - y)
            if e > maxAbs { maxAbs = e; worst = i }
            maxRel = max(maxRel, e / max(abs(y), 1e-12))
            if !(e <= absolute + relative * abs(y)) { bad += 1 }
        }
        XCTAssertEqual(bad, 0, "\(what): \(bad)/\(a.count) entries off; max abs err \(maxAbs) at \(worst) (\(a.readPointer[worst]) vs \(b.readPointer[worst])), max rel err \(maxRel) (tolerance \(absolute) + \(relative)·|ref|)",
                       file: file, line: line)
    }

    private func config(_ ref: StateDict, normalization: SANEConfig.Normalization) throws -> SANEConfig {
        let v = try XCTUnwrap(ref["config"]).scalars.map { Int($0) }
        var c = SANEConfig()
        (c.tokenSize, c.modelDimensions, c.heads, c.encoderBlocks, c.decoderBlocks, c.latentDimensions) = (v[0], v[1], v[2], v[3], v[4], v[5])
        (c.windowSize, c.maxTokens, c.maxLayers, c.maxRows, c.projectionDimensions) = (v[6], v[7], v[8], v[9], v[10])
        c.gamma = 0.05; c.temperature = 0.1; c.normalization = normalization
        return c
    }

    /// The `param.` entries as a state dict with the model's names.
    private func parameters(_ ref: StateDict) -> StateDict {
        StateDict(ref.items.filter { $0.0.hasPrefix("param.") }.map { (String($0.0.dropFirst(6)), $0.1) })
    }

    private func positions(_ t: Tensor?) throws -> [Int32] { try XCTUnwrap(t).scalars.map { Int32($0) } }

    private func checkStep(_ file: String, normalization: SANEConfig.Normalization) throws {
        let ref = try golden(file)
        let c = try config(ref, normalization: normalization)
        var g = SeededGenerator(seed: 0)
        let model = SANEModel(config: c, using: &g)
        let params = parameters(ref)
        XCTAssertEqual(Set(params.keys), Set(model.namedState().map(\.0)), "\(file): state-dict names differ from the PyTorch reference")
        try model.load(params)
        let batch = ViewBatch(tokens1: try XCTUnwrap(ref["tokens1"]), tokens2: try XCTUnwrap(ref["tokens2"]),
                              mask1: try XCTUnwrap(ref["mask1"]), mask2: try XCTUnwrap(ref["mask2"]),
                              positions1: try positions(ref["positions1"]), positions2: try positions(ref["positions2"]),
                              keyMask1: ref["keyMask1"], keyMask2: ref["keyMask2"])

        // z and T̂ of the concatenated views, recomputed through the public encode/decode.
        let tokens = Tensor.concatenated([batch.tokens1, batch.tokens2])
        var keyMask: Tensor? = nil
        if let k1 = batch.keyMask1, let k2 = batch.keyMask2 { keyMask = Tensor.concatenated([k1, k2]) }
        let allPositions = batch.positions1 + batch.positions2
        let z = model.encode(Variable(tokens), positions: allPositions, keyMask: keyMask)
        let reconstruction = model.decode(z, positions: allPositions, keyMask: keyMask)
        assertClose(z.value, ref["z"], "\(file) z")
        assertClose(reconstruction.value, ref["reconstruction"], "\(file) reconstruction", absolute: 1e-4)

        model.zeroGradients()
        let losses = model.losses(batch)
        losses.total.backward()
        assertClose(Tensor(losses.reconstruction), ref["loss.recon"], "\(file) reconstruction loss")
        assertClose(Tensor(losses.contrastive), ref["loss.contrast"], "\(file) contrastive loss")
        assertClose(losses.total.value, ref["loss.total"], "\(file) total loss")
        for (name, p) in model.namedParameters() {
            assertClose(p.grad, ref["grad." + name], "\(file) grad \(name)")
        }
    }

    /// Standardized tokens: γ·NT-Xent + (1−γ)·masked MSE, no key mask.
    func testSANEStepMatchesPyTorch() throws {
        try checkStep("sane_step", normalization: .standardize)
    }

    /// MultiZoo loss normalization (normalizedMaskedMSE) with key masks on both views.
    func testSANEStepWithLossNormalizationMatchesPyTorch() throws {
        try checkStep("sane_step_norm", normalization: .lossNormalization)
    }

    /// One pre-LN block (d 12, 3 heads) with a key mask: output, input gradient, parameter gradients.
    func testTransformerBlockMatchesPyTorch() throws {
        let ref = try golden("block")
        var g = SeededGenerator(seed: 0)
        let block = TransformerBlock(dimensions: 12, heads: 3, stackDepth: 1, using: &g)
        let params = parameters(ref)
        XCTAssertEqual(Set(params.keys), Set(block.namedState().map(\.0)), "block: state-dict names differ from the PyTorch reference")
        try block.load(params)
        let x = Variable(try XCTUnwrap(ref["input"]), requiresGrad: true)
        let y = block(x, keyMask: try XCTUnwrap(ref["keyMask"]))
        y.backward(seed: try XCTUnwrap(ref["seed"]))
        assertClose(y.value, ref["output"], "block output")
        assertClose(x.grad, ref["grad.input"], "block grad input")
        for (name, p) in block.namedParameters() {
            assertClose(p.grad, ref["grad." + name], "block grad \(name)")
        }
    }
}
