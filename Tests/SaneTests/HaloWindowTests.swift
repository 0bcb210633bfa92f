import Foundation
import XCTest
@testable import Sane

/// Haloed encoding and decoding of sequences longer than the training window (SANE-SPEC §6,
/// paper §3), on the `tiny` SANE trained on ResNet-18s of width 2 (310 tokens, window 16) of
/// `NewArchitectureSamplingTests`, and the window-interference measurement (paper Fig. 6).
final class HaloWindowTests: XCTestCase {
    /// RMS(a − b) / RMS(b).
    static func relative(_ a: Tensor, _ b: Tensor) -> Double {
        precondition(a.shape == b.shape)
        var d = 0.0, n = 0.0
        for (x, y) in zip(a.scalars, b.scalars) { d += Double(x - y) * Double(x - y); n += Double(y) * Double(y) }
        return (d / max(n, 1e-30)).squareRoot()
    }

    /// A token sequence of 310 tokens, as the run's preprocessing makes it.
    static func sequence(_ encoder: SANEEncoder) throws -> TokenSequence {
        try XCTUnwrap(encoder.tokenize(trajectory: [ZooNetwork(NewArchitectureSamplingTests.r18.seeded(7)).stateDict()]).first)
    }

    /// The latents (encode) and the tokens decoded from the whole-sequence latents (decode) with
    /// `halo`, the encoder's own setting restored after.
    static func run(_ encoder: SANEEncoder, _ seq: TokenSequence, _ halo: HaloWindows, latents: Tensor) -> (z: Tensor, t: Tensor) {
        let saved = encoder.halo
        defer { encoder.halo = saved }
        encoder.halo = halo
        return (encoder.encode(seq), encoder.decode(latents, positions: seq.positions))
    }

    /// Whatever the chunking (content 4, 8, 16 or 32 tokens per window), a 310-token sequence
    /// encodes to the whole-sequence latents and decodes to the whole-sequence tokens:
    /// - exactly (bit for bit) when the halo reaches over the whole sequence;
    /// - within the halo tolerance at the default halo (a quarter of the training window, 4 tokens
    ///   on each side): relative RMS deviation from the whole-sequence result ≤ 5 % for the
    ///   latents and ≤ 30 % for the decoded tokens. Why these: attention mixes every token of a
    ///   window, so what a window leaves out changes its tokens' outputs; the halo bounds what is
    ///   left out to context farther than h tokens. Measured on this run: 1.4–2.0 % (encode) and
    ///   15–18 % (decode; the decoder reads latents only, so its context matters more), ~2× below
    ///   the tolerances. The tolerance is the halo's: a 64-token halo is closer than none for
    ///   every chunking, and the default halo is too wherever the window stays near the training
    ///   window (content ≤ 16).
    /// Each window's content rows are exactly the model's outputs on that window (the stitching).
    func testLongSequenceEmbedsAndDecodesAlikeWhateverTheChunking() throws {
        let encoder = try NewArchitectureSamplingTests.encoder.get()
        let ws = encoder.model.config.windowSize
        let seq = try Self.sequence(encoder)
        let n = seq.count
        XCTAssertEqual(ws, 16)
        XCTAssertGreaterThan(n, 10 * ws)
        let full = Self.run(encoder, seq, HaloWindows(content: n, halo: 0), latents: Tensor(zeros: [n, encoder.model.config.latentDimensions]))
        let reference = Self.run(encoder, seq, HaloWindows(content: n, halo: 0), latents: full.z)
        XCTAssertEqual(HaloWindows(content: n, halo: 0).plan(tokens: n).count, 1)

        for content in [4, 8, 16, 32] {
            // Halo over the whole sequence: every window is the whole sequence → identical.
            let covered = Self.run(encoder, seq, HaloWindows(content: content, halo: n), latents: reference.z)
            XCTAssertEqual(covered.z.scalars, reference.z.scalars, "content \(content), halo \(n)")
            XCTAssertEqual(covered.t.scalars, reference.t.scalars, "content \(content), halo \(n)")
            // Default halo: within the tolerance.
            var deviation: [Int: (encode: Double, decode: Double)] = [:]
            for h in [0, ws / 4, 64] {
                let chunked = Self.run(encoder, seq, HaloWindows(content: content, halo: h), latents: reference.z)
                deviation[h] = (Self.relative(chunked.z, reference.z), Self.relative(chunked.t, reference.t))
                XCTAssertGreaterThan(deviation[h]!.encode, 0, "content \(content) halo \(h): the windows do not see the whole sequence, yet nothing changed")
            }
            XCTAssertLessThanOrEqual(deviation[ws / 4]!.encode, 0.05, "encode, content \(content)")
            XCTAssertLessThanOrEqual(deviation[ws / 4]!.decode, 0.30, "decode, content \(content)")
            // A large halo is closer than none. At content ≤ the training window, so is the default
            // halo; at content 32 its 40-token windows (2.5× the training window) are not reliably
            // closer for the latents than 32-token windows without halo: window interference (Fig. 6).
            XCTAssertLessThan(deviation[64]!.encode, deviation[0]!.encode, "encode, content \(content)")
            XCTAssertLessThan(deviation[64]!.decode, deviation[0]!.decode, "decode, content \(content)")
            if content <= ws {
                XCTAssertLessThan(deviation[ws / 4]!.encode, deviation[0]!.encode, "encode, content \(content)")
                XCTAssertLessThan(deviation[ws / 4]!.decode, deviation[0]!.decode, "decode, content \(content)")
            }
        }

        // Stitching: the content rows of each window are the model's latents of exactly that window.
        let halo = HaloWindows(content: 24, halo: 5)
        let chunked = Self.run(encoder, seq, halo, latents: reference.z).z
        let dz = encoder.model.config.latentDimensions
        for (window, content) in halo.plan(tokens: n) {
            let direct = Variable.withoutGradients {
                encoder.model.encode(Variable(seq.tokens.rows(window).reshaped([1, window.count, seq.tokenSize])),
                                     positions: Array(seq.positions[(3 * window.lowerBound)..<(3 * window.upperBound)])).value
            }.reshaped([window.count, dz])
            let skip = content.lowerBound - window.lowerBound
            XCTAssertEqual(chunked.rows(content).scalars, direct.rows(skip..<(skip + content.count)).scalars, "window \(window)")
        }
    }

