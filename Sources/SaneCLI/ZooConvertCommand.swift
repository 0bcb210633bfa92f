import ArgumentParser
import Foundation
import Sane

/// `sane zoo convert ZOO --out DIR`
struct ZooConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Copy a zoo with its PyTorch checkpoints converted to safetensors (same layout, key order kept)."
    )

    @Argument(help: "Zoo directory with PyTorch checkpoints.") var zoo: String
    @Option(help: "Output directory.") var out: String

    func run() throws {
        try FolderPaths.checkOutput(out, inputs: [("zoo", zoo, false)])
        let z = try Zoo(path: zoo)
        reportSkipped(z)
        let fm = FileManager.default
        let root = URL(fileURLWithPath: out)
        let lock = try FolderLock(folder: root, purpose: "sane zoo convert")
        defer { lock.release() }
        AtomicFile.removeStaleTemporaries(in: root)
        let bar = ProgressBar("converting", total: z.models.count)
        var converted = 0
        for (i, model) in z.models.enumerated() {
            let dir = root.appendingPathComponent(model.name)
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            for file in ["params.json", "result.json", "done"] {
                let src = model.directory.appendingPathComponent(file), dst = dir.appendingPathComponent(file)
                guard fm.fileExists(atPath: src.path) else { continue }
                guard let bytes = fm.contents(atPath: src.path) else { throw CommandError("cannot read \(src.path)") }
                try AtomicFile.write(bytes, to: dst)
            }
            for e in model.epochs {
                let folder = dir.appendingPathComponent(String(format: "checkpoint_%06d", e))
                try fm.createDirectory(at: folder, withIntermediateDirectories: true)
                try Safetensors.write(model.loadCheckpoint(epoch: e), to: folder.appendingPathComponent("checkpoints.safetensors"))
                converted += 1
            }
            bar.update(i + 1, detail: model.name)
        }
        bar.finish()
        diagnostic("zoo convert: \(z.models.count) models, \(converted) checkpoints → \(root.path)"
                   + (z.skipped.isEmpty ? "" : "; \(z.skipped.count) entries skipped (see the warning above)"))
    }
}
