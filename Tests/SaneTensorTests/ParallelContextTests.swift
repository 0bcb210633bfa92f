@testable import SaneTensor
import Foundation
import XCTest

/// Parallel regions run their bodies on Dispatch worker threads, which do not see the caller's
/// task-local settings by themselves: `Parallel.forEach` and `Parallel.jobs` must hand over the
/// backend, gradient recording, GEMM and convolution choices, and mark the workers as inside a
/// region; and the settings must be scoped, not process-wide.
/// What a thread sees: backend name, recording, GEMM backend, forced convolution, isBusy.
private struct Seen: Equatable, Sendable {
    var backend = "", recording = true, gemm = GEMMBackend.auto, convolution: ConvolutionAlgorithm?, busy = false
}

private func seen() -> Seen {
    Seen(backend: Backends.current.name, recording: Variable.recording, gemm: BLAS.backend,
         convolution: ConvolutionKernels.forcedAlgorithm, busy: Parallel.isBusy)
}

final class ParallelContextTests: XCTestCase {
    func testRegionsCarryTheCallersSettings() {
        let expected = Seen(backend: "reference", recording: false, gemm: .openblas, convolution: .im2col, busy: true)
        for jobs in [false, true] {
            var observed = [Seen](repeating: Seen(), count: 4)
            observed.withUnsafeMutableBufferPointer { out in
                let base = out.baseAddress!
                Parallel.$workers.withValue(2) {
                    Backends.using(ReferenceBackend()) { Variable.withoutGradients {
                        BLAS.$backend.withValue(.openblas) { ConvolutionKernels.$forcedAlgorithm.withValue(.im2col) {
                            if jobs { Parallel.jobs(4) { base[$0] = seen() } } else { Parallel.forEach(4) { base[$0] = seen() } }
                        } }
                    } }
                }
            }
            XCTAssertEqual(observed, Array(repeating: expected, count: 4), jobs ? "jobs" : "forEach")
        }
        XCTAssertEqual(seen(), Seen(backend: "cpu", recording: true, gemm: BLAS.backend, convolution: nil, busy: false))
    }

    /// A thread outside any region (here a plain Dispatch thread started while the caller is
    /// inside `withoutGradients` and a `forEach`) sees the defaults: no setting leaks across threads.
    func testSettingsAreNotProcessWide() {
        let other = Locked(Seen())
        Variable.withoutGradients {
            Parallel.$workers.withValue(2) {
                Parallel.forEach(2) { i in
                    guard i == 0 else { return }
                    let done = DispatchSemaphore(value: 0)
                    Thread.detachNewThread { let s = seen(); other.withLock { $0 = s }; done.signal() }
                    done.wait()
                }
            }
        }
        let seenThere = other.withLock { $0 }
        XCTAssertTrue(seenThere.recording, "withoutGradients leaked to another thread")
        XCTAssertFalse(seenThere.busy, "a parallel region marked another thread busy")
        // the graph is recorded again after the scope
        let x = Variable(Tensor(shape: [2], scalars: [1, 2]), requiresGrad: true)
        XCTAssertTrue((x * x).requiresGrad)
        XCTAssertFalse(Variable.withoutGradients { (x * x).requiresGrad })
    }
}
