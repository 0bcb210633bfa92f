import XCTest
import Foundation
@testable import SaneData

/// What a zoo listing leaves out is reported with the reason; each model folder counts once.
final class ZooListingTests: XCTestCase {
    func testSkippedEntriesAreReportedAndLinkedDuplicatesCountOnce() throws {
        let fm = FileManager.default
        let zoo = fm.temporaryDirectory.appendingPathComponent("sane-zoolisting-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: zoo) }
        func model(_ name: String, epochs: [Int]) throws {
            let dir = zoo.appendingPathComponent(name)
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            try #"{"model::type": "CNN"}"#.write(to: dir.appendingPathComponent("params.json"), atomically: true, encoding: .utf8)
            for e in epochs {
                let c = dir.appendingPathComponent(String(format: "checkpoint_%06d", e))
                try fm.createDirectory(at: c, withIntermediateDirectories: true)
                try Data([0]).write(to: c.appendingPathComponent("checkpoints.safetensors"))
            }
        }
        try model("m_a", epochs: [0, 1])
        try model("m_b", epochs: [0])
        for name in ["m_a", "m_b"] { try fm.createDirectory(at: zoo.appendingPathComponent("\(name)/checkpoint_000005"), withIntermediateDirectories: true) }
        // m_a: a dangling link, a directory and a FIFO where checkpoint files should be, a bad name.
        let a = zoo.appendingPathComponent("m_a")
        try fm.createDirectory(at: a.appendingPathComponent("checkpoint_000002"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: a.appendingPathComponent("checkpoint_000002/checkpoints").path, withDestinationPath: "/nonexistent/ck")
        try fm.createDirectory(at: a.appendingPathComponent("checkpoint_000003/checkpoints"), withIntermediateDirectories: true)
        try fm.createDirectory(at: a.appendingPathComponent("checkpoint_000004"), withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(a.appendingPathComponent("checkpoint_000004/checkpoints.safetensors").path, 0o644), 0)
        try fm.createDirectory(at: a.appendingPathComponent("checkpoint_final"), withIntermediateDirectories: true)
        // A folder without params.json, one whose name is not UTF-8, two links to m_b (one sorts
        // before it), a dangling model link, a file and hidden entries.
        try fm.createDirectory(at: zoo.appendingPathComponent("m_c_no_params/checkpoint_000000"), withIntermediateDirectories: true)
        let raw = zoo.path + "/m_\u{FF}"
        var bytes = Array(zoo.path.utf8) + [0x2F, 0x6D, 0x5F, 0xFF, 0x00]
        XCTAssertEqual(bytes.withUnsafeMutableBufferPointer { $0.baseAddress!.withMemoryRebound(to: CChar.self, capacity: $0.count) { mkdir($0, 0o755) } }, 0, raw)
        try fm.createSymbolicLink(at: zoo.appendingPathComponent("a_link_to_b"), withDestinationURL: zoo.appendingPathComponent("m_b"))
        try fm.createSymbolicLink(atPath: zoo.appendingPathComponent("z_link_to_b").path, withDestinationPath: "m_b")
        try fm.createSymbolicLink(atPath: zoo.appendingPathComponent("m_gone").path, withDestinationPath: "/nonexistent/model")
        try Data([1]).write(to: zoo.appendingPathComponent("README.md"))
        try fm.createDirectory(at: zoo.appendingPathComponent(".locks"), withIntermediateDirectories: true)

        let z = try Zoo(directory: zoo)
        XCTAssertEqual(z.models.map(\.name), ["m_a", "m_b"], "each model once, under its real folder's name")
        XCTAssertEqual(z.models[0].epochs, [0, 1])
        let reasons = Dictionary(z.skipped.map { ($0.path, $0.reason) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(reasons["m_c_no_params"], "no params.json")
        XCTAssertEqual(reasons["m_\\xFF"], "name is not valid UTF-8")
        XCTAssertEqual(reasons["a_link_to_b"], "same model folder as m_b (a symbolic link)")
        XCTAssertEqual(reasons["z_link_to_b"], "same model folder as m_b (a symbolic link)")
        XCTAssertEqual(reasons["m_gone"], "a dangling symbolic link")
        XCTAssertEqual(reasons["m_a/checkpoint_000002"], "checkpoints is a dangling symbolic link")
        XCTAssertEqual(reasons["m_a/checkpoint_000003"], "checkpoints is a directory")
        XCTAssertEqual(reasons["m_a/checkpoint_000004"], "checkpoints.safetensors is a FIFO")
        XCTAssertEqual(reasons["m_a/checkpoint_final"], "not a checkpoint_<epoch> name")
        XCTAssertEqual(reasons["m_b/checkpoint_000005"], "no checkpoints or checkpoints.safetensors file")
        XCTAssertEqual(z.skipped.count, 11, "\(z.skipped)")
        let split = z.splitNames()
        let all = split.values.flatMap { $0 }
        XCTAssertEqual(all.count, Set(all).count, "a model in two splits")
    }
}
