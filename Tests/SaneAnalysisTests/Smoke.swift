import XCTest
final class SaneAnalysisTestsSmoke: XCTestCase { func testBuilds() {} }
