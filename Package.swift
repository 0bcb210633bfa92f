// swift-tools-version:6.0
import PackageDescription

/// Release builds compile our own elementwise kernels for Haswell-class x86-64 (AVX2 + FMA): the default
/// x86-64 target has neither, and hot loops run 4–8× slower. `sane` checks the CPU at start-up
/// and refuses to run (with a hint) on a processor without AVX2/FMA instead of dying on SIGILL.
/// Set SANE_PORTABLE=1 when building to get a baseline x86-64 binary.
import Foundation
let portable = ProcessInfo.processInfo.environment["SANE_PORTABLE"] != nil
let cpuFlags: [SwiftSetting] = portable ? [] : [
    .unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-target-cpu", "haswell"],
                 .when(platforms: [.linux], configuration: .release)),
    .define("SANE_NATIVE", .when(platforms: [.linux], configuration: .release)),
]
let fast: [SwiftSetting] = cpuFlags

/// SANE_MPI=1 builds the MPI-enabled `sane` (Open MPI through the system-library target CMPI;
/// `make mpi`, Documentation/Distributed.md). The default build has no MPI dependency at all.
/// An environment switch rather than a package trait: the MPI build must go to its own build
/// folder (`--scratch-path .build/mpi`) anyway, and it matches SANE_PORTABLE.
let mpi = ProcessInfo.processInfo.environment["SANE_MPI"] != nil
let mpiTargets: [Target] = mpi ? [
    .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "mpi-c",
                   providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
    .target(name: "SaneMPI", dependencies: ["CMPI", "SaneTensor"], swiftSettings: fast),
] : []
let cliMPI: [Target.Dependency] = mpi ? ["SaneMPI"] : []
let cliSettings: [SwiftSetting] = fast + (mpi ? [.define("SANE_MPI")] : [])

let package = Package(
    name: "Sane",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Sane", targets: ["Sane"]),
        .executable(name: "sane", targets: ["SaneCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG",
                       providers: [.apt(["libjpeg62-turbo-dev"])]),
        .target(name: "CFMAPeak", path: "Sources/CFMAPeak"),
        .target(name: "CGEMM", path: "Sources/CGEMM"),
        .target(name: "SaneTensor", dependencies: ["CBLAS", "CGEMM"], swiftSettings: fast),
        .target(name: "SaneNN", dependencies: ["SaneTensor"], swiftSettings: fast),
        .target(name: "SaneData", dependencies: ["SaneTensor", "CZlib", "CJPEG"], swiftSettings: fast),
        .target(name: "SaneAnalysis", dependencies: ["CBLAS", "SaneTensor"], swiftSettings: fast),
        .target(name: "Sane", dependencies: ["SaneTensor", "SaneNN", "SaneData", "SaneAnalysis"], swiftSettings: fast),
        .executableTarget(name: "SaneCLI", dependencies: [
            "Sane", "CFMAPeak", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ] + cliMPI, swiftSettings: cliSettings),
    ] + mpiTargets + [
        .testTarget(name: "SaneTensorTests", dependencies: ["SaneTensor", "CFMAPeak", "CGEMM"]),
        .testTarget(name: "SaneNNTests", dependencies: ["SaneNN"], resources: [.copy("Golden")]),
        .testTarget(name: "SaneDataTests", dependencies: ["SaneData"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SaneAnalysisTests", dependencies: ["SaneAnalysis", "SaneTensor"]),
        .testTarget(name: "SaneTests", dependencies: ["Sane"], resources: [.copy("Golden")]),
    ],
    // Swift 6 for every target: complete data-race checking. The process-wide mutable state left
    // is task-local (Parallel.workers, Variable.recording, BLAS.backend/profile, Backends.current,
    // ConvolutionKernels.forcedAlgorithm) or behind a lock (`Locked`: BufferCache, KillPoint,
    // BLAS's thread count and FLOP counter); see issue 12 in BENCHMARKS.md for the speed check.
    swiftLanguageModes: [.v6]
)
