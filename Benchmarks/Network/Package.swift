// swift-tools-version:6.1
// Whole-server benchmarks over loopback with permessage-deflate and TLS, which the neutral
// harness in ../shared/bench (plain ws:// only) cannot measure: a load generator (`netload`)
// and a Hummingbird peer (`hb-echo-deflate`). A separate package so that neither the root
// package's `swift test`/CI nor the in-process benchmarks (../Package.swift) build Hummingbird.
// Run: scripts/bench-deflate-tls.sh (from the repository root).
// Also `channel-store-bench`, publishes per second into the channel stores by batch size:
// swift run -c release channel-store-bench (from this folder).
import PackageDescription

let package = Package(
    name: "HoldfastNetworkBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Holdfast", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
    ],
    targets: [
        // The system's zlib, to precompress the load generator's messages once and to inflate a
        // sample of the echoes. (HoldfastCore's compressor is internal to it.)
        .systemLibrary(name: "BenchZlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .executableTarget(
            name: "netload",
            dependencies: [
                "BenchZlib",
                .product(name: "HoldfastCore", package: "Holdfast"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // `channel-load`: fan-out latency and replay rate of `holdfast serve --mode channels`
        // (scripts/bench-channels.sh), through the library's own client and channels messages.
        .executableTarget(
            name: "channel-load",
            dependencies: [
                .product(name: "Holdfast", package: "Holdfast"),
                .product(name: "HoldfastChannels", package: "Holdfast"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Publishes per second into the channel stores (in memory, SQLite, PostgreSQL) by batch
        // size, and the PostgreSQL store's append statement for pgbench.
        .executableTarget(
            name: "channel-store-bench",
            dependencies: [
                .product(name: "HoldfastChannels", package: "Holdfast"),
                .product(name: "HoldfastPostgres", package: "Holdfast"),
                .product(name: "HoldfastCore", package: "Holdfast"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "hb-echo-deflate",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSCompression", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
