import Foundation
import SaneAnalysis
import SaneNN
import SaneTensor

/// Reconstruction error against the inference window (paper §3 and Fig. 6; SANE-SPEC §6): every
/// checkpoint's whole token sequence is encoded and decoded in windows of w tokens, either
/// haloed — `HaloWindows.defaults(windowSize: w)`, w/2 content tokens kept with w/4 context tokens
/// on each side — or plain (content w, no halo), and the reconstruction error is the masked MSE
/// in the run's standardized token space,
///     e = Σ M ⊙ (T̂ − T)² / Σ M,      T̂ = decode(encode(T)) window by window,
/// averaged over checkpoints (± standard deviation). A window at least as long as a sequence
/// encodes it in one piece. The paper finds the error lowest near the training window and rising
/// for longer windows (interference between far-apart tokens) as well as shorter ones.
public struct WindowInterference: Codable, Sendable {
    /// One inference setting, averaged over the checkpoints.
    public struct Point: Codable, Sendable, Equatable {
        /// Requested window w in tokens (the sequence length where `full`).
        public var window: Int
        /// True where w covers every sequence (one window per sequence).
        public var full: Bool
        public var haloed: Bool
        public var content: Int
        public var halo: Int
        /// Mean number of windows per sequence.
        public var windowsPerSequence: Double
        public var mse: Double
        public var mseStd: Double
        /// Encode + decode seconds per sequence (wall clock).
        public var secondsPerSequence: Double
    }

    /// The window SANE was trained on.
    public var trainingWindow: Int
    public var checkpoints: Int
    /// Shortest and longest token sequence.
    public var tokens: [Int]
    public var points: [Point]

    /// Measures every window of `windows` (token counts ≥ 1; `Int.max` or anything ≥ the longest
    /// sequence: whole sequences), haloed and plain, on `sequences` with `encoder`'s autoencoder.
    /// The encoder's own halo setting is left as it was.
    public static func measure(encoder: SANEEncoder, sequences: [TokenSequence], windows: [Int],
                               progress: ((Int, Int) -> Void)? = nil) throws -> WindowInterference {
        guard !sequences.isEmpty else { throw SaneError("window interference needs at least one checkpoint", hint: "check --zoo and --epochs") }
        if windows.isEmpty { throw SaneError("no inference windows to measure", hint: "give window sizes such as 16,32,64,full") }
        if let bad = windows.first(where: { $0 < 1 }) {
            throw SaneError("inference window \(bad) is not a token count ≥ 1", hint: "give window sizes such as 16,32,64,full")
        }
        let lengths = sequences.map(\.count)
        let longest = lengths.max()!
        let sizes = Array(Set(windows.map { min($0, longest) })).sorted()
        let saved = encoder.halo
        defer { encoder.halo = saved }
        var points: [Point] = []
        let settings = sizes.flatMap { w in [true, false].map { (w, $0) } }
        for (done, (w, haloed)) in settings.enumerated() {
            // A window covering the longest sequence is one window per sequence, haloed or not.
            let halo = haloed && w < longest ? HaloWindows.defaults(windowSize: w) : HaloWindows(content: w, halo: 0)
            encoder.halo = halo
            let clock = ContinuousClock(), start = clock.now
            let errors = sequences.map { reconstructionError(encoder, $0) }
            let elapsed = clock.now - start
            let (mean, std) = meanAndStd(errors)
            points.append(Point(window: w, full: w >= longest, haloed: haloed, content: halo.content, halo: halo.halo,
                                windowsPerSequence: Double(lengths.map { halo.plan(tokens: $0).count }.reduce(0, +)) / Double(lengths.count),
                                mse: mean, mseStd: std,
                                secondsPerSequence: (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
                                    / Double(sequences.count)))
            progress?(done + 1, settings.count)
        }
        return WindowInterference(trainingWindow: encoder.model.config.windowSize, checkpoints: sequences.count,
                                  tokens: [lengths.min()!, longest], points: points)
    }

    /// e = Σ M ⊙ (T̂ − T)² / Σ M for one sequence, T̂ decoded from its latents with the encoder's halo.
    public static func reconstructionError(_ encoder: SANEEncoder, _ sequence: TokenSequence) -> Double {
        let decoded = encoder.decode(encoder.encode(sequence), positions: sequence.positions)   // (N, d_t)
        var sum = 0.0, count = 0.0
        decoded.withHostBuffer { y in sequence.tokens.withHostBuffer { t in sequence.mask.withHostBuffer { m in
            for i in y.indices where m[i] != 0 {
                let d = Double(y[i] - t[i])
                sum += Double(m[i]) * d * d; count += Double(m[i])
            }
        } } }
        return sum / max(count, 1)
    }

    /// The point of window `w` (haloed or plain), if measured.
    public func point(window w: Int, haloed: Bool) -> Point? { points.first { $0.window == w && $0.haloed == haloed } }

    /// Markdown table: window, content / halo, windows per sequence, MSE ± std, seconds.
    public var table: Table {
        Table(header: ["window", "halo", "content / halo", "windows per model", "reconstruction MSE", "± std", "s per model"],
              rows: points.map { p in
                  [p.full ? "\(p.window) (whole)" : "\(p.window)", p.haloed ? "yes" : "no", "\(p.content) / \(p.halo)",
                   String(format: "%.2f", p.windowsPerSequence), String(format: "%.5f", p.mse), String(format: "%.5f", p.mseStd),
                   String(format: "%.3f", p.secondsPerSequence)]
              })
    }

    private static func meanAndStd(_ values: [Double]) -> (Double, Double) {
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.count > 1 ? values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1) : 0
        return (mean, variance.squareRoot())
    }
}

extension WindowInterference {
    /// The token sequences of the first `maxModels` models of `splits` (all when nil) at `epochs`,
    /// preprocessed and tokenized as the run's training did.
    public static func sequences(encoder: SANEEncoder, source: CheckpointSource, splits: [ZooSplit], epochs: [Int]?,
                                 maxModels: Int? = nil) throws -> [TokenSequence] {
        let work = try source.models(splits: splits, epochs: epochs, seed: encoder.splitSeed(for: source))
        return try work.prefix(maxModels ?? work.count).flatMap { model -> [TokenSequence] in
            let loaded = try model.load().checkpoints
            guard let first = loaded.first else { return [] }
            let index = try encoder.preprocessingIndex(for: source, sample: first)
            return try encoder.tokenize(trajectory: loaded.map(\.stateDict), zoo: index)
        }
    }
}
