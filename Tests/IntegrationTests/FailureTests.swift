import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// A server failing one connection, for a message over its limit or a peer breaking the protocol,
/// and going on serving others.
@Suite(.timeLimit(.minutes(1)))
struct FailureTests {
    /// The server's close outcomes, and a handler that reports each connection's.
    static func recordingEcho() -> (AsyncStream<CloseOutcome>, @Sendable (WebSocket) async throws -> Void) {
        let (outcomes, sink) = AsyncStream.makeStream(of: CloseOutcome.self)
        return (outcomes, { ws in
            for await message in ws.messages { try? await ws.send(message) }
            sink.yield(await ws.closeOutcome)
        })
    }

    /// Checks that the server at `port` still serves: a new client's message comes back.
    static func expectStillServing(port: Int) async throws {
        let reply = try await connect("ws://127.0.0.1:\(port)/again") { ws in
            try await ws.send(text: "still there?")
            var iterator = ws.messages.makeAsyncIterator()
            return await iterator.next()
        }
        #expect(reply == .text("still there?"))
    }

    @Test("a message over the server's limit is refused with 1009 from its header, and the server goes on serving")
    func messageTooBig() async throws {
        let limit = 1024
        let (serverOutcomes, handler) = Self.recordingEcho()
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: limit))
        try await withServer(configuration: configuration, handler: handler) { port in
            // A raw peer that ignores the announced limit: it sends one frame at the limit, then
            // only the header of one a byte over it.
            let (response, echo, close, ended) = try await RawConnection.with(port: port) { connection in
                try await connection.write(upgradeRequest(host: "127.0.0.1:\(port)", path: "/raw"))
                let response = try await connection.readHTTPHead()
                try await connection.write(maskedFrame(opcode: 0x2, payload: Array(pattern(limit).readableBytesView)))
                let echo = try await connection.readFrame()
                try await connection.write(Array(maskedFrame(opcode: 0x2, payload: [], declaredLength: limit + 1)))
                let close = try await connection.readSmallFrame()
                _ = try await connection.readToEnd()
                return (response, echo, close, connection.sawEndOfStream)
            }
            #expect(response.contains("Holdfast-Max-Message-Size: \(limit)\r\n"), "the limit is announced")
            #expect(echo.payload == pattern(limit), "a message at the limit is accepted")
            #expect(close.firstByte == 0x88)
            var payload = close.payload
            #expect(payload.readInteger(as: UInt16.self) == 1009)
            let expected = CloseFrame(code: .messageTooBig, reason: "message exceeds limit of \(limit) bytes")
            #expect(payload.readString(length: payload.readableBytes) == expected.reason)
            #expect(ended, "the server ends the connection")

            let serverOutcome = try await first(of: serverOutcomes, "the failed connection's outcome")
            #expect(serverOutcome.failedByUs)
            #expect(serverOutcome.sent == expected)
            #expect(serverOutcome.code == .messageTooBig)

            try await Self.expectStillServing(port: port)
        }
    }

    /// A frame that breaks RFC 6455 §5, and a word its close reason should name.
    struct Violation: Sendable, CustomTestStringConvertible {
        var name: String
        var frame: [UInt8]
        var reasonMentions: String
        var testDescription: String { name }
    }

    static let violations: [Violation] = [
        // §5.1: a client must mask every frame.
        Violation(name: "unmasked text frame", frame: [0x81, 0x02, 0x68, 0x69], reasonMentions: "mask"),
        // §5.2: RSV1 without a negotiated extension.
        Violation(name: "reserved bit set", frame: [0xC1, 0x80, 1, 2, 3, 4], reasonMentions: "reserved"),
        // §5.2: opcode 0x3 is reserved.
        Violation(name: "reserved opcode", frame: [0x83, 0x80, 1, 2, 3, 4], reasonMentions: "opcode"),
        // §5.5: control frames must not be fragmented.
        Violation(name: "fragmented ping", frame: [0x09, 0x80, 1, 2, 3, 4], reasonMentions: "control"),
        // §5.4: a continuation frame with no message to continue.
        Violation(name: "orphan continuation", frame: [0x80, 0x80, 1, 2, 3, 4], reasonMentions: "continuation"),
    ]

    @Test("a frame-level protocol error from a raw TCP client gets close 1002, and the server goes on",
          arguments: violations)
    func protocolError(_ violation: Violation) async throws {
        let (serverOutcomes, handler) = Self.recordingEcho()
        try await withServer(handler: handler) { port in
            let (response, close, rest, ended) = try await RawConnection.with(port: port) { connection in
                try await connection.write(upgradeRequest(host: "127.0.0.1:\(port)", path: "/raw"))
                let response = try await connection.readHTTPHead()
                try await connection.write(violation.frame)
                let close = try await connection.readSmallFrame()
                let rest = try await connection.readToEnd()
                return (response, close, rest, connection.sawEndOfStream)
            }
            // RFC 6455 §1.3: the accept value for this key.
            #expect(response.hasPrefix("HTTP/1.1 101 "))
            #expect(response.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))

            #expect(close.firstByte == 0x88, "a final, unmasked close frame")
            var payload = close.payload
            #expect(payload.readInteger(as: UInt16.self) == 1002)
            let reason = payload.readString(length: payload.readableBytes) ?? ""
            #expect(reason.lowercased().contains(violation.reasonMentions), "reason: \(reason)")
            #expect(rest.readableBytes == 0, "nothing follows the close frame")
            #expect(ended, "the server closes its side of the connection")

            let serverOutcome = try await first(of: serverOutcomes, "the failed connection's outcome")
            #expect(serverOutcome.failedByUs)
            #expect(serverOutcome.code == .protocolError)
            #expect(serverOutcome.reason == reason)

            try await Self.expectStillServing(port: port)
        }
    }
}
