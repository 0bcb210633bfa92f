// swift-tools-version:6.0
// Experiment, not part of Sane: a packed SGEMM in Swift (6×16 micro-kernel) against OpenBLAS on the
// products of the d-256 SANE step. See ../README.md.
import PackageDescription
let package = Package(name: "PackedGEMM", targets: [
    .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
    .target(name: "CKernel", cSettings: [.unsafeFlags(["-O3"])]),
    .executableTarget(name: "PackedGEMM", dependencies: ["CBLAS", "CKernel"],
                      swiftSettings: [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-target-cpu", "haswell", "-Ounchecked"])]),
], swiftLanguageModes: [.v5])
