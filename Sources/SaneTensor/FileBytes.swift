// Reading whole input files (checkpoints, datasets) with one-line errors that say what the
// path is when it is not a readable regular file — instead of Foundation's
// "The operation could not be completed. (NSCocoaErrorDomain error 256.)".

import Foundation

public enum FileBytes {
    /// The bytes of the regular file at `url` (memory-mapped when safe). `what` names the
    /// expected content in errors ("checkpoint", "IDX file").
    ///
    /// Refused with a one-line error: a missing path, a directory, a FIFO/socket/device (reading
    /// one could block forever), an unreadable file.
    public static func read(_ url: URL, what: String = "file") throws -> Data {
        let path = url.path
        var st = stat()
        guard stat(path, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            throw SaneError("cannot read \(what) \(path): \(reason)",
                            hint: errno == ENOENT ? "check the path" : "check the path and its permissions")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            break
        case S_IFDIR:
            throw SaneError("\(what) \(path) is a directory, not a file", hint: "pass the file inside it")
        default:
            throw SaneError("\(what) \(path) is not a regular file (a FIFO, socket or device)",
                            hint: "copy the data to a regular file first")
        }
        do {
            return try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw SaneError("cannot read \(what) \(path): \(describe(error))", hint: "check the file's permissions")
        }
    }

    /// A short reason for a Foundation file error: the underlying POSIX error's text
    /// ("Permission denied", "Is a directory") when there is one.
    public static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }
}
