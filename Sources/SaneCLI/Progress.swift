import Foundation

/// A one-line progress bar with rate and ETA on stderr (redrawn in place on a terminal,
/// printed every few seconds otherwise, silent with `quiet`).
final class ProgressBar {
    let label: String
    var total: Int
    let start = Date()
    var lastDraw = Date.distantPast
    let interactive = isatty(STDERR_FILENO) != 0
    var quiet = false

    init(_ label: String, total: Int) { self.label = label; self.total = max(total, 1) }

    func update(_ done: Int, detail: String = "") {
        guard !quiet else { return }
        let now = Date()
        let minimum = interactive ? 0.1 : 5.0
        guard done >= total || now.timeIntervalSince(lastDraw) >= minimum else { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let fraction = min(1, max(0, Double(done) / Double(max(total, 1))))
        let eta = done > 0 ? elapsed / Double(done) * Double(max(total - done, 0)) : .nan
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = "\(label) \(bar) \(done)/\(total) \(detail) elapsed \(formatDuration(elapsed)) ETA \(eta.isFinite ? formatDuration(eta) : "?")"
        FileHandle.standardError.write(((interactive ? "\r\u{1B}[K" : "") + line + (interactive ? "" : "\n")).data(using: .utf8)!)
    }

    func finish() {
        if interactive && !quiet { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}

func formatDuration(_ s: Double) -> String {
    if s < 60 { return String(format: "%.0fs", s) }
    if s < 3600 { return String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60) }
    return String(format: "%dh%02dm", Int(s) / 3600, (Int(s) % 3600) / 60)
}
