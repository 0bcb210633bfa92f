import Foundation

/// An advisory lock on a folder a command writes: `flock` on a lock file inside it
/// (`.sane.lock` unless named otherwise). The kernel releases it when the process exits,
/// however it exits (also SIGKILL), so a lock never outlives its holder and there is nothing to
/// clean up after a crash. A second process that asks for a held lock gets a one-line error
/// naming the holder's PID instead of waiting.
///
/// Exclusive: one writer owns the folder (a run folder, a samples folder). Shared: several
/// processes write disjoint parts of it (shards of `sane zoo train`), each part under its own
/// exclusive lock; a shared lock still keeps exclusive writers out.
public final class FolderLock: @unchecked Sendable {
    public enum Mode: Sendable { case exclusive, shared }

    public static let defaultName = ".sane.lock"
    public let folder: URL
    public let file: URL
    public let mode: Mode
    private var fd: Int32

    /// Whether `release()` removes what the lock left behind: the lock file when it is a lock
    /// for one file (a name other than `defaultName`) or the folder holds nothing else, then
    /// the folders this lock created, while they are empty. Set it for the output of one command,
    /// so that a command that fails before writing anything leaves no folder behind.
    public var removesWhatItCreated = false
    /// The folders `init` created, outermost first.
    public private(set) var createdFolders: [URL] = []

