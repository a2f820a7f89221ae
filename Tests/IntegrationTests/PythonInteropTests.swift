import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// Interop with Python's `websockets` as the independent peer (`Python/peer.py`), both ways.
/// The peer runs in a virtual environment set up on first use (see ``PythonEnvironment``).
@Suite(.timeLimit(.minutes(2)))
struct PythonInteropTests {
    /// What a Holdfast server handler saw of one connection.
    struct ServerReport: Sendable {
        var subprotocol: String?
        var compression: PerMessageDeflateParameters?
        var messages: [WebSocketMessage]
        var outcome: CloseOutcome
    }

    /// A server handler that echoes every message and reports what it received and how it ended.
    static func reportingEcho() -> (AsyncStream<ServerReport>, @Sendable (WebSocket) async throws -> Void) {
        let (reports, sink) = AsyncStream.makeStream(of: ServerReport.self)
        return (reports, { ws in
            var messages: [WebSocketMessage] = []
            for await message in ws.messages {
                messages.append(message)
                try? await ws.send(message)
            }
            sink.yield(ServerReport(subprotocol: ws.subprotocol, compression: ws.compression, messages: messages,
                                    outcome: await ws.closeOutcome))
        })
    }

    static func hex(_ bytes: [UInt8]) -> JSON {
        .string(bytes.map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined())
    }

    /// A close report of peer.py for a frame.
    static func frame(_ code: Int, _ reason: String) -> JSON {
        ["code": .number(Double(code)), "reason": .string(reason)]
    }

    // MARK: - websockets client, Holdfast server

