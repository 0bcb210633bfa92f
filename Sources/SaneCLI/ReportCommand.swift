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
        let run = RunFolder(path: folder)
        _ = try run.loadManifest()   // a run folder, not one to create
        // The report's files are the run's: not while `sane pretrain` writes the run (it refreshes the report itself).
        let lock = try run.lockForWriting(purpose: "sane report")
        defer { lock.release() }
        let url = try RunReport.write(run: run)
        print("wrote \(url.path)")
    }
}
