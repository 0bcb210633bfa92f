import XCTest
final class SaneDataTestsSmoke: XCTestCase { func testBuilds() {} }
