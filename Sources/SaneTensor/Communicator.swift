import Foundation

/// The processes of a data-parallel job and the collective operations between them (the subset
/// of MPI that training, embedding and zoo training need). Domain code talks to this protocol
/// only; `SingleProcess` is always available, the Open MPI implementation (`MPICommunicator`,
/// module SaneMPI) exists only in the MPI build (`make mpi`).
///
/// Every collective must be called by all ranks in the same order with matching sizes; a rank
/// that fails calls `abort`, which ends the whole job instead of leaving the others waiting.
public protocol Communicator: AnyObject {
    /// This process's index, 0..<size. Rank 0 writes files.
    var rank: Int { get }
    /// Number of processes in the job.
    var size: Int { get }
    /// Element-wise sum over all ranks, in place; every rank receives the same result.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    /// Element-wise reduction of Doubles over all ranks, in place.
    func allreduce(_ values: inout [Double], _ op: ReductionOperation)
    /// Concatenation of every rank's `local` in rank order; `counts[r]` elements come from rank r.
    func allgather(_ local: [Float], counts: [Int]) -> [Float]
    /// Rank `root`'s bytes on every rank.
    func broadcast(_ bytes: [UInt8], root: Int) -> [UInt8]
    /// Every rank's bytes, in rank order, on `root` (nil on the other ranks).
    func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]?
    /// Returns once all ranks have called it.
    func barrier()
    /// Ends every rank of the job with `message` on stderr and exit code `code`.
    func abort(_ message: String, code: Int32) -> Never
}

/// Reductions `Communicator.allreduce` offers.
public enum ReductionOperation: Sendable { case sum, max, min }

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Every rank's `part`, in rank order, on every rank (JSON through `gather` + `broadcast`;
    /// non-finite floats survive as strings). For results collected once per command, not per step.
    public func allGathered<T: Codable>(_ part: T) throws -> [T] {
        guard size > 1 else { return [part] }
        let encoder = SaneJSON.encoder(pretty: false), decoder = SaneJSON.decoder()
        let mine = [UInt8](try encoder.encode(part))
        let all = try gather(mine, root: 0).map { parts in
            [UInt8](try encoder.encode(try parts.map { try decoder.decode(T.self, from: Data($0)) }))
        } ?? []
        return try decoder.decode([T].self, from: Data(broadcast(all, root: 0)))
    }

    /// Rows `lo..<hi` of `total` rows that this rank takes: the contiguous block
    /// [⌊r·total/size⌋, ⌊(r+1)·total/size⌋) — sizes differ by at most one, rank order is row order.
    public func share(of total: Int) -> Range<Int> { Self.share(of: total, rank: rank, size: size) }

    public static func share(of total: Int, rank: Int, size: Int) -> Range<Int> {
        (rank * total / size)..<((rank + 1) * total / size)
    }

    /// Runs `body` on rank 0 only; the other ranks wait at a barrier. A failure on rank 0 aborts
    /// the job (the others could not learn of it otherwise).
    public func onRoot(_ what: String, _ body: () throws -> Void) {
        if rank == 0 {
            do { try body() } catch { abort("error: \(what): \(error)", code: 1) }
        }
        if size > 1 { barrier() }
    }
}

/// One process, no peers: collectives are identities. The default everywhere.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    public func allreduce(_ values: inout [Double], _ op: ReductionOperation) {}
    public func allgather(_ local: [Float], counts: [Int]) -> [Float] { local }
    public func broadcast(_ bytes: [UInt8], root: Int) -> [UInt8] { bytes }
    public func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]? { [bytes] }
    public func barrier() {}
    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(code)
    }
}
