import Foundation
import SaneTensor

/// Takes the output folder of a command that writes several files into it: refuses a folder that
/// is (or lies inside) one of `inputs`, creates it, locks it exclusively for this process (a
/// second writer gets an error naming this PID) and removes temporary files a killed run left.
/// Keep the returned lock alive while writing; `release()` it (or exit) when done: a folder it
/// created that is still empty then goes again, so a failed command leaves nothing behind.
func lockOutputFolder(_ path: String, inputs: [(name: String, path: String, subfoldersAllowed: Bool)],
                      purpose: String) throws -> FolderLock {
    try FolderPaths.checkOutput(path, inputs: inputs)
    let url = URL(fileURLWithPath: path)
    let lock = try FolderLock(folder: url, purpose: purpose)
    lock.removesWhatItCreated = true
    AtomicFile.removeStaleTemporaries(in: url)
    return lock
}

/// Takes the output file of a command, as `lockOutputFolder` its folder: refuses a file that
/// lies inside one of `inputs`, creates its folder, locks the file for this process (a lock file
/// `.NAME.lock` next to it, removed on release; other files of the folder stay free) and removes
/// temporaries of the file a killed run left.
func lockOutputFile(_ path: String, inputs: [(name: String, path: String, subfoldersAllowed: Bool)],
                    purpose: String) throws -> FolderLock {
    try FolderPaths.checkOutput(path, inputs: inputs)
    let url = URL(fileURLWithPath: path)
    let lock = try FolderLock(folder: url.deletingLastPathComponent(), purpose: purpose, name: ".\(url.lastPathComponent).lock")
    lock.removesWhatItCreated = true
    AtomicFile.removeStaleTemporaries(of: url)
    return lock
}
