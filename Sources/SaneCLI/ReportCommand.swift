import ArgumentParser
import Foundation
import Sane

/// `sane report RUN`: rebuild a run's report.md and plots.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Rebuild RUN/report.md (loss curves, probe, samples, fine-tuning) from a run folder.",
        discussion: "Every long command writes its results into the run folder; this collects them into one Markdown page with SVG plots."
    )
    @Argument(help: "Run folder made by `sane pretrain`.") var folder: String

    func run() throws {
        let url = try RunReport.write(run: RunFolder(path: folder))
        print("wrote \(url.path)")
    }
}
