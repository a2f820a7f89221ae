import HoldfastCore
import HoldfastNIO
import HoldfastTestSupport
import NIOCore
import NIOEmbedded
import Testing

@Suite("WebSocket handler over EmbeddedChannel")
struct WebSocketChannelHandlerTests {
    /// Found by the server-handshake fuzz target: the outbound queue's drain closure held the
    /// handler, and the handler the queue, so every closed connection of the async API lived on.
    @Test func aClosedConnectionOfTheAsyncAPIIsFreed() throws {
        weak var handler: WebSocketChannelHandler?
        weak var queue: OutboundQueue?
        do {
            let server = try EmbeddedServer()
            let upgraded = try server.upgrade()
            #expect(upgraded.outbound != nil, "the async API's queue")
            handler = upgraded.handler.value
            queue = upgraded.outbound
            try server.receive(maskedFrame(opcode: 0x8, payload: closePayload(1000, "")))
            _ = try server.written()
            #expect(!server.channel.isActive)
        }
        #expect(handler == nil)
        #expect(queue == nil)
    }

    @Test func pingIsAnsweredWithAPongCarryingTheSamePayload() throws {
        let server = try EmbeddedServer()
        _ = try server.upgrade()
        try server.receive(maskedFrame(opcode: 0x9, payload: [1, 2, 3]))
        #expect(try server.written() == serverFrame(opcode: 0xA, payload: [1, 2, 3]))
    }

    @Test func closeIsEchoedAndTheServerClosesTCP() throws {
        let server = try EmbeddedServer()
        let upgraded = try server.upgrade()
        try server.receive(maskedFrame(opcode: 0x8, payload: closePayload(1000, "done")))
        #expect(try server.written() == serverFrame(opcode: 0x8, payload: closePayload(1000, "")))
        #expect(!server.channel.isActive)
        let outcome = try upgraded.handler.value.closeOutcome.wait()
        #expect(outcome.code == .normalClosure)
        #expect(outcome.reason == "done")
        #expect(outcome.wasClean)
    }

