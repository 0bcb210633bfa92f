import CMPI
import Foundation
import SaneTensor

/// `Communicator` over Open MPI's MPI_COMM_WORLD (the MPI build only: `make mpi`).
///
/// Errors inside MPI calls are fatal (MPI's default handler aborts the job); a failing rank calls
/// `abort`, i.e. MPI_Abort, which makes `mpirun` kill all ranks — a job never hangs on a peer
/// that is gone.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    /// Initializes MPI (once per process). Outside `mpirun` this is a job of one rank.
    public init() {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 { MPI_Init(nil, nil) }
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(sane_mpi_comm_world(), &r)
        MPI_Comm_size(sane_mpi_comm_world(), &s)
        rank = Int(r); size = Int(s)
    }

    /// Shuts MPI down cleanly; call once at normal exit.
    public func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    /// Large buffers go in pieces of at most 2³⁰ elements (MPI counts are Int32).
    private static let piece = 1 << 30

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard size > 1, let base = buffer.baseAddress else { return }
        var lo = 0
        while lo < buffer.count {
            let n = min(Self.piece, buffer.count - lo)
            MPI_Allreduce(sane_mpi_in_place(), base + lo, Int32(n), sane_mpi_float(), sane_mpi_sum(), sane_mpi_comm_world())
            lo += n
        }
    }

    public func allreduce(_ values: inout [Double], _ op: ReductionOperation) {
        guard size > 1, !values.isEmpty else { return }
        let mpiOp: MPI_Op
        switch op {
        case .sum: mpiOp = sane_mpi_sum()
        case .max: mpiOp = sane_mpi_max()
        case .min: mpiOp = sane_mpi_min()
        }
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { b in
            _ = MPI_Allreduce(sane_mpi_in_place(), b.baseAddress, n, sane_mpi_double(), mpiOp, sane_mpi_comm_world())
        }
    }

    public func allgather(_ local: [Float], counts: [Int]) -> [Float] {
        guard size > 1 else { return local }
        precondition(counts.count == size && counts[rank] == local.count, "allgather: counts \(counts) do not match rank \(rank)'s \(local.count) elements")
        let total = counts.reduce(0, +)
        var out = [Float](repeating: 0, count: total)
        var c32 = counts.map { Int32($0) }
        var offsets = [Int32](repeating: 0, count: size)
        for r in 1..<size { offsets[r] = offsets[r - 1] + c32[r - 1] }
        local.withUnsafeBufferPointer { l in
            out.withUnsafeMutableBufferPointer { o in
                _ = MPI_Allgatherv(l.baseAddress, Int32(local.count), sane_mpi_float(),
                                   o.baseAddress, &c32, &offsets, sane_mpi_float(), sane_mpi_comm_world())
            }
        }
        return out
    }

    public func broadcast(_ bytes: [UInt8], root: Int) -> [UInt8] {
        guard size > 1 else { return bytes }
        var count = [Double(bytes.count)]
        count.withUnsafeMutableBufferPointer { b in _ = MPI_Bcast(b.baseAddress, 1, sane_mpi_double(), Int32(root), sane_mpi_comm_world()) }
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count[0]))
        out.withUnsafeMutableBufferPointer { b in _ = MPI_Bcast(b.baseAddress, Int32(b.count), sane_mpi_byte(), Int32(root), sane_mpi_comm_world()) }
        return out
    }

    public func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]? {
        guard size > 1 else { return [bytes] }
        var mine = Int32(bytes.count)
        var counts = [Int32](repeating: 0, count: size)
        counts.withUnsafeMutableBufferPointer { c in
            _ = MPI_Gather(&mine, 1, sane_mpi_int(), c.baseAddress, 1, sane_mpi_int(), Int32(root), sane_mpi_comm_world())
        }
        var offsets = [Int32](repeating: 0, count: size)
        for r in 1..<size { offsets[r] = offsets[r - 1] + counts[r - 1] }
        let total = rank == root ? Int(counts.reduce(0, +)) : 0
        var out = [UInt8](repeating: 0, count: max(total, 1))
        bytes.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { o in
                _ = MPI_Gatherv(b.baseAddress, mine, sane_mpi_byte(), o.baseAddress, &counts, &offsets,
                                sane_mpi_byte(), Int32(root), sane_mpi_comm_world())
            }
        }
        guard rank == root else { return nil }
        return (0..<size).map { r in Array(out[Int(offsets[r])..<Int(offsets[r] + counts[r])]) }
    }

    public func barrier() { if size > 1 { MPI_Barrier(sane_mpi_comm_world()) } }

    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data(((size > 1 ? "rank \(rank)/\(size): " : "") + message + "\n").utf8))
        if size > 1 { MPI_Abort(sane_mpi_comm_world(), code) }
        exit(code)
    }
}
