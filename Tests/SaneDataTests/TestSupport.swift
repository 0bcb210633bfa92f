import Foundation
import SaneTensor
import XCTest

/// The committed fixtures (written by Scripts/fixtures/make_data_fixtures.py).
func fixture(_ name: String) throws -> URL {
    let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures resource missing")
    return dir.appendingPathComponent(name)
}

/// expected.json of the fixtures: file → [(name, shape, values)] in file order.
func expectedFixtureTensors(_ file: String) throws -> [(name: String, shape: [Int], values: [Double])] {
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture("expected.json"))) as! [String: Any]
    let entries = try XCTUnwrap(json[file] as? [[Any]], "expected.json has no \(file)")
    return entries.map { e in
        (e[0] as! String, (e[1] as! [NSNumber]).map(\.intValue), (e[2] as! [NSNumber]).map(\.doubleValue))
    }
}

/// Checks `sd` against the fixture's expected names, order, shapes and values (exact after
/// rounding the reference to Float32).
func assertMatchesExpected(_ sd: StateDict, _ file: String, line: UInt = #line) throws {
    let expected = try expectedFixtureTensors(file)
    XCTAssertEqual(sd.keys, expected.map(\.name), "key order of \(file)", line: line)
    for e in expected {
        let t = try XCTUnwrap(sd[e.name], "\(e.name) missing", line: line)
        XCTAssertEqual(t.shape, e.shape, "shape of \(e.name)", line: line)
        XCTAssertEqual(t.scalars, e.values.map { Float($0) }, "values of \(e.name)", line: line)
    }
}

/// /work/shared (zoos, datasets): `$SANE_SHARED`, else `<repo>/../shared` found from this file.
func sharedDirectory() throws -> URL {
    let env = ProcessInfo.processInfo.environment["SANE_SHARED"]
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let dir = env.map { URL(fileURLWithPath: $0) } ?? repo.appendingPathComponent("../shared").standardizedFileURL
    guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("zoos").path) else {
        throw XCTSkip("shared data not found at \(dir.path); set SANE_SHARED to the folder holding zoos/ and data/")
    }
    return dir
}

/// Asserts that `body` throws a SaneError whose description contains `text`.
func assertSaneError<T>(_ text: String, line: UInt = #line, _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected an error containing \"\(text)\"", line: line)
    } catch let e as SaneError {
        XCTAssertTrue(e.description.contains(text), "error \"\(e)\" does not contain \"\(text)\"", line: line)
    } catch {
        XCTFail("expected a SaneError, got \(error)", line: line)
    }
}
