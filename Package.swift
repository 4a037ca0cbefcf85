// swift-tools-version:6.0
import PackageDescription

// Dependencies point one way: polyarchiv → Planner → Stages → Pipeline.
let package = Package(
    name: "polyarchiv",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "polyarchiv", targets: ["polyarchiv"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .systemLibrary(name: "CGit2", pkgConfig: "libgit2", providers: [.apt(["libgit2-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        // glibc's <sys/xattr.h>, which the Glibc module leaves out.
        .systemLibrary(name: "CLinux"),
        .target(name: "Pipeline", dependencies: [
            "CLinux",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "Stages", dependencies: [
            "Pipeline", "CLinux", "CGit2", "CCurl", "CArchive",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .target(name: "Planner", dependencies: ["Stages", "Pipeline", .product(name: "Yams", package: "Yams")]),
        .executableTarget(name: "polyarchiv", dependencies: [
            "Planner", "Stages", "Pipeline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // What every test target shares: temporary directories removed when a test ends, the binary, the servers.
        .target(name: "TestSupport", dependencies: ["Pipeline"], path: "Tests/TestSupport"),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "TestSupport"]),
        .testTarget(name: "StagesTests", dependencies: ["Stages", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "PlannerTests", dependencies: ["Planner", "Stages", "Pipeline", "TestSupport"],
                    exclude: ["BrokenConfigs"]),
        .testTarget(name: "CLITests", dependencies: ["polyarchiv", "TestSupport"], exclude: ["Golden"]),
    ],
    swiftLanguageModes: [.v6]
)
