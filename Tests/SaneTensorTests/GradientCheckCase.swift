import XCTest
@testable import SaneTensor

/// Shared helpers of the finite-difference test suites: seeded parameters and an assertion that
/// prints the worst element on failure.
class GradientCheckCase: XCTestCase {
    var g = SeededGenerator(seed: 1)

    func param(_ shape: [Int], scale: Float = 1, offset: Float = 0) -> Variable {
        Variable(Tensor.normal(shape, mean: offset, std: scale, using: &g), requiresGrad: true)
    }

    func assertGradients(_ name: String, _ inputs: [Variable], step: Float = 1e-2, absolute: Double = 2e-3, relative: Double = 2e-2,
                         maxElements: Int = 64, file: StaticString = #filePath, line: UInt = #line,
                         _ f: @escaping ([Variable]) -> Variable) {
        let r = GradientCheck.check(inputs, step: step, absolute: absolute, relative: relative, maxElements: maxElements, f)
        XCTAssertTrue(r.passed, "\(name): \(r)", file: file, line: line)
    }
}
