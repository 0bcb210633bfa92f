import Foundation
import Sane
#if SANE_MPI
import SaneMPI
#endif

/// The processes of this job: all ranks of `mpirun` in the MPI build (`make mpi`), otherwise a
/// single process. Commands that use ranks (pretrain) take it from here; rank 0 prints and writes.
/// `nonisolated(unsafe)`: a communicator is not `Sendable` (MPI calls are made from the main thread
/// only: `MPI_Init`, no thread support asked for); this constant is created once and used by that thread alone.
nonisolated(unsafe) let world: Communicator = {
    #if SANE_MPI
    return MPICommunicator()
    #else
    return SingleProcess()
    #endif
}()

/// Commands that divide their work over the ranks of mpirun. Under several ranks any other command
/// stops with a one-line error instead of running N times over the same files.
protocol UsesRanks {}
extension PretrainCommand: UsesRanks {}
extension EmbedCommand: UsesRanks {}
extension ProbeCommand: UsesRanks {}
extension ZooTrainCommand: UsesRanks {}
extension SANEStepBench: UsesRanks {}
extension AllreduceBench: UsesRanks {}

/// Ends MPI cleanly after a successful command (nothing to do without MPI).
func finishWorld() {
    #if SANE_MPI
    (world as? MPICommunicator)?.finalize()
    #endif
}

/// Test hooks of the MPI tests, checked before training starts: SANE_TEST_FAIL_RANK=R makes rank R
/// throw (the job must end with its one message), SANE_TEST_KILL_RANK=R kills rank R with SIGKILL
/// (no MPI_Abort; mpirun must end the job). The other ranks wait in their first collective, where
/// a missing peer would otherwise hang them.
func injectedFailure() throws {
    let env = ProcessInfo.processInfo.environment
    if let r = env["SANE_TEST_KILL_RANK"], Int(r) == world.rank { kill(getpid(), SIGKILL) }
    if let r = env["SANE_TEST_FAIL_RANK"], Int(r) == world.rank {
        throw CommandError("injected failure on rank \(world.rank) (SANE_TEST_FAIL_RANK)")
    }
}