    @Test func oversizedFrameIsRefusedFromItsHeaderWith1009() throws {
        let server = try EmbeddedServer(configuration: .init(maxMessageSize: 1 << 20, closeTimeout: .seconds(3)))
        let upgraded = try server.upgrade()
        // Only the header of a frame declaring 2^62 bytes: nothing of the payload is sent.
        let header = Array(maskedFrame(opcode: 0x2, payload: [], declaredLength: 1 << 62))
        try server.receive(header)
        #expect(try server.written() == serverFrame(opcode: 0x8,
                                                    payload: closePayload(1009, "message exceeds limit of 1048576 bytes")))
        // The server shuts its output down after the close frame (EmbeddedChannel models an output
        // shutdown as a full close); on a socket it then reads until the peer's EOF or the timeout.
        #expect(!server.channel.isActive)
        let outcome = try upgraded.handler.value.closeOutcome.wait()
        #expect(outcome.code == .messageTooBig)
        #expect(outcome.reason == "message exceeds limit of 1048576 bytes")
    }

    @Test func protocolErrorIsClosedWith1002AndLaterBytesAreIgnored() throws {
        let server = try EmbeddedServer()
        _ = try server.upgrade()
        // RFC 6455 §5.1: a client frame must be masked.
        try server.receive([0x81, 0x02, 0x68, 0x69])
        #expect(try server.written() == serverFrame(opcode: 0x8, payload: closePayload(1002, "client frame is not masked")))
        try server.receive(maskedFrame(opcode: 0x9, payload: [9]))
        #expect(try server.written() == [])
    }

    @Test func closeInitiatedByTheServerWaitsForTheAnswerThenCloses() throws {
        let server = try EmbeddedServer(configuration: .init(closeTimeout: .seconds(5)))
        let upgraded = try server.upgrade()
        let closed = upgraded.handler.value.close(CloseFrame(code: .goingAway, reason: "restart"))
        #expect(try server.written() == serverFrame(opcode: 0x8, payload: closePayload(1001, "restart")))
        #expect(server.channel.isActive)
        try server.receive(maskedFrame(opcode: 0x8, payload: closePayload(1001, "")))
        #expect(!server.channel.isActive)
        let outcome = try closed.wait()
        #expect(outcome.sent == CloseFrame(code: .goingAway, reason: "restart"))
        #expect(outcome.received == CloseFrame(code: .goingAway))
    }

    @Test func peerThatNeverAnswersACloseIsCutAtTheTimeout() throws {
        let server = try EmbeddedServer(configuration: .init(closeTimeout: .seconds(5)))
        let upgraded = try server.upgrade()
        let closed = upgraded.handler.value.close(CloseFrame(code: .normalClosure))
        _ = try server.written()
        server.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(!server.channel.isActive)
        #expect(try closed.wait().code == .abnormalClosure)
    }

    @Test func sendAfterCloseIsRefused() throws {
        let server = try EmbeddedServer()
        let upgraded = try server.upgrade()
        _ = upgraded.handler.value.close(CloseFrame(code: .normalClosure))
        let send = upgraded.handler.value.send(.text("late"))
        server.channel.embeddedEventLoop.run()
        #expect(throws: WebSocketError.connectionClosing) { try send.wait() }
    }

    @Test func sentMessagesAreBatchedIntoOneFlush() throws {
        let server = try EmbeddedServer()
        let upgraded = try server.upgrade()
        _ = upgraded.handler.value.send(.text("a"))
        _ = upgraded.handler.value.send(.binary([1, 2]))
        // Nothing is flushed until the event loop runs the scheduled flush.
        #expect(try server.channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(try server.written() == serverFrame(opcode: 0x1, payload: [0x61]) + serverFrame(opcode: 0x2, payload: [1, 2]))
    }

    @Test func aMessageSentDuringAFragmentedMessageFollowsItsFinalFragmentAndItsFutureCompletesThen() throws {
        let server = try EmbeddedServer()
        let handler = try server.upgrade().handler.value
        _ = handler.sendFragment(ByteBuffer(string: "ab"), of: .text, isFinal: false)
        let held = handler.send(.binary([1]))
        #expect(try server.written() == [0x01, 0x02] + Array("ab".utf8))
        _ = handler.sendFragment(ByteBuffer(string: "cd"), of: .text, isFinal: true)
        #expect(try server.written() == [0x80, 0x02] + Array("cd".utf8) + serverFrame(opcode: 0x2, payload: [1]))
        try held.wait()
    }

    @Test func aPongSucceedsTheFutureOfItsPingAndOfEveryEarlierOne() throws {
        let server = try EmbeddedServer()
        let handler = try server.upgrade().handler.value
        let first = handler.sendPing(ByteBuffer(bytes: [1]))
        let second = handler.sendPing(ByteBuffer(bytes: [2]))
        let third = handler.sendPing(ByteBuffer(bytes: [3]))
        _ = try server.written()
        try server.receive(maskedFrame(opcode: 0xA, payload: [2]))
        try first.wait()
        try second.wait()
        // The third is still waiting: the connection's end fails it.
        try server.receive(maskedFrame(opcode: 0x8, payload: closePayload(1000, "")))
        #expect(throws: WebSocketError.self) { try third.wait() }
    }

    @Test func theIdleCheckAndKeepaliveTasksEndWithTheConnection() throws {
        let server = try EmbeddedServer(configuration: .init(pingInterval: .seconds(20), pongTimeout: .seconds(5)),
                                        adjust: { $0.protections.idleTimeout = .seconds(30) })
        _ = try server.upgrade()
        try server.receive(maskedFrame(opcode: 0x8, payload: closePayload(1000, "")))
        #expect(try server.written() == serverFrame(opcode: 0x8, payload: closePayload(1000, "")))
        #expect(!server.channel.isActive)
        server.channel.embeddedEventLoop.advanceTime(by: .hours(1))
        #expect(try server.written() == [])
    }
}
