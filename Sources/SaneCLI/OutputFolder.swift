import Foundation
import SaneTensor

/// Takes the output folder of a command that writes several files into it: refuses a folder that
/// is (or lies inside) one of `inputs`, creates it, locks it exclusively for this process (a
/// second writer gets an error naming this PID) and removes temporary files a killed run left.
/// Keep the returned lock alive while writing; `release()` it (or exit) when done.
func lockOutputFolder(_ path: String, inputs: [(name: String, path: String, subfoldersAllowed: Bool)],
                      purpose: String) throws -> FolderLock {
    try FolderPaths.checkOutput(path, inputs: inputs)
    let url = URL(fileURLWithPath: path)
    let lock = try FolderLock(folder: url, purpose: purpose)
    AtomicFile.removeStaleTemporaries(in: url)
    return lock
}
