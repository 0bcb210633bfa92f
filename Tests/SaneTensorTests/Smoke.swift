import XCTest
final class SaneTensorTestsSmoke: XCTestCase { func testBuilds() {} }
