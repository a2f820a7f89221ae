import Foundation
import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// Clients that send fast and never read, against the built `holdfast serve`: the server's
/// memory (its RSS, from /proc) stays flat, the slow reader is closed with 1013, and the other
/// clients are not slowed.
@Suite("slow readers — the outbound budget and backpressure on every frame", .serialized, .timeLimit(.minutes(2)))
struct SlowReaderTests {
    /// A client that upgrades on a plain socket and then never reads.
    static func upgradedNonReader(port: Int) throws -> PlainSocket {
        let socket = try PlainSocket(port: port)
        try socket.sendAll(Array(upgradeRequest(host: "127.0.0.1:\(port)").utf8))
        let head = try socket.readHTTPHead()
        guard head.hasPrefix("HTTP/1.1 101") else { throw PlainSocket.Failure(description: "not upgraded: \(head)") }
        return socket
    }

    @Test("pings as fast as possible, pongs never read: the server stops reading and its memory stays flat")
    func pingFlood() async throws {
        try await ServeProcess.with([]) { server in
            let socket = try Self.upgradedNonReader(port: server.port)
            // 1,000 pings of 125 bytes each per write: 131 KB.
            let pings = (0..<1000).flatMap { _ in maskedFrame(opcode: 0x9, payload: Array(repeating: 0x70, count: 125)) }
            let before = try server.residentBytes()
            var sent = 0
            var offset = 0
            let clock = ContinuousClock()
            let start = clock.now
            while clock.now - start < .seconds(3) {
                let count = socket.sendWithoutWaiting(pings, from: offset)
                offset = (offset + count) % pings.count
                sent += count
                if count == 0 { try await Task.sleep(for: .milliseconds(1)) }
            }
            let after = try server.residentBytes()
            // Once its writes back up, the server reads no more: the flood stops in the sockets'
            // buffers (a few MiB), not in the server's memory. (Before this held, it took
            // hundreds of MiB a second and its RSS grew by as much.)
            #expect(sent < 64 << 20, "the server took \(sent) bytes of pings")
            #expect(after - before < 16 << 20, "RSS grew from \(before) to \(after) bytes")
        }
    }

    @Test("broadcast: a member that never reads is closed with 1013 past its budget; the others get everything, unslowed")
    func slowBroadcastMember() async throws {
        let budget = 1 << 20
        try await ServeProcess.with(["--mode", "broadcast", "--max-backlog", "\(budget)", "--close-timeout", "1"]) { server in
            let slow = try Self.upgradedNonReader(port: server.port)
            let before = try server.residentBytes()
            let count = 200
            let message = WebSocketMessage.binary(ByteBuffer(repeating: 0x42, count: 64 << 10))
            let (readerReady, readerReadySink) = AsyncStream.makeStream(of: Void.self)
            let received = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    try await connect(server.url()) { ws in
                        readerReadySink.yield()
                        var received = 0
                        for await _ in ws.messages {
                            received += 1
                            if received == count { break }
                        }
                        return received
                    }
                }
                _ = try await collect(1, of: readerReady, "the reading member")
                let started = ContinuousClock.now
                try await connect(server.url()) { ws in
                    for _ in 0..<count { try await ws.send(message) }
                }
                let elapsed = ContinuousClock.now - started
                #expect(elapsed < .seconds(20), "sending 200 × 64 KiB took \(elapsed)")
                // The reader ends on its own once it has every message (the suite's time limit
                // guards a hang).
                let received = try await group.next() ?? 0
                group.cancelAll()
                return received
            }
            #expect(received == count)
            let after = try server.residentBytes()
            #expect(after - before < 48 << 20, "RSS grew from \(before) to \(after) bytes")

            // The slow member was cut off: what it can still read ends, and the server says why.
            let drained = slow.drainToEnd(quietSeconds: 10)
            #expect(drained.ended)
            #expect(drained.bytes.count < 12 << 20, "the slow member was sent \(drained.bytes.count) bytes")
            // The server half-closed after its 1013 and closes TCP after the close timeout (1 s):
            // then the close is counted. Bounded: 50 looks, 100 ms apart.
            var page = try await server.get("/")
            for _ in 0..<50 where !page.body.contains("<span class=\"code\">1013</span>") {
                try await Task.sleep(for: .milliseconds(100))
                page = try await server.get("/")
            }
            #expect(page.body.contains("<span id=\"slow\">1</span>"), "\(page.body)")
            #expect(page.body.contains("<span class=\"code\">1013</span>"), "\(page.body)")
        }
    }

    @Test("out of file descriptors, the server pauses accepting instead of spinning a core, and recovers")
    func acceptBackoffWhenOutOfDescriptors() async throws {
        try await ServeProcess.with([], fileDescriptorLimit: 64) { server in
            let before = try server.cpuTime()
            do {
                // More connections than the server has descriptors: the rest wait in the backlog,
                // and each accept the server tries fails with EMFILE.
                let sockets = try (0..<100).map { _ in try PlainSocket(port: server.port) }
                try await Task.sleep(for: .seconds(2))
                let used = try server.cpuTime() - before
                #expect(used < .milliseconds(600), "the server used \(used) of CPU in 2 s at its descriptor limit")
                _ = sockets
            }
            // The connections gone, it accepts again.
            var page: ServeProcess.HTTPResponse?
            for _ in 0..<50 where page == nil {
                page = try? await server.get("/")
                if page == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(page?.status == 200)
        }
    }

    @Test("the async API's sends share the budget: many tasks sending to a peer that never reads fail it with 1013")
    func asyncSendersShareTheBudget() async throws {
        var webSocket = testWebSocketConfiguration()
        webSocket.maxBacklog = 1 << 20
        let (outcomes, outcomeSink) = AsyncStream.makeStream(of: CloseOutcome.self)
        let handler: @Sendable (WebSocket) async throws -> Void = { ws in
            // 100 tasks at once, 64 KiB each: 6.4 MiB for a peer that reads nothing.
            await withTaskGroup(of: Void.self) { senders in
                for _ in 0..<100 {
                    senders.addTask { try? await ws.send(.binary(ByteBuffer(repeating: 0x61, count: 64 << 10))) }
                }
            }
            outcomeSink.yield(await ws.closeOutcome)
        }
        try await withRunningServer(configuration: .init(webSocket: webSocket), handler: handler) { _, port in
            let socket = try Self.upgradedNonReader(port: port)
            let outcome = try await first(of: outcomes, "the slow reader's end", limit: .seconds(30))
            #expect(outcome.code == .tryAgainLater)
            #expect(outcome.reason == "outbound backlog exceeds limit of 1048576 bytes (reading too slowly)")
            _ = socket
        }
    }
}
