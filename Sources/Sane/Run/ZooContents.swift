import Foundation
import SaneData
import SaneTensor

/// The fingerprint of the zoo files a run was fitted on, stored as
/// `RUN/preprocessing/zoo-K/zoo_contents.json`: for every model the run lists (the split is drawn
/// over all of them), its params.json, result.json and the checkpoint files of the selected
/// epochs, each with its size and a 64-bit FNV-1a hash of its bytes; plus the entries the zoo
/// listing left out, with the reason (the run's record of what it skipped).
///
/// Content hashes, not modification times: a zoo copied or checked out again (new mtimes, same
/// bytes) still resumes, and a change that keeps size and mtime (`touch -r`, a restored backup)
/// is still caught. The price is one more read of the selected files when a run starts or
/// resumes, small next to loading and aligning them. FNV-1a guards against accidents, not
/// against an adversary (a deliberate collision is easy), which is all a resume check needs.
public struct ZooContents: Codable, Sendable {
    public static let fileName = "zoo_contents.json"

    public struct File: Codable, Equatable, Sendable {
        /// Relative to the zoo folder.
        public var path: String
        public var size: Int
        /// FNV-1a 64 of the bytes, 16 hex digits.
        public var hash: String
    }

    public var files: [File]
    public var skipped: [ZooSkip]

    /// Reads and hashes the files of `zoo` that `selection` uses.
    public init(zoo: Zoo, selection: ZooSelection) throws {
        var urls: [URL] = []
        for model in zoo.models {
            urls.append(model.directory.appendingPathComponent("params.json"))
            let result = model.directory.appendingPathComponent("result.json")
            if FileManager.default.fileExists(atPath: result.path) { urls.append(result) }
            for epoch in selection.epochs ?? model.epochs { if let file = model.checkpoints[epoch] { urls.append(file) } }
        }
        let root = zoo.directory.path
        files = try urls.map { url in
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw SaneError("cannot read \(url.path): \(error.localizedDescription)")
            }
            let relative = url.path.hasPrefix(root + "/") ? String(url.path.dropFirst(root.count + 1)) : url.path
            return File(path: relative, size: data.count, hash: ZooContents.fnv1a(data))
        }
        skipped = zoo.skipped
    }

    /// FNV-1a, 64 bits, as 16 hex digits.
    static func fnv1a(_ data: Data) -> String {
        hex(data.withUnsafeBytes { fnv1a($0) })
    }

    /// FNV-1a 64 of `bytes`, continuing from `state` (the offset basis for a fresh hash).
    static func fnv1a(_ bytes: UnsafeRawBufferPointer, continuing state: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var h = state
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return h
    }

    /// 16 hex digits.
    static func hex(_ h: UInt64) -> String {
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// What changed from `self` (stored) to `current`, in one line; nil when nothing did.
    public func difference(to current: ZooContents) -> String? {
        let old = Dictionary(files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let new = Dictionary(current.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let changed = files.filter { f in new[f.path].map { $0 != f } ?? false }.map(\.path)
        let removed = files.filter { new[$0.path] == nil }.map(\.path)
        let added = current.files.filter { old[$0.path] == nil }.map(\.path)
        guard !(changed.isEmpty && removed.isEmpty && added.isEmpty) else { return nil }
        func part(_ what: String, _ paths: [String]) -> String? {
            paths.isEmpty ? nil : "\(paths.count) file(s) \(what) (e.g. \(paths[0]))"
        }
        return [part("changed", changed), part("removed", removed), part("added", added)].compactMap { $0 }.joined(separator: ", ")
    }
}
