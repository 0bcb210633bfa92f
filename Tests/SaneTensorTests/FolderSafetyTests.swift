import XCTest
import Foundation
@testable import SaneTensor

/// The atomic writer, folder locks and output-versus-input path checks.
final class FolderSafetyTests: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sane-folders-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }

    func testAtomicWriteReplacesAndLeavesNoTemporary() throws {
        let url = scratch.appendingPathComponent("a.json")
        try AtomicFile.write("first", to: url)
        try AtomicFile.write(Data(), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data())
        try AtomicFile.write("second", to: url)
        XCTAssertEqual(try String(contentsOf: url, encoding: .utf8), "second")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path), ["a.json"])
        XCTAssertThrowsError(try AtomicFile.write("x", to: scratch.appendingPathComponent("missing/a.json"))) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("missing/a.json") && text.contains("No such file") && text.contains("hint") && !text.contains("\n"), text)
        }
    }

    func testStaleTemporariesAreRemoved() throws {
        let sub = scratch.appendingPathComponent("checkpoints/epoch-0001")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        for name in [".latest.json.tmp-12-ab", "keep.json", ".hidden"] { try Data([1]).write(to: scratch.appendingPathComponent(name)) }
        try Data([1]).write(to: sub.appendingPathComponent(".model.safetensors.tmp-3-ff"))
        XCTAssertEqual(AtomicFile.removeStaleTemporaries(in: scratch),
                       [".latest.json.tmp-12-ab", "checkpoints/epoch-0001/.model.safetensors.tmp-3-ff"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted(), [".hidden", "checkpoints", "keep.json"])
    }

    /// A held lock is refused in one line naming the holder's PID and purpose; released, it is free.
    func testExclusiveLockNamesItsHolder() throws {
        let folder = scratch.appendingPathComponent("new/run")
        let a = try FolderLock(folder: folder, purpose: "sane pretrain")
        XCTAssertThrowsError(try FolderLock(folder: folder, purpose: "second")) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("PID \(getpid())") && text.contains("sane pretrain") && text.contains(folder.path), text)
        }
        XCTAssertThrowsError(try FolderLock(folder: folder, mode: .shared, purpose: "reader"))
        a.release()
        XCTAssertEqual(try String(contentsOf: a.file, encoding: .utf8), "", "a released lock file keeps no PID")
        XCTAssertNoThrow(try FolderLock(folder: folder, purpose: "second"))
    }

    /// With `removesWhatItCreated`, release removes the folders the lock created while they are
    /// empty (and its lock file), keeps a folder that holds anything else, and removes a lock for
    /// one file even from a folder that holds others; without it, everything stays.
    func testReleaseRemovesWhatTheLockCreated() throws {
        let fm = FileManager.default
        let nested = scratch.appendingPathComponent("a/b/c")
        let empty = try FolderLock(folder: nested, purpose: "failing command")
        XCTAssertEqual(empty.createdFolders.map(\.lastPathComponent), ["a", "b", "c"])
        empty.removesWhatItCreated = true
        empty.release()
        XCTAssertFalse(fm.fileExists(atPath: scratch.appendingPathComponent("a").path))

        let written = try FolderLock(folder: nested, purpose: "command that wrote")
        written.removesWhatItCreated = true
        try Data([1]).write(to: nested.appendingPathComponent("result"))
        written.release()
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: nested.path).sorted(), [FolderLock.defaultName, "result"])

        let file = try FolderLock(folder: nested, purpose: "one file", name: ".result.lock")
        XCTAssertEqual(file.createdFolders, [], "the folder existed")
        file.removesWhatItCreated = true
        file.release()
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: nested.path).sorted(), [FolderLock.defaultName, "result"])

        let kept = try FolderLock(folder: scratch.appendingPathComponent("kept"), purpose: "default")
        kept.release()
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: scratch.appendingPathComponent("kept").path), [FolderLock.defaultName])
    }

    func testSharedLocksCoexistAndKeepExclusiveOut() throws {
        let a = try FolderLock(folder: scratch, mode: .shared, purpose: "shard 0")
        let b = try FolderLock(folder: scratch, mode: .shared, purpose: "shard 1")
        XCTAssertThrowsError(try FolderLock(folder: scratch, purpose: "convert")) { e in
            XCTAssertTrue("\(e)".contains("\(getpid())"), "\(e)")
        }
        a.release(); b.release()
        XCTAssertNoThrow(try FolderLock(folder: scratch, purpose: "convert"))
    }

    func testFolderThatCannotBeAFolder() throws {
        let file = scratch.appendingPathComponent("file")
        try Data([1]).write(to: file)
        XCTAssertThrowsError(try FolderLock(folder: file, purpose: "x")) { e in XCTAssertTrue("\(e)".contains("is a file, not a folder"), "\(e)") }
        XCTAssertThrowsError(try FolderLock(folder: file.appendingPathComponent("sub"), purpose: "x")) { e in
            XCTAssertTrue("\(e)".contains("is a file, not a folder"), "\(e)")
        }
        guard getuid() != 0 else { return }   // root writes anywhere
        let readOnly = scratch.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: true)
        chmod(readOnly.path, 0o555)
        defer { chmod(readOnly.path, 0o755) }
        XCTAssertThrowsError(try FolderLock(folder: readOnly, purpose: "x")) { e in XCTAssertTrue("\(e)".contains("Permission denied"), "\(e)") }
    }

    /// Outputs on or inside inputs are refused however they are spelled: relative, `..`,
    /// symbolic links, folders that do not exist yet.
    func testOutputInsideAnInputIsRefused() throws {
        let zoo = scratch.appendingPathComponent("zoo"), run = scratch.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: zoo, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let link = scratch.appendingPathComponent("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: zoo)
        XCTAssertEqual(FolderPaths.canonical(link.path + "/a/../b"), FolderPaths.canonical(zoo.path) + "/b")
        let inputs: [(name: String, path: String, subfoldersAllowed: Bool)] = [("zoo", zoo.path, false), ("run folder", run.path, true)]
        for bad in [zoo.path, link.path, link.path + "/new/deeper", zoo.path + "/../zoo/x", run.path, run.path + "/."] {
            XCTAssertThrowsError(try FolderPaths.checkOutput(bad, inputs: inputs), bad) { e in
                XCTAssertTrue("\(e)".contains("would change an input"), "\(e)")
            }
        }
        for good in [scratch.appendingPathComponent("zoo2").path, run.path + "/samples", scratch.path] {
            XCTAssertNoThrow(try FolderPaths.checkOutput(good, inputs: inputs), good)
        }
        let cwd = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(scratch.path)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        XCTAssertThrowsError(try FolderPaths.checkOutput("zoo/sub", inputs: [("zoo", "./link", false)]))
    }
}
