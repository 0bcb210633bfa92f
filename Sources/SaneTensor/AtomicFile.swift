import Foundation

/// The one way Sane writes a file: the bytes go to a temporary file next to the destination,
/// are flushed to disk (fsync), and the temporary is renamed over the destination (then the
/// folder is flushed, so the rename survives a power cut). Readers see the old file or the
/// new one, never a part; a process killed mid-write leaves at most a temporary
/// `.NAME.tmp-PID-RANDOM`, which `removeStaleTemporaries` deletes when the folder is next
/// opened for writing (under its `FolderLock`).
public enum AtomicFile {
    /// Writes `data` to `url` atomically (see the type).
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let name = url.lastPathComponent
        let tmp = dir.appendingPathComponent(".\(name)\(temporaryMarker)\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))")
        func failure(_ what: String) -> SaneError {
            SaneError("cannot write \(url.path): \(what): \(String(cString: strerror(errno)))",
                      hint: "check that \(dir.path) exists, is a folder and is writable, and that the disk has space")
        }
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot create a temporary file") }
        var ok = true
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(fd, base + offset, buffer.count - offset)
                if n < 0 { if errno == EINTR { continue }; ok = false; return }
                offset += n
            }
        }
        if ok && fsync(fd) != 0 { ok = false }
        let error = ok ? nil : failure("writing failed")
        close(fd)
        if let error { unlink(tmp.path); throw error }
        KillPoint.hit("before-rename:" + name)
        guard rename(tmp.path, url.path) == 0 else {
            let e = failure("cannot rename the temporary file into place")
            unlink(tmp.path)
            throw e
        }
        KillPoint.hit("after-rename:" + name)
        let dirFD = open(dir.path, O_RDONLY | O_CLOEXEC)
        if dirFD >= 0 { _ = fsync(dirFD); close(dirFD) }
    }

    /// Writes UTF-8 text atomically.
    public static func write(_ text: String, to url: URL) throws { try write(Data(text.utf8), to: url) }

    /// What the names of temporary files contain: `.NAME` + marker + `PID-RANDOM`.
    public static let temporaryMarker = ".tmp-"

    /// Whether a file name is one of `write`'s temporaries.
    public static func isTemporary(_ name: String) -> Bool { name.hasPrefix(".") && name.contains(temporaryMarker) }

    /// Deletes temporaries left by killed writers in `folder` and its sub-folders; returns their
    /// paths relative to `folder`. Only call it while holding the folder's exclusive `FolderLock`
    /// (a live writer's temporary would otherwise be deleted under it).
    @discardableResult
    public static func removeStaleTemporaries(in folder: URL) -> [String] {
        var removed: [String] = []
        guard let e = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        for case let url as URL in e where isTemporary(url.lastPathComponent) {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true else { continue }
            if unlink(url.path) == 0 {
                removed.append(url.path.hasPrefix(folder.path + "/") ? String(url.path.dropFirst(folder.path.count + 1)) : url.path)
            }
        }
        return removed.sorted()
    }

    /// Deletes the temporaries of `file` left by killed writers; returns their names. Only call
    /// it while holding `file`'s lock.
    @discardableResult
    public static func removeStaleTemporaries(of file: URL) -> [String] {
        let folder = file.deletingLastPathComponent()
        let prefix = "." + file.lastPathComponent + temporaryMarker
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(prefix) }
        return names.filter { unlink(folder.appendingPathComponent($0).path) == 0 }.sorted()
    }
}
