import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// Close codes and reasons as each side sees them, Holdfast client to Holdfast server.
@Suite(.timeLimit(.minutes(1)))
struct CloseHandshakeTests {
    @Test("a client closing with 4000 \"bye\": the server's closeOutcome shows it")
    func clientCloses() async throws {
        let (serverOutcomes, sink) = AsyncStream.makeStream(of: CloseOutcome.self)
        try await withServer(handler: { ws in
            for await _ in ws.messages {}
            sink.yield(await ws.closeOutcome)
        }) { port in
            let clientOutcome = try await connect("ws://127.0.0.1:\(port)/") { ws in
                try await ws.send(text: "about to leave")
                return await ws.close(code: CloseCode(4000), reason: "bye")
            }
            #expect(clientOutcome.sent == CloseFrame(code: CloseCode(4000), reason: "bye"))
            #expect(clientOutcome.received?.code == CloseCode(4000))
            #expect(clientOutcome.wasClean)
            #expect(!clientOutcome.failedByUs)

            let serverOutcome = try await first(of: serverOutcomes, "the server's close outcome")
            #expect(serverOutcome.received == CloseFrame(code: CloseCode(4000), reason: "bye"))
            #expect(serverOutcome.code == CloseCode(4000))
            #expect(serverOutcome.reason == "bye")
            #expect(serverOutcome.sent?.code == CloseCode(4000))
            #expect(serverOutcome.wasClean)
            #expect(!serverOutcome.failedByUs)
        }
    }

    @Test("a server handler that returns closes the connection with 1000")
    func handlerReturns() async throws {
        try await withServer(handler: { ws in
            try await ws.send(text: "that is all")
        }) { port in
            let (messages, outcome) = try await connect("ws://127.0.0.1:\(port)/") { ws in
                var messages: [WebSocketMessage] = []
                for await message in ws.messages { messages.append(message) }
                return (messages, await ws.closeOutcome)
            }
            #expect(messages == [.text("that is all")])
            #expect(outcome.received?.code == .normalClosure)
            #expect(outcome.code == .normalClosure)
            #expect(outcome.sent?.code == .normalClosure)
            #expect(outcome.wasClean)
        }
    }

    @Test("a server handler that throws closes the connection with 1011")
    func handlerThrows() async throws {
        struct HandlerFailure: Error {}
        try await withServer(handler: { _ in throw HandlerFailure() }) { port in
            let outcome = try await connect("ws://127.0.0.1:\(port)/") { ws in
                for await _ in ws.messages {}
                return await ws.closeOutcome
            }
            #expect(outcome.code == .internalError)
            #expect(outcome.wasClean)
        }
    }

    @Test("a server closing with 1008 and a reason: the client sees both")
    func serverCloses() async throws {
        let (serverOutcomes, sink) = AsyncStream.makeStream(of: CloseOutcome.self)
        try await withServer(handler: { ws in
            sink.yield(await ws.close(code: .policyViolation, reason: "no loitering"))
        }) { port in
            let outcome = try await connect("ws://127.0.0.1:\(port)/") { ws in
                for await _ in ws.messages {}
                return await ws.closeOutcome
            }
            #expect(outcome.received == CloseFrame(code: .policyViolation, reason: "no loitering"))
            #expect(outcome.code == .policyViolation)
            #expect(outcome.reason == "no loitering")
            #expect(outcome.sent?.code == .policyViolation)
            #expect(outcome.wasClean)

            let serverOutcome = try await first(of: serverOutcomes, "the server's close outcome")
            #expect(serverOutcome.sent == CloseFrame(code: .policyViolation, reason: "no loitering"))
            #expect(serverOutcome.received?.code == .policyViolation)
            #expect(serverOutcome.wasClean)
        }
    }
}
