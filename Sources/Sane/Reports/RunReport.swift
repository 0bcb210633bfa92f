import Foundation
import SaneAnalysis
import SaneTensor

/// The self-contained report of a run folder: `RUN/report.md` with SVG plots next to it
/// (`loss_curves.svg`, `reconstruction_r2.svg`), plus every result section that later commands
/// wrote into the folder (`*/probe.md`, `*/finetune.md`, `*/samples.md`, `*/analysis.md`).
/// `sane pretrain` writes it after every epoch; `sane report RUN` rebuilds it.
public enum RunReport {
    @discardableResult
    public static func write(run: RunFolder) throws -> URL {
        let manifest = try run.loadManifest()
        let log = try run.loadLog()
        let c = manifest.config
        var md = "# SANE run `\(run.url.lastPathComponent)`\n\n"
        md += "Made by \(manifest.createdBy). Zoos: \(manifest.zoos.map { "`\($0.path)`" + epochRange($0.epochs) }.joined(separator: ", ")).\n\n"
        md += "Model: d_t \(c.tokenSize), d_model \(c.modelDimensions), \(c.heads) heads, \(c.encoderBlocks)+\(c.decoderBlocks) blocks, "
        md += "d_z \(c.latentDimensions), window \(c.windowSize). Training: \(c.epochs) epochs, batch \(c.batchSize), "
        md += "lr \(c.learningRate) one-cycle, γ \(c.gamma), τ \(c.temperature), noise σ \(c.noiseStd), "
        md += "normalization \(c.normalization.rawValue), alignment \(c.align ? "on" : "off"), seed \(c.seed).\n\n"
        if log.isEmpty {
            md += "No epoch finished yet.\n"
        } else {
            let epochs = log.map { Double($0.epoch) }
            let losses = SVGPlot.lines(series: [
                PlotSeries(name: "train reconstruction", x: epochs, y: log.map(\.trainReconstruction)),
                PlotSeries(name: "validation reconstruction", x: epochs, y: log.map(\.validationReconstruction)),
                PlotSeries(name: "train total", x: epochs, y: log.map(\.trainLoss)),
                PlotSeries(name: "validation total", x: epochs, y: log.map(\.validationLoss)),
            ], title: "SANE losses", xLabel: "epoch", yLabel: "loss", logarithmicY: true)
            try SVGPlot.write(losses, toPath: run.url.appendingPathComponent("loss_curves.svg").path)
            let r2 = SVGPlot.lines(series: [
                PlotSeries(name: "train", x: epochs, y: log.map { $0.trainSequenceR2 ?? .nan }),
                PlotSeries(name: "validation", x: epochs, y: log.map(\.validationSequenceR2)),
            ], title: "Reconstruction R² of clean sequences", xLabel: "epoch", yLabel: "R²")
            try SVGPlot.write(r2, toPath: run.url.appendingPathComponent("reconstruction_r2.svg").path)
            md += "## Training\n\n![losses](loss_curves.svg)\n\n![reconstruction R²](reconstruction_r2.svg)\n\n"
            let rows = log.map { l in
                [String(l.epoch), f(l.trainReconstruction), f(l.trainContrastive), f(l.trainSequenceR2 ?? .nan), f(l.validationReconstruction),
                 f(l.validationSequenceR2), String(format: "%.0f", l.tokensPerSecond), String(format: "%.1f", l.seconds)]
            }
            md += Table(header: ["epoch", "train recon", "train contrast", "train R²", "val recon", "val R²", "tokens/s", "s"],
                        rows: rows).markdown + "\n\n"
            if let test = try run.loadFinalTest() {
                md += String(format: "Test reconstruction of the final model (epoch %d; computed once, after training): MSE %.4f, R² %.3f.\n\n",
                             test.epoch, test.testSequenceMSE, test.testSequenceR2)
            }
            md += "Reconstruction losses are masked MSE of standardized weights on noised windows; R² and MSE of clean full sequences (1 − SSE/SST over real entries).\n\n"
        }
        // Sections written by other commands into sub-folders of the run.
        let fm = FileManager.default
        for sub in ((try? fm.contentsOfDirectory(atPath: run.url.path)) ?? []).sorted() {
            let dir = run.url.appendingPathComponent(sub)
            for name in ["probe.md", "analysis.md", "window_interference.md", "samples.md", "finetune.md"] {
                let file = dir.appendingPathComponent(name)
                guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
                // Images in the section are relative to its folder.
                md += "## \(sub)/\(name)\n\n" + text.replacingOccurrences(of: "](", with: "](\(sub)/") + "\n\n"
            }
        }
        let url = run.url.appendingPathComponent("report.md")
        try AtomicFile.write(md, to: url)
        return url
    }

    /// " (epochs 0–5)" for a selection of epochs; nothing for all of them (nil) or none.
    static func epochRange(_ epochs: [Int]?) -> String {
        guard let first = epochs?.min(), let last = epochs?.max() else { return "" }
        return " (epochs \(first)–\(last))"
    }

    static func f(_ x: Double) -> String { x.isFinite ? String(format: "%.4f", x) : "–" }
}
