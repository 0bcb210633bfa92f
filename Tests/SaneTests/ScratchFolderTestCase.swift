import Foundation
import XCTest

/// A test case whose every test gets a fresh empty folder `scratch`
/// (`sane-CLASS-UUID` in the temporary directory), removed after the test.
class ScratchFolderTestCase: XCTestCase {
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("sane-\(type(of: self))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: scratch) }
}
