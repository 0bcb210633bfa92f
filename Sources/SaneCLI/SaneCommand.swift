// First, before Foundation re-exports it without: `stdout` is a C global, set up once below
// (`setvbuf`) before any thread starts, which Swift 6's checks for shared mutable state cannot know.
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif
import ArgumentParser
import Foundation
import Sane

/// The `sane` executable: one subcommand per file in this folder.
@main
struct SaneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sane",
        abstract: "Weight-space learning: read model zoos, train SANE, embed, probe and generate models.",
        discussion: """
        A model zoo is a population of trained networks. SANE cuts each network's weights into \
        tokens, trains a transformer autoencoder on them, and uses it to predict properties \
        (accuracy, epoch, generalization gap) from weights and to sample new working models.

        Typical flow:
          sane zoo info ZOO                 what is in a zoo
          sane pretrain --zoo ZOO --out RUN train SANE on it
          sane probe --model RUN --zoo ZOO  predict properties from embeddings
          sane sample --model RUN ...       generate new models
          sane demo                         all of it, on embedded data, in minutes
        """,
        version: saneVersion,
        subcommands: [
            ZooCommand.self, PretrainCommand.self, EmbedCommand.self, ProbeCommand.self, AnalyzeCommand.self,
            SampleCommand.self, FinetuneCommand.self, ReportCommand.self, DemoCommand.self, BenchCommand.self,
        ]
    )
}

extension SaneCommand {
    /// Entry point: refuses to run an AVX2/FMA build on a processor without them (one line and a
    /// hint instead of SIGILL), then parses and runs the command.
    static func main() {
        #if os(Linux) && arch(x86_64) && SANE_NATIVE
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
           !(flags.contains(" avx2") && flags.contains(" fma")) {
            diagnostic("error: this sane was built for x86-64 with AVX2 and FMA, which this processor lacks (hint: rebuild with SANE_PORTABLE=1 swift build -c release)")
            Foundation.exit(1)
        }
        #endif
        setvbuf(stdout, nil, _IOLBF, 0)   // line-buffered stdout, also into files and pipes
        #if SANE_MPI
        // MPI build: every exit goes through MPI_Finalize, and an error on one of several ranks
        // ends all of them (MPI_Abort) — a rank that just exited would leave the others waiting
        // in their next collective.
        do {
            var command = try parseAsRoot(nil)
            if world.size > 1 && !(command is UsesRanks) && type(of: command).configuration.commandName != "help" {   // every rank decides the same; rank 0 says why
                if world.isRoot { diagnostic("Error: `sane \(type(of: command).configuration.commandName ?? "")` runs as one process; start it without mpirun (pretrain, embed, zoo train and the sane-step/allreduce benchmarks use ranks)") }
                finishWorld()
                Foundation.exit(1)
            }
            try command.run()
        } catch {
            if world.size == 1 || exitCode(for: error) == .success { finishWorld(); exit(withError: error) }
            world.abort(fullMessage(for: error), code: exitCode(for: error).rawValue)
        }
        finishWorld()
        #else
        Self.main(nil)
        #endif
    }
}

/// A user-facing failure: printed as one line on stderr, exit code 1.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// Prints a diagnostic line to stderr.
func diagnostic(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}
