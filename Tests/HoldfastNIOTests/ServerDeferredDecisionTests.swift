import HoldfastCore
import HoldfastTestSupport
import HoldfastNIO
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

/// Deferred upgrade decisions (``ServerUpgradeDecider/deferred(_:)``) at the byte level: the
/// connection holds its reads while the server decides, the handshake timeout still runs, and a
/// failed decision gets its HTTP answer.
@Suite("Server handshake with a deferred decision")
struct ServerDeferredDecisionTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// A server whose decisions wait for the test: each request's promise is kept in `pending`.
    final class Decisions: Sendable {
        let pending = NIOLockedValueBox<[(UpgradeRequest, EventLoopPromise<UpgradeDecision<ServerConnectionHandover?>>)]>([])

        var decider: ServerUpgradeDecider {
            .deferred { request, eventLoop in
                let promise = eventLoop.makePromise(of: UpgradeDecision<ServerConnectionHandover?>.self)
                self.pending.withLockedValue { $0.append((request, promise)) }
                return promise.futureResult
            }
        }

        func decide(_ result: Result<UpgradeDecision<ServerConnectionHandover?>, any Error>) throws {
            let promise = try #require(pending.withLockedValue { $0.isEmpty ? nil : $0.removeFirst() }).1
            promise.completeWith(result)
        }
    }

    @Test func readsAreHeldWhileDecidingAndFramesAfterTheRequestWaitForTheUpgrade() throws {
        let decisions = Decisions()
        let server = try EmbeddedServer(adjust: { $0.decider = decisions.decider })
        let reads = ReadCounter()
        try server.channel.pipeline.syncOperations.addHandler(reads, position: .first)
        let request = Array(upgradeRequest(path: "/rooms/7").utf8)
        try server.receive(request + maskedFrame(opcode: 0x9, payload: Array("early".utf8)))
        #expect(decisions.pending.withLockedValue { $0.map(\.0.path) } == ["/rooms/7"])
        // Deciding: nothing answered, and no read reaches the socket.
        let before = reads.count
        server.channel.read()
        #expect(reads.count == before)
        #expect(try server.written() == [])
        try decisions.decide(.success(.accept(nil)))
        let written = try server.written()
        #expect(text(written).hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        // The frame that came with the request is answered once upgraded, and the held read goes on.
        let pong = serverFrame(opcode: 0xA, payload: Array("early".utf8))
        #expect(Array(written.suffix(pong.count)) == pong)
        #expect(reads.count == before + 1)
        guard case .upgraded = try server.outcome.wait() else {
            Issue.record("not upgraded")
            return
        }
    }

    @Test func aRejectionIsAnsweredWithItsStatusAndTheConnectionCloses() throws {
        let decisions = Decisions()
        let server = try EmbeddedServer(adjust: { $0.decider = decisions.decider })
        try server.receive(upgradeRequest())
        try decisions.decide(.success(.reject(status: .unauthorized, reason: "unknown token")))
        let response = text(try server.written())
        #expect(response.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"), "\(response)")
        #expect(response.hasSuffix("\r\n\r\nunknown token\n"), "\(response)")
        #expect(!server.channel.isActive)
    }

    @Test func aFailedDecisionGets500() throws {
        struct LookupFailed: Error {}
        let decisions = Decisions()
        let server = try EmbeddedServer(adjust: { $0.decider = decisions.decider })
        try server.receive(upgradeRequest())
        try decisions.decide(.failure(LookupFailed()))
        let response = text(try server.written())
        #expect(response.hasPrefix("HTTP/1.1 500 Internal Server Error\r\n"), "\(response)")
        #expect(response.hasSuffix("\r\n\r\nthe upgrade could not be decided\n"), "\(response)")
        #expect(!server.channel.isActive)
    }

    @Test func aDecisionSlowerThanTheHandshakeTimeoutGets408AndIsThenIgnored() throws {
        let decisions = Decisions()
        let server = try EmbeddedServer(adjust: {
            $0.decider = decisions.decider
            $0.protections.handshakeTimeout = .seconds(5)
        })
        try server.receive(upgradeRequest())
        server.channel.embeddedEventLoop.advanceTime(by: .milliseconds(4999))
        #expect(try server.written() == [])
        server.channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let response = text(try server.written())
        #expect(response.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(response)")
        #expect(response.hasSuffix("\r\n\r\nthe upgrade was not decided within 5 s\n"), "\(response)")
        #expect(!server.channel.isActive)
        // The decision that comes too late changes nothing.
        try decisions.decide(.success(.accept(nil)))
        #expect(try server.written() == [])
        guard case .notUpgraded = try server.outcome.wait() else {
            Issue.record("upgraded after the 408")
            return
        }
    }

    @Test func aServerThatBeganDrainingWhileDecidingAnswers503() throws {
        let decisions = Decisions()
        let draining = NIOLockedValueBox(false)
        let server = try EmbeddedServer(adjust: {
            $0.decider = decisions.decider
            $0.isDraining = { draining.withLockedValue { $0 } }
        })
        try server.receive(upgradeRequest())
        draining.withLockedValue { $0 = true }
        try decisions.decide(.success(.accept(nil)))
        #expect(text(try server.written()).hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
    }

    @Test func anAcceptedDecisionsHandoverIsCalledAtBothMoments() throws {
        let decisions = Decisions()
        let calls = NIOLockedValueBox<[String]>([])
        let server = try EmbeddedServer(adjust: { $0.decider = decisions.decider })
        try server.receive(upgradeRequest(path: "/alice"))
        let handover = ServerConnectionHandover(
            beforeFirstFrame: { upgraded in calls.withLockedValue { $0.append("before \(upgraded.request.path)") } },
            upgraded: { upgraded in calls.withLockedValue { $0.append("upgraded \(upgraded.request.path)") } })
        try decisions.decide(.success(.accept(handover)))
        _ = try server.written()
        #expect(calls.withLockedValue { $0 } == ["before /alice", "upgraded /alice"])
        guard case .upgraded(let upgraded) = try server.outcome.wait() else {
            Issue.record("not upgraded")
            return
        }
        // Served on the event loop: no inbound sequence was made.
        #expect(upgraded.inbound == nil)
    }
}

/// Counts the reads that pass towards the socket.
private final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    private(set) var count = 0

    func read(context: ChannelHandlerContext) {
        count += 1
        context.read()
    }
}
