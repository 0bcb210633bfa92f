import XCTest
final class SaneTestsSmoke: XCTestCase { func testBuilds() {} }
