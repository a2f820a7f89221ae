import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Test helpers: an `EmbeddedChannel` with the server handshake in its pipeline, and byte-level
/// access to what the handlers write.
public struct EmbeddedServer {
    /// The channel, with the server handshake in its pipeline, connected from 127.0.0.1:4000.
    public let channel = EmbeddedChannel()
    /// How the handshake ended.
    public let outcome: EventLoopFuture<ServerHandshakeOutcome>

    /// Sets up the handshake with these settings; `adjust` changes what the parameters do not cover.
    public init(configuration: WebSocketConfiguration = .init(),
                shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision<Void>)? = nil,
                plainHTTP: (@Sendable (UpgradeRequest) -> PlainHTTPResponse?)? = nil,
                adjust: (inout ServerHandshakeSettings) -> Void = { _ in }) throws {
        var settings = ServerHandshakeSettings(configuration: configuration, shouldUpgrade: shouldUpgrade,
                                               plainHTTP: plainHTTP, logger: Logger(label: "test"))
        adjust(&settings)
        outcome = try ServerHandshakeHandler.configure(channel, settings: settings)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
    }

    /// Sends raw bytes as if they came from the peer.
    public func receive(_ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        channel.embeddedEventLoop.run()
    }

    /// Sends `text`'s UTF-8 as if it came from the peer.
    public func receive(_ text: String) throws {
        try receive(Array(text.utf8))
    }

    /// Everything the handlers wrote so far, concatenated.
    /// - Throws: ``TestFailure`` if a handler wrote a file region, which none should.
    public func written() throws -> [UInt8] {
        channel.embeddedEventLoop.run()
        var bytes: [UInt8] = []
        while let part = try channel.readOutbound(as: IOData.self) {
            switch part {
            case .byteBuffer(let buffer): bytes += Array(buffer.readableBytesView)
            case .fileRegion: throw TestFailure("a handler wrote a file region")
            }
        }
        return bytes
    }

    /// Completes a valid upgrade and drops the 101 response.
    public func upgrade(path: String = "/") throws -> UpgradedConnection {
        try receive(upgradeRequest(path: path))
        _ = try written()
        guard case .upgraded(let upgraded) = try outcome.wait() else {
            throw TestFailure("the connection was not upgraded")
        }
        return upgraded
    }
}
