// swift-tools-version:6.1
// libFuzzer targets for Holdfast's parsers (the frame and connection state machine, the server
// handshake, the transfer messages). A separate package so that the root package's `swift test`
// and CI never build it: every target needs `-sanitize=fuzzer`, which plain builds do not pass.
// Build and run: scripts/fuzz.sh (see scripts/fuzz.sh --help for the exact commands).
import PackageDescription

let package = Package(
    name: "HoldfastFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Holdfast", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The declaration of libFuzzer's driver (see its header for why the targets call it).
        .target(name: "CLibFuzzer"),
        // What the targets share: a bounded configuration, draining a machine, failing loudly.
        .target(
            name: "FuzzSupport",
            dependencies: [
                "CLibFuzzer",
                .product(name: "HoldfastCore", package: "Holdfast"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // (a) Frames from a peer through a server's ConnectionStateMachine, no compression.
        .executableTarget(
            name: "FuzzFrames",
            dependencies: [
                "FuzzSupport",
                .product(name: "HoldfastCore", package: "Holdfast"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // (b) The same with permessage-deflate agreed; the first byte picks role and parameters.
        .executableTarget(
            name: "FuzzDeflateFrames",
            dependencies: [
                "FuzzSupport",
                .product(name: "HoldfastCore", package: "Holdfast"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // (c) The bytes as an HTTP upgrade request through ServerHandshakeHandler.
        .executableTarget(
            name: "FuzzServerHandshake",
            dependencies: [
                "FuzzSupport",
                .product(name: "HoldfastCore", package: "Holdfast"),
                .product(name: "HoldfastNIO", package: "Holdfast"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // (d) TransferMessage decoding, and encode(decode(x)) decoding to the same value.
        .executableTarget(
            name: "FuzzTransferMessage",
            dependencies: [
                "FuzzSupport",
                .product(name: "HoldfastTransfer", package: "Holdfast"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ]
)
