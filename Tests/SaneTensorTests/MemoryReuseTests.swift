import XCTest
@testable import SaneTensor

/// Buffers reused across training steps: `BufferCache` and kept parameter gradients.
final class MemoryReuseTests: XCTestCase {
    /// A freed large buffer is handed to the next tensor of the same size, which still starts
    /// from its own initial value; small buffers are not kept.
    func testBufferCacheReusesLargeBuffersByExactSize() {
        let n = BufferCache.minimumBytes / 4 * 2
        var first: UnsafeMutablePointer<Float>? = nil
        do {
            let t = Tensor(shape: [n], repeating: 7)
            first = t.storage.pointer
        }
        let kept = BufferCache.take(n * 4)
        XCTAssertEqual(kept.map { UnsafeMutablePointer<Float>(OpaquePointer($0)) }, first, "the freed buffer should be in the cache")
        if let kept { XCTAssertTrue(BufferCache.give(kept, bytes: n * 4)) }
        let zeros = Tensor(zeros: [n])
        XCTAssertEqual(zeros.storage.pointer, first, "a freed buffer of the same size should be reused")
        XCTAssertTrue(zeros.scalars.allSatisfy { $0 == 0 }, "a reused buffer must be initialized")
        let other = Tensor(zeros: [n + 1])
        XCTAssertNotEqual(other.storage.pointer, first)
        XCTAssertFalse(BufferCache.give(UnsafeMutableRawPointer(bitPattern: 64)!, bytes: BufferCache.minimumBytes - 4),
                       "buffers below the minimum are not kept")
    }

    /// `clearGradient` keeps the buffer but the next backward pass starts from zero, like
    /// PyTorch's `zero_grad(set_to_none=True)`.
    func testClearedGradientStartsFromZero() {
        let p = Variable(Tensor(shape: [4], scalars: [1, 2, 3, 4]), requiresGrad: true)
        p.reserveGradient()
        XCTAssertNil(p.grad, "a reserved gradient is not a gradient yet")
        for _ in 0..<3 {
            p.clearGradient()
            XCTAssertNil(p.grad)
            (p * p).sum().backward()
            XCTAssertEqual(p.grad?.scalars, [2, 4, 6, 8])
        }
    }
}