    /// Creates `folder` (with its parents) if needed and takes the lock.
    /// - Parameters:
    ///   - purpose: what the holder does (e.g. "sane pretrain"), shown to whoever finds it locked.
    ///   - name: the lock file's name inside `folder`.
    public init(folder: URL, mode: Mode = .exclusive, purpose: String, name: String = FolderLock.defaultName) throws {
        self.folder = folder
        self.mode = mode
        file = folder.appendingPathComponent(name)
        fd = -1
        // A releasing holder may remove the lock file (and an empty folder) between our open and
        // our flock: then the lock we got is on a removed file, and we take it again.
        for _ in 0..<10 {
            createdFolders += try FolderLock.createFolder(folder)
            let opened = open(file.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            if opened < 0 && errno == ENOENT { continue }   // the folder was removed meanwhile
            guard opened >= 0 else {
                throw SaneError("cannot write in \(folder.path): \(String(cString: strerror(errno)))",
                                hint: "choose a folder you can write to")
            }
            if flock(opened, (mode == .exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
                let busy = errno == EWOULDBLOCK
                let reason = String(cString: strerror(errno))
                let holders = busy ? FolderLock.holders(of: opened) : ""
                close(opened)
                guard busy else { throw SaneError("cannot lock \(file.path): \(reason)") }
                throw SaneError("\(folder.path) is in use by another sane process (\(holders))",
                                hint: "wait until it finishes or stop it; its lock is released when it exits")
            }
            var held = stat(), current = stat()
            guard fstat(opened, &held) == 0, stat(file.path, &current) == 0,
                  held.st_ino == current.st_ino, held.st_dev == current.st_dev else { close(opened); continue }
            fd = opened
            break
        }
        guard fd >= 0 else { throw SaneError("cannot lock \(file.path): it is removed and created again by other processes") }
        if mode == .exclusive {   // who holds it, for the message others get (shared holders are found in /proc/locks)
            let text = Array("\(getpid()) \(purpose)\n".utf8)
            _ = ftruncate(fd, 0)
            _ = text.withUnsafeBufferPointer { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
    }

    /// Releases the lock (also done when the lock is deallocated or the process exits).
    public func release() {
        guard fd >= 0 else { return }
        if mode == .exclusive { _ = ftruncate(fd, 0) }
        if removesWhatItCreated {
            // Unlinked while still held, so that no one locks the file we remove (see `init`).
            let others = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0 != file.lastPathComponent }
            if file.lastPathComponent != FolderLock.defaultName || others.isEmpty { unlink(file.path) }
        }
        close(fd)
        fd = -1
        if removesWhatItCreated {
            for created in createdFolders.reversed() {
                guard rmdir(created.path) == 0 else { break }   // only empty folders go
            }
        }
    }

    deinit { release() }

    /// "PID 123: sane pretrain", from /proc/locks (Linux) and the lock file's text.
    static func holders(of fd: Int32) -> String {
        var pids: [Int] = []
        var st = stat()
        if fstat(fd, &st) == 0, let table = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) {
            // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF" (waiters have "->" after the number)
            for line in table.split(separator: "\n") {
                let f = line.split(separator: " ").filter { $0 != "->" }
                guard f.count >= 6, f[1] == "FLOCK", let pid = Int(f[4]),
                      let inode = f[5].split(separator: ":").last.flatMap({ UInt64($0) }), inode == UInt64(st.st_ino) else { continue }
                if !pids.contains(pid) { pids.append(pid) }
            }
        }
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBufferPointer { pread(fd, $0.baseAddress, 511, 0) }
        if n > 0 { text = String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        let written = text.split(separator: " ", maxSplits: 1)
        if let first = written.first, let pid = Int(first), pids.isEmpty || pids == [pid] {
            return "PID \(pid)" + (written.count > 1 ? ": \(written[1])" : "")
        }
        if pids.isEmpty { return "PID unknown" }
        return (pids.count == 1 ? "PID " : "PIDs ") + pids.map(String.init).joined(separator: ", ")
    }

    /// `mkdir -p` with a one-line error (a file in the way, no permission); returns the folders
    /// it created, outermost first.
    @discardableResult
    static func createFolder(_ url: URL) throws -> [URL] {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) {
            guard isDir.boolValue else {
                throw SaneError("\(url.path) is a file, not a folder", hint: "pass a folder path (it is created if missing)")
            }
            return []
        }
        let parent = url.deletingLastPathComponent()
        let created = parent.path != url.path ? try createFolder(parent) : []
        if mkdir(url.path, 0o755) == 0 { return created + [url] }
        guard errno == EEXIST else {
            throw SaneError("cannot create folder \(url.path): \(String(cString: strerror(errno)))",
                            hint: "choose a folder you can write to")
        }
        return created
    }
}

/// Paths compared as the file system sees them, so that an output cannot overwrite an input
/// however either is spelled (relative, `..`, symbolic links).
public enum FolderPaths {
    /// `path` made absolute, with symbolic links resolved in the part that exists and `.`/`..`
    /// removed from the rest.
    public static func canonical(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var head = absolute
        var tail: [String] = []
        while true {
            if let resolved = realpath(head, nil) {
                defer { free(resolved) }
                var parts = String(cString: resolved).split(separator: "/").map(String.init)
                for part in tail {
                    if part == "." || part.isEmpty { continue }
                    if part == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(part) }
                }
                return "/" + parts.joined(separator: "/")
            }
            guard let slash = head.lastIndex(of: "/") else { return absolute }
            tail.insert(String(head[head.index(after: slash)...]), at: 0)
            head = slash == head.startIndex ? "/" : String(head[..<slash])
        }
    }

    /// Whether `path` is `folder` or lies inside it (both canonical).
    public static func contains(_ folder: String, _ path: String) -> Bool {
        folder == "/" || path == folder || path.hasPrefix(folder + "/")
    }

    /// Refuses an output folder that is an input or lies inside one; inputs listed with
    /// `subfoldersAllowed` (a run folder, whose sub-folders hold later results) refuse only
    /// the folder itself.
    public static func checkOutput(_ output: String, flag: String = "--out",
                                   inputs: [(name: String, path: String, subfoldersAllowed: Bool)]) throws {
        let out = canonical(output)
        for input in inputs {
            let folder = canonical(input.path)
            let clash = input.subfoldersAllowed ? out == folder : contains(folder, out)
            if clash {
                throw SaneError("\(flag) \(output) \(out == folder ? "is" : "lies inside") the input \(input.name) \(folder); writing there would change an input",
                                hint: input.subfoldersAllowed ? "choose another folder, e.g. a sub-folder of it" : "choose a folder outside it")
            }
        }
    }
}
