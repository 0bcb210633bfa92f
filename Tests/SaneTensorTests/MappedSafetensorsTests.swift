import Foundation
import XCTest
@testable import SaneTensor

/// The memory-mapped safetensors reader: `releaseMapped(around:)` leaves none of the pages a read
/// mapped in the process, however large the page-cache folios behind them (the token store's
/// bounded memory depends on it; BENCHMARKS.md "Streaming training data: peak memory").
final class MappedSafetensorsTests: XCTestCase {
    func testReleaseMappedDropsEveryPageARangeReadMapped() throws {
        #if os(Linux)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mapped-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        // Four 3 MB tensors: entry boundaries fall inside 2 MiB blocks.
        let tensors = (0..<4).map { i in ("t\(i)", Tensor(shape: [750_000], scalars: (0..<750_000).map { Float($0 % 97 + i) })) }
        try Safetensors.write(StateDict(tensors), to: url)
        let file = try MappedSafetensors(url)
        XCTAssertEqual(file.residentBytes, 0, "a new mapping holds no pages")
        let e = file.entry("t2")!
        var out = [Float](repeating: 0, count: e.count)
        out.withUnsafeMutableBufferPointer { file.copyFloats(of: e, elements: 0..<e.count, into: $0.baseAddress!) }
        XCTAssertEqual(out[5], Float(5 + 2))
        XCTAssertGreaterThanOrEqual(file.residentBytes ?? 0, 2_900_000, "the read maps the entry's pages")
        file.releaseMapped(around: (file.header.dataStart + e.begin)..<(file.header.dataStart + e.end))
        XCTAssertEqual(file.residentBytes, 0, "releaseMapped leaves nothing of the read mapped")
        // Reading again after the release still sees the data.
        out.withUnsafeMutableBufferPointer { file.copyFloats(of: e, elements: 10..<20, into: $0.baseAddress!) }
        XCTAssertEqual(out[0], Float(10 + 2))
        #endif
    }
}
