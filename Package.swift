// swift-tools-version:6.1
import PackageDescription

let strictSwift6: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Holdfast",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "HoldfastCore", targets: ["HoldfastCore"]),
        .library(name: "HoldfastNIO", targets: ["HoldfastNIO"]),
        .library(name: "Holdfast", targets: ["Holdfast"]),
        .library(name: "HoldfastCloseCodes", targets: ["HoldfastCloseCodes"]),
        .library(name: "HoldfastTransfer", targets: ["HoldfastTransfer"]),
        .library(name: "HoldfastChannels", targets: ["HoldfastChannels"]),
        .library(name: "HoldfastPostgres", targets: ["HoldfastPostgres"]),
        .library(name: "HoldfastBrowser", targets: ["HoldfastBrowser"]),
        .library(name: "HoldfastHummingbird", targets: ["HoldfastHummingbird"]),
        .library(name: "HoldfastVapor", targets: ["HoldfastVapor"]),
        .executable(name: "holdfast", targets: ["HoldfastCLI"]),
        .executable(name: "hummingbird-example", targets: ["HummingbirdExample"]),
        .executable(name: "vapor-example", targets: ["VaporExample"]),
    ],
    // The framework adapters are opt-in: without their trait, their modules are empty and
    // neither Hummingbird nor Vapor is built (`swift test` at the root stays as fast as ever).
    traits: [
        .trait(name: "Hummingbird", description: "HoldfastHummingbird: Holdfast WebSockets on routes of a Hummingbird 2 app."),
        .trait(name: "Vapor", description: "HoldfastVapor: Holdfast WebSockets on routes of a Vapor 4 app."),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The embedded on-disk channel store (SQLite, built from the package's own copy).
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        // The cluster's shared store (channels and transfers on PostgreSQL).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // The framework adapters, each behind its trait.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/vapor", from: "4.122.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // `swift package generate-documentation`: the DocC catalogs, built by CI without warnings.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // The system's zlib (permessage-deflate): no package to build, present on every Linux
        // distribution (Debian: zlib1g-dev) and in Apple's SDKs.
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        .target(
            name: "HoldfastCore",
            dependencies: [
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSwift6
        ),
        // What each close code means, when it is seen and how to fix it, in English and Spanish:
        // knowledge for people (the CLI, the pages, error messages), apart from the protocol.
        .target(
            name: "HoldfastCloseCodes",
            dependencies: ["HoldfastCore"],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "HoldfastNIO",
            dependencies: [
                "HoldfastCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "Holdfast",
            dependencies: [
                "HoldfastCore",
                "HoldfastCloseCodes",
                "HoldfastNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // TLS: the settings types, and the handlers put first in each pipeline.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strictSwift6
        ),
        // Chunked, verified, resumable transfers over Holdfast connections: the wire format and
        // its pure bookkeeping in Protocol/, the sender, the receiver and the stores beside it.
        .target(
            name: "HoldfastTransfer",
            dependencies: [
                "Holdfast",
                "HoldfastCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift6
        ),
        // Channels: offset-ordered streams that subscribers resume after any reconnect — the
        // protocol in Protocol/, the stores in Storage/, the server's hub and the client.
        .target(
            name: "HoldfastChannels",
            dependencies: [
                "Holdfast",
                "HoldfastCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        // Several nodes, one stream: the channel store and the transfer storage on PostgreSQL,
        // apart so that a user of one node never builds a PostgreSQL driver.
        .target(
            name: "HoldfastPostgres",
            dependencies: [
                "Holdfast",
                "HoldfastCore",
                "HoldfastChannels",
                "HoldfastTransfer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        // The browser half: holdfast.js (kept as the JavaScript file it is) with the reconnect
        // policy of HoldfastCore embedded when served, and the limits a page can read.
        .target(
            name: "HoldfastBrowser",
            dependencies: [
                "HoldfastCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("holdfast.js")],
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "HoldfastCLI",
            dependencies: [
                "Holdfast",
                "HoldfastCloseCodes",
                "HoldfastTransfer",
                "HoldfastChannels",
                "HoldfastPostgres",
                "HoldfastBrowser",
                // ByteBuffer for binary messages (the chat room, the probe, the status page).
                .product(name: "NIOCore", package: "swift-nio"),
                // Registries shared across event loops (the chat room, the status page's viewers).
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift6
        ),
        // Holdfast inside the frameworks users already run: a Holdfast WebSocket on a route, the
        // framework's own HTTP, middleware and lifecycle around it. Empty without their trait.
        .target(
            name: "HoldfastHummingbird",
            dependencies: [
                "Holdfast",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
                .product(name: "HummingbirdCore", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
                .product(name: "HTTPTypes", package: "swift-http-types", condition: .when(traits: ["Hummingbird"])),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras", condition: .when(traits: ["Hummingbird"])),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras", condition: .when(traits: ["Hummingbird"])),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "HoldfastVapor",
            dependencies: [
                "Holdfast",
                .product(name: "Vapor", package: "vapor", condition: .when(traits: ["Vapor"])),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift6
        ),
        // The apps the README shows, the Autobahn suite runs against and the benchmark measures.
        .executableTarget(
            name: "HummingbirdExample",
            dependencies: [
                "HoldfastHummingbird",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Examples/HummingbirdExample",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "VaporExample",
            dependencies: [
                "HoldfastVapor",
                .product(name: "Vapor", package: "vapor", condition: .when(traits: ["Vapor"])),
            ],
            path: "Examples/VaporExample",
            swiftSettings: strictSwift6
        ),
        // What several test targets share: frame builders, the seeded generator, sample upgrade
        // requests, an embedded server, the process runner and server fixtures.
        .target(
            name: "HoldfastTestSupport",
            dependencies: [
                "HoldfastCore",
                "HoldfastNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/HoldfastTestSupport",
            swiftSettings: strictSwift6
        ),
        // The adapters' tests: real apps on loopback, driven by Holdfast's client. Empty without
        // their trait (`swift test --traits Hummingbird,Vapor` runs them; `.ci/run` does).
        .testTarget(
            name: "HoldfastHummingbirdTests",
            dependencies: [
                "HoldfastHummingbird",
                "Holdfast",
                "HoldfastChannels",
                "HoldfastTransfer",
                "HoldfastTestSupport",
                .product(name: "Hummingbird", package: "hummingbird", condition: .when(traits: ["Hummingbird"])),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "HoldfastVaporTests",
            dependencies: [
                "HoldfastVapor",
                "Holdfast",
                "HoldfastTestSupport",
                .product(name: "Vapor", package: "vapor", condition: .when(traits: ["Vapor"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "HoldfastCoreTests",
            dependencies: ["HoldfastCore", "HoldfastTestSupport"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "HoldfastBrowserTests",
            dependencies: [
                "HoldfastBrowser",
                "HoldfastCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "HoldfastCloseCodesTests",
            dependencies: ["HoldfastCloseCodes", "HoldfastCore"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "HoldfastTransferTests",
            dependencies: ["HoldfastTransfer", "HoldfastTestSupport"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "HoldfastChannelsTests",
            dependencies: [
                "HoldfastChannels",
                "HoldfastTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "HoldfastNIOTests",
            dependencies: [
                "HoldfastNIO",
                "HoldfastTestSupport",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Holdfast",
                "HoldfastCore",
                "HoldfastCloseCodes",
                "HoldfastTransfer",
                "HoldfastChannels",
                "HoldfastPostgres",
                "HoldfastBrowser",
                "HoldfastTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                // TLS versions the tests offer and accept, beyond what the public settings set.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // SHA-256 of what the browser tests upload.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Python"],
            swiftSettings: strictSwift6
        ),
    ]
)
