import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1

/// Test helpers: an `EmbeddedChannel` with the server handshake in its pipeline, and byte-level
/// access to what the handlers write.
struct EmbeddedServer {
    let channel = EmbeddedChannel()
    let outcome: EventLoopFuture<ServerHandshakeOutcome>

    init(configuration: WebSocketConfiguration = .init(),
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
    func receive(_ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        channel.embeddedEventLoop.run()
    }

    func receive(_ text: String) throws {
        try receive(Array(text.utf8))
    }

    /// Everything the handlers wrote so far, concatenated.
    func written() throws -> [UInt8] {
        channel.embeddedEventLoop.run()
        var bytes: [UInt8] = []
        while let part = try channel.readOutbound(as: IOData.self) {
            switch part {
            case .byteBuffer(let buffer): bytes += Array(buffer.readableBytesView)
            case .fileRegion: Issue.recordUnexpectedFileRegion()
            }
        }
        return bytes
    }

    /// Completes a valid upgrade and drops the 101 response.
    func upgrade(path: String = "/") throws -> UpgradedConnection {
        try receive(Self.upgradeRequest(path: path))
        _ = try written()
        guard case .upgraded(let upgraded) = try outcome.wait() else {
            throw TestFailure("the connection was not upgraded")
        }
        return upgraded
    }

    static let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

    static func upgradeRequest(path: String = "/", version: String = "13", extraHeaders: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(sampleKey)\r\nSec-WebSocket-Version: \(version)\r\n\(extraHeaders)\r\n"
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

import Testing

extension Issue {
    static func recordUnexpectedFileRegion() {
        Issue.record("a handler wrote a file region")
    }
}

/// A client frame: masked with `key`, as a browser would send it.
func maskedFrame(fin: Bool = true, opcode: UInt8, payload: [UInt8], key: [UInt8] = [0x11, 0x22, 0x33, 0x44],
                 declaredLength: UInt64? = nil) -> [UInt8] {
    var bytes: [UInt8] = [(fin ? 0x80 : 0) | opcode]
    let length = declaredLength ?? UInt64(payload.count)
    if length < 126 {
        bytes.append(0x80 | UInt8(length))
    } else if length <= 0xFFFF {
        bytes += [0x80 | 126, UInt8(length >> 8), UInt8(length & 0xFF)]
    } else {
        bytes.append(0x80 | 127)
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((length >> UInt64(shift)) & 0xFF)) }
    }
    bytes += key
    for (index, byte) in payload.enumerated() { bytes.append(byte ^ key[index % 4]) }
    return bytes
}

/// A server frame's bytes: unmasked.
func serverFrame(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
    precondition(payload.count < 126)
    return [0x80 | opcode, UInt8(payload.count)] + payload
}

func closePayload(_ code: UInt16, _ reason: String) -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
}