    /// `SANEEncoder(untrained:reference:spec:)` (what `sane bench embed` times without a run): its
    /// autoencoder is the one training starts from (same seed, same weights), its preprocessing
    /// aligns to the reference — a permuted copy of the reference tokenizes to the reference's
    /// own tokens and embeds to the same latents — and it encodes a whole ResNet-18 in haloed
    /// windows once its position tables fit the sequence.
    func testUntrainedEncoderAlignsAndEmbedsWholeResNets() throws {
        var cfg = SANEConfig.preset("tiny")!
        cfg.tokenSize = 32
        let reference = ZooNetwork(ZooNetworkConfiguration(architecture: .resnet18, channelsIn: 3, seed: 5, width: 2)).stateDict()
        cfg.growPositionTables(toFit: [try Tokenizer(TokenizerConfig(tokenSize: 32)).layout(for: reference)])
        let spec = try ZooArchitecture.resnet18.definition.permutationSpec(for: reference)
        let encoder = SANEEncoder(untrained: cfg, reference: reference, spec: spec)
        var g = SeededGenerator(seed: cfg.seed)
        XCTAssertEqual(encoder.model.stateDict().items.map(\.1.scalars), SANEModel(config: cfg, using: &g).stateDict().items.map(\.1.scalars))
        var p = SeededGenerator(seed: 8)
        let permuted = try spec.apply(spec.randomPermutation(using: &p), to: reference)
        let own = try encoder.tokenize(trajectory: [reference])[0], aligned = try encoder.tokenize(trajectory: [permuted])[0]
        XCTAssertGreaterThan(own.count, cfg.windowSize * 4, "the sequence should need several haloed windows")
        XCTAssertEqual(aligned.tokens.scalars, own.tokens.scalars, "alignment should undo the permutation")
        XCTAssertNotEqual(try Tokenizer(TokenizerConfig(tokenSize: 32)).tokenize(permuted).tokens.scalars, own.tokens.scalars)
        let latents = encoder.encode(aligned)
        XCTAssertEqual(latents.shape, [own.count, cfg.latentDimensions])
        XCTAssertEqual(latents.scalars, encoder.encode(own).scalars)
    }

    /// The Fig. 6 measurement: one point per window (haloed and plain), the whole-sequence point
    /// equal for both, the error equal to the masked MSE computed here, the encoder's halo left
    /// alone, and bad windows one-line errors.
    func testWindowInterferenceMeasurement() throws {
        let encoder = try NewArchitectureSamplingTests.encoder.get()
        let seqs = [try Self.sequence(encoder), try XCTUnwrap(encoder.tokenize(trajectory: [ZooNetwork(NewArchitectureSamplingTests.r18.seeded(8)).stateDict()]).first)]
        let before = encoder.halo
        let result = try WindowInterference.measure(encoder: encoder, sequences: seqs, windows: [8, 16, 64, Int.max, 1000])
        XCTAssertEqual(encoder.halo, before)
        XCTAssertEqual(result.trainingWindow, 16)
        XCTAssertEqual(result.tokens, [310, 310])
        XCTAssertEqual(result.points.map(\.window), [8, 8, 16, 16, 64, 64, 310, 310])
        XCTAssertEqual(result.points.map(\.full), [false, false, false, false, false, false, true, true])
        let whole = result.points.filter(\.full)
        XCTAssertEqual(whole[0].mse, whole[1].mse)
        XCTAssertEqual(whole[0].windowsPerSequence, 1)
        let p16 = try XCTUnwrap(result.point(window: 16, haloed: true))
        XCTAssertEqual([p16.content, p16.halo], [8, 4])
        XCTAssertEqual(p16.windowsPerSequence, Double((310 + 7) / 8))
        XCTAssertEqual(try XCTUnwrap(result.point(window: 16, haloed: false)).halo, 0)
        // The error by hand for one setting.
        var manual: [Double] = []
        for s in seqs {
            let (_, t) = Self.run(encoder, s, HaloWindows(content: 32, halo: 16), latents: Self.run(encoder, s, HaloWindows(content: 32, halo: 16), latents: Tensor(zeros: [310, 16])).z)
            var sum = 0.0, count = 0.0
            for (i, m) in s.mask.scalars.enumerated() where m != 0 { sum += Double((t.scalars[i] - s.tokens.scalars[i]) * (t.scalars[i] - s.tokens.scalars[i])); count += 1 }
            manual.append(sum / count)
        }
        XCTAssertEqual(try XCTUnwrap(result.point(window: 64, haloed: true)).mse, (manual[0] + manual[1]) / 2, accuracy: 1e-9)
        XCTAssertTrue(result.points.allSatisfy { $0.mse.isFinite && $0.mse > 0 })
        XCTAssertThrowsError(try WindowInterference.measure(encoder: encoder, sequences: seqs, windows: [0])) {
            XCTAssertTrue("\($0)".contains("inference window 0"), "\($0)")
        }
        XCTAssertThrowsError(try WindowInterference.measure(encoder: encoder, sequences: [], windows: [8]))
    }
}