    @Test("websockets client ↔ Holdfast server, compressed: text, binary, fragmented, large, ping, close 4001")
    func pythonClient() async throws {
        let (reports, handler) = Self.reportingEcho()
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(),
                                                         subprotocols: ["holdfast.test"])
        try await withServer(configuration: configuration, handler: handler) { port in
            try await PythonPeer.with(["client", "ws://127.0.0.1:\(port)/interop", "other", "holdfast.test"]) { peer in
                let open = try await peer.next("the client's open event")
                #expect(open["subprotocol"] == "holdfast.test")
                // websockets offers permessage-deflate by default; the server accepts it.
                #expect(open["extensions"]?.string == "permessage-deflate")

                try await peer.call(["op": "send", "text": "héllo from python ✓"])
                let text = try await peer.call(["op": "recv"])
                #expect(text["type"] == "text")
                #expect(text["data"] == "héllo from python ✓")

                try await peer.call(["op": "send", "binary": Self.hex([0x00, 0x01, 0x7F, 0x80, 0xFF])])
                let binary = try await peer.call(["op": "recv"])
                #expect(binary["type"] == "binary")
                #expect(binary["data"] == Self.hex([0x00, 0x01, 0x7F, 0x80, 0xFF]))

                try await peer.call(["op": "send", "fragments": ["frag", "ment", "ed ✓"]])
                let fragmented = try await peer.call(["op": "recv"])
                #expect(fragmented["type"] == "text")
                #expect(fragmented["data"] == "fragmented ✓")

                try await peer.call(["op": "send", "binaryFragments": [Self.hex([1, 2]), "", Self.hex([3, 0xFF])]])
                let binaryFragments = try await peer.call(["op": "recv"])
                #expect(binaryFragments["type"] == "binary")
                #expect(binaryFragments["data"] == Self.hex([1, 2, 3, 0xFF]))

                try await peer.call(["op": "send", "pattern": 600_000])
                let large = try await peer.call(["op": "recv"])
                #expect(large["type"] == "binary")
                #expect(large["length"] == 600_000)
                #expect(large["pattern"] == true)

                #expect(try await peer.call(["op": "ping"])["pong"] == true)

                let close = try await peer.call(["op": "close", "code": 4001, "reason": "python says bye"])
                #expect(close["sent"] == Self.frame(4001, "python says bye"))
                #expect(close["received"]?["code"] == 4001)
            }
            let report = try await first(of: reports, "the server's report")
            #expect(report.subprotocol == "holdfast.test")
            #expect(report.compression != nil)
            #expect(report.messages == [
                .text("héllo from python ✓"),
                .binary([0x00, 0x01, 0x7F, 0x80, 0xFF]),
                .text("fragmented ✓"),
                .binary([1, 2, 3, 0xFF]),
                .binary(pattern(600_000)),
            ])
            #expect(report.outcome.received == CloseFrame(code: CloseCode(4001), reason: "python says bye"))
            #expect(report.outcome.code == CloseCode(4001))
            #expect(report.outcome.wasClean)
        }
    }

    @Test("websockets client sees the Holdfast server's close code and reason")
    func holdfastServerCloses() async throws {
        let (outcomes, sink) = AsyncStream.makeStream(of: CloseOutcome.self)
        try await withServer(handler: { ws in
            try await ws.send(text: "closing now")
            sink.yield(await ws.close(code: CloseCode(4002), reason: "holdfast says bye"))
        }) { port in
            try await PythonPeer.with(["client", "ws://127.0.0.1:\(port)/"]) { peer in
                _ = try await peer.next("the client's open event")
                let text = try await peer.call(["op": "recv"])
                #expect(text["data"] == "closing now")
                let closed = try await peer.call(["op": "recv"])
                #expect(closed["type"] == "closed")
                #expect(closed["received"] == Self.frame(4002, "holdfast says bye"))
            }
            let outcome = try await first(of: outcomes, "the server's close outcome")
            #expect(outcome.sent == CloseFrame(code: CloseCode(4002), reason: "holdfast says bye"))
            #expect(outcome.received?.code == CloseCode(4002))
            #expect(outcome.wasClean)
        }
    }

    @Test("websockets client sees 1000 when the Holdfast server's handler returns")
    func holdfastHandlerReturns() async throws {
        try await withServer(handler: { _ in }) { port in
            try await PythonPeer.with(["client", "ws://127.0.0.1:\(port)/"]) { peer in
                _ = try await peer.next("the client's open event")
                let closed = try await peer.call(["op": "recv"])
                #expect(closed["type"] == "closed")
                #expect(closed["received"] == Self.frame(1000, ""))
            }
        }
    }

    @Test("a fragmented message from websockets over the server's limit gets 1009")
    func fragmentedMessageTooBig() async throws {
        let (reports, handler) = Self.reportingEcho()
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: 1000))
        try await withServer(configuration: configuration, handler: handler) { port in
            try await PythonPeer.with(["client", "ws://127.0.0.1:\(port)/"]) { peer in
                _ = try await peer.next("the client's open event")
                // Each fragment is within the limit; together they are not.
                try await peer.call(["op": "send", "fragments": [.string(String(repeating: "a", count: 600)),
                                                                 .string(String(repeating: "b", count: 600))]])
                let closed = try await peer.call(["op": "recv"])
                #expect(closed["type"] == "closed")
                #expect(closed["received"] == Self.frame(1009, "message exceeds limit of 1000 bytes"))
            }
            let report = try await first(of: reports, "the server's report")
            #expect(report.messages.isEmpty)
            #expect(report.outcome.failedByUs)
            #expect(report.outcome.sent == CloseFrame(code: .messageTooBig, reason: "message exceeds limit of 1000 bytes"))
        }
    }

    // MARK: - Holdfast client, websockets server

    @Test("Holdfast client ↔ websockets server, compressed: text, binary, fragmented, large, ping, close 4000")
    func pythonServer() async throws {
        try await PythonPeer.with(["server", "holdfast.test"]) { peer in
            let listening = try await peer.next("the server's listening event")
            let port = try #require(listening["port"]?.int)
            let outcome = try await connect("ws://127.0.0.1:\(port)/interop?from=holdfast",
                                            subprotocols: ["other", "holdfast.test"],
                                            headers: ["X-Test": "yes"]) { ws in
                #expect(ws.subprotocol == "holdfast.test")
                // websockets accepts the offer and limits both windows to 12 bits by default.
                #expect(ws.compression == PerMessageDeflateParameters(ownMaxWindowBits: 12, peerMaxWindowBits: 12))
                let open = try await peer.next("the server's open event")
                #expect(open["extensions"]?.string?.hasPrefix("permessage-deflate") == true)
                #expect(open["path"] == "/interop?from=holdfast")
                #expect(open["headers"]?["x-test"] == "yes")
                #expect(open["subprotocol"] == "holdfast.test")

                let greeting = "héllo from swift ✓"
                try await ws.send(text: greeting)
                #expect(try await peer.call(["op": "recv"])
                    == ["type": "text", "length": .number(Double(greeting.utf8.count)), "data": .string(greeting)])
                try await ws.send(.binary([0x00, 0x01, 0x02, 0xFF]))
                let binary = try await peer.call(["op": "recv"])
                #expect(binary["type"] == "binary")
                #expect(binary["data"] == Self.hex([0x00, 0x01, 0x02, 0xFF]))
                try await ws.send(.binary(pattern(2 << 20)))
                let large = try await peer.call(["op": "recv"])
                #expect(large["length"] == .number(Double(2 << 20)))
                #expect(large["pattern"] == true)

                try await peer.call(["op": "send", "text": "from python"])
                try await peer.call(["op": "send", "binary": Self.hex([9, 8, 7])])
                try await peer.call(["op": "send", "fragments": ["frag", "ment", "ed ✓"]])
                try await peer.call(["op": "send", "binaryFragments": [Self.hex([1]), Self.hex([2, 3])]])
                try await peer.call(["op": "send", "pattern": 700_000])
                var received: [WebSocketMessage] = []
                for await message in ws.messages {
                    received.append(message)
                    if received.count == 5 { break }
                }
                #expect(received == [
                    .text("from python"),
                    .binary([9, 8, 7]),
                    .text("fragmented ✓"),
                    .binary([1, 2, 3]),
                    .binary(pattern(700_000)),
                ])

                #expect(try await peer.call(["op": "ping"])["pong"] == true)

                let outcome = await ws.close(code: CloseCode(4000), reason: "bye")
                let serverSide = try await peer.call(["op": "wait_closed"])
                #expect(serverSide["received"] == Self.frame(4000, "bye"))
                return outcome
            }
            #expect(outcome.sent == CloseFrame(code: CloseCode(4000), reason: "bye"))
            #expect(outcome.received == CloseFrame(code: CloseCode(4000), reason: "bye"))
            #expect(outcome.wasClean)
        }
    }

    @Test("Holdfast client sees the websockets server's close code and reason")
    func pythonServerCloses() async throws {
        try await PythonPeer.with(["server"]) { peer in
            let port = try #require(try await peer.next("the server's listening event")["port"]?.int)
            let outcome = try await connect("ws://127.0.0.1:\(port)/") { ws in
                _ = try await peer.next("the server's open event")
                let report = try await peer.call(["op": "close", "code": 4003, "reason": "python server bye"])
                #expect(report["sent"] == Self.frame(4003, "python server bye"))
                #expect(report["received"]?["code"] == 4003)
                for await _ in ws.messages {}
                return await ws.closeOutcome
            }
            #expect(outcome.received == CloseFrame(code: CloseCode(4003), reason: "python server bye"))
            #expect(outcome.code == CloseCode(4003))
            #expect(outcome.reason == "python server bye")
            #expect(outcome.wasClean)
        }
    }

    @Test("Holdfast client sees 1000 when the websockets server's handler returns")
    func pythonHandlerReturns() async throws {
        try await PythonPeer.with(["server"]) { peer in
            let port = try #require(try await peer.next("the server's listening event")["port"]?.int)
            let outcome = try await connect("ws://127.0.0.1:\(port)/") { ws in
                _ = try await peer.next("the server's open event")
                #expect(try await peer.call(["op": "return"]) == ["returned": true])
                for await _ in ws.messages {}
                return await ws.closeOutcome
            }
            #expect(outcome.received?.code == .normalClosure)
            #expect(outcome.code == .normalClosure)
            #expect(outcome.wasClean)
        }
    }
}
