import XCTest
final class SaneNNTestsSmoke: XCTestCase { func testBuilds() {} }
