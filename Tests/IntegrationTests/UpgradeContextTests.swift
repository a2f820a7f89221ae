import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// Upgrade decisions that hand a context to the connection's handler, over loopback: an `async`
/// token lookup whose user the handler sees, its 401, a decision slower than the handshake
/// timeout (408), one that throws (500), and the same context on the event loop.
@Suite("Upgrade decisions with a context", .timeLimit(.minutes(1)))
struct UpgradeContextTests {
    struct User: Sendable, Equatable {
        var name: String
    }

    /// The sessions a decision looks tokens up in, as a server would in a database.
    actor Sessions {
        private let users = ["token-alice": User(name: "alice"), "token-bob": User(name: "bob")]
        func user(forToken token: String) -> User? { users[token] }
    }

    struct LookupFailed: Error {}

    /// Runs `server` for the duration of `body`, which gets its port; cancelled afterwards.
    private func withRunning<Result: Sendable>(_ server: WebSocketServer,
                                               _ body: (_ port: Int) async throws -> Result) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { group.cancelAll() }
            let address = try await withTimeout("the server to listen") { try await server.listeningAddress }
            return try await body(try #require(address.port))
        }
    }

    private static func configuration(handshakeTimeout: TimeAmount? = .seconds(10)) -> WebSocketServerConfiguration {
        WebSocketServerConfiguration(host: "127.0.0.1", port: 0, webSocket: testWebSocketConfiguration(),
                                     protections: ServerProtections(handshakeTimeout: handshakeTimeout))
    }

    /// A raw upgrade request with `extraHeaders`; returns the answer's head and body.
    private func rawAnswer(port: Int, extraHeaders: String) async throws -> (head: String, body: String) {
        try await RawConnection.with(port: port) { connection in
            try await connection.write("GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                + "Sec-WebSocket-Version: 13\r\n\(extraHeaders)\r\n")
            let head = try await connection.readHTTPHead()
            var rest = try await connection.readToEnd()
            return (head, rest.readString(length: rest.readableBytes) ?? "")
        }
    }

    @Test("an async decision looks the token up: the handler gets the user; an unknown token gets 401")
    func tokenLookup() async throws {
        let sessions = Sessions()
        let server = WebSocketServer(configuration: Self.configuration(), logger: silentLogger,
                                     shouldUpgrade: { request async throws -> UpgradeDecision<User> in
            guard let token = request.headers.first(name: "authorization"),
                  let user = await sessions.user(forToken: token) else {
                return .reject(status: .unauthorized, reason: "unknown token")
            }
            return .accept(user)
        }) { ws, user in
            for await message in ws.messages {
                try await ws.send(text: "\(user.name): \(message.text ?? "")")
            }
        }
        try await withRunning(server) { port in
            let reply = try await connect("ws://127.0.0.1:\(port)/chat", headers: ["Authorization": "token-alice"]) { ws in
                try await ws.send(text: "hi")
                var messages = ws.messages.makeAsyncIterator()
                return await messages.next()?.text
            }
            #expect(reply == "alice: hi")
            let (head, body) = try await rawAnswer(port: port, extraHeaders: "Authorization: token-mallory\r\n")
            #expect(head.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"), "\(head)")
            #expect(body == "unknown token\n")
        }
    }

    @Test("an async decision slower than the handshake timeout gets 408, and the connection closes")
    func slowDecision() async throws {
        // The decision waits for a lookup that never answers; the server's cancellation ends it.
        let (never, _) = AsyncStream.makeStream(of: User.self)
        let server = WebSocketServer(configuration: Self.configuration(handshakeTimeout: .seconds(1)),
                                     logger: silentLogger, shouldUpgrade: { _ async throws -> UpgradeDecision<User> in
            for await user in never { return .accept(user) }
            return .reject(status: .serviceUnavailable, reason: "cancelled")
        }) { _, _ in
            Issue.record("a connection was upgraded")
        }
        try await withRunning(server) { port in
            let (head, body) = try await rawAnswer(port: port, extraHeaders: "")
            #expect(head.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(head)")
            // The timeout runs from the connection's start: on a machine so busy that the request
            // itself took the second, the server was still reading it (the embedded test times
            // the decision's timeout exactly).
            #expect(["the upgrade was not decided within 1 s\n", "no complete request within 1 s\n"].contains(body),
                    "\(body)")
        }
    }

    @Test("a decision that throws gets 500, and the server goes on")
    func throwingDecision() async throws {
        let server = WebSocketServer(configuration: Self.configuration(), logger: silentLogger,
                                     shouldUpgrade: { request async throws -> UpgradeDecision<User> in
            guard request.headers.first(name: "authorization") != nil else { throw LookupFailed() }
            return .accept(User(name: "carol"))
        }) { ws, user in
            try await ws.send(text: user.name)
        }
        try await withRunning(server) { port in
            let (head, body) = try await rawAnswer(port: port, extraHeaders: "")
            #expect(head.hasPrefix("HTTP/1.1 500 Internal Server Error\r\n"), "\(head)")
            #expect(body == "the upgrade could not be decided\n")
            let name = try await connect("ws://127.0.0.1:\(port)/", headers: ["Authorization": "any"]) { ws in
                var messages = ws.messages.makeAsyncIterator()
                return await messages.next()?.text
            }
            #expect(name == "carol")
        }
    }

    /// Greets each connection with its user's name and prefixes every echo with it.
    struct Greeter: WebSocketEventLoopHandler {
        func connectionOpened(_ connection: EventLoopConnection<User>) {
            try? connection.send(.text("welcome \(connection.context.name)"))
        }

        func received(_ message: WebSocketMessage, on connection: EventLoopConnection<User>) {
            try? connection.send(.text("\(connection.context.name): \(message.text ?? "")"))
        }
    }

    @Test("on the event loop, the handler gets the decision's context with every callback, sync or async",
          arguments: [false, true])
    func eventLoopContext(async: Bool) async throws {
        let sessions = Sessions()
        let server = if async {
            WebSocketServer(configuration: Self.configuration(), logger: silentLogger,
                            shouldUpgrade: { request async throws -> UpgradeDecision<User> in
                guard let user = await sessions.user(forToken: request.query ?? "") else {
                    return .reject(status: .unauthorized, reason: "unknown token")
                }
                return .accept(user)
            }, eventLoopHandler: Greeter())
        } else {
            WebSocketServer(configuration: Self.configuration(), logger: silentLogger,
                            shouldUpgrade: { request -> UpgradeDecision<User> in
                request.query == "token-bob" ? .accept(User(name: "bob")) : .reject(status: .unauthorized, reason: "unknown token")
            }, eventLoopHandler: Greeter())
        }
        try await withRunning(server) { port in
            let replies = try await connect("ws://127.0.0.1:\(port)/chat?token-bob") { ws in
                try await ws.send(text: "hi")
                var messages = ws.messages.makeAsyncIterator()
                return [await messages.next()?.text, await messages.next()?.text]
            }
            #expect(replies == ["welcome bob", "bob: hi"])
            let error = await #expect(throws: HandshakeError.self) {
                try await connect("ws://127.0.0.1:\(port)/chat?token-eve") { _ in }
            }
            #expect(error?.status == .unauthorized)
        }
    }
}
