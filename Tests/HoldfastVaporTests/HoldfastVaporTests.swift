#if Vapor
import Foundation
import Holdfast
import HoldfastTestSupport
import HoldfastVapor
import NIOCore
import Testing
import Vapor

/// Holdfast WebSockets on routes of a real Vapor app on loopback, driven by Holdfast's client and
/// by raw connections: the upgrade through Vapor's router and middleware (and the bytes a client sends
/// before the 101), the limits, the refusals, what a connection keeps of its request, and an app
/// shutdown that ends every WebSocket with 1001 before Vapor's HTTP server stops.
@Suite("Holdfast in Vapor", .timeLimit(.minutes(3)))
struct HoldfastVaporTests {
    struct User: Authenticatable {
        let name: String
    }

    /// Bearer tokens as a real app would look them up.
    struct Tokens: AsyncBearerAuthenticator {
        func authenticate(bearer: BearerAuthorization, for request: Request) async throws {
            if bearer.token == "alice-token" { request.auth.login(User(name: "Alice")) }
        }
    }

    /// Echoes on the event loop.
    struct Echo: WebSocketEventLoopHandler {
        func received(_ message: WebSocketMessage, on connection: EventLoopWebSocket) {
            try? connection.send(message)
        }
    }

    /// Greets the user its context names, on the event loop.
    struct Greeter: WebSocketEventLoopHandler {
        func connectionOpened(_ connection: EventLoopConnection<String>) {
            try? connection.send(.text("hello, \(connection.context)"))
        }
        func received(_ message: WebSocketMessage, on connection: EventLoopConnection<String>) {}
    }

    static let maxMessageSize = 64 * 1024

    static var configuration: HostedWebSocketConfiguration {
        HostedWebSocketConfiguration(webSocket: WebSocketConfiguration(maxMessageSize: maxMessageSize),
                                     drainTimeout: .seconds(5), shutdownSpread: .seconds(1))
    }

    /// The routes most tests use: echo on the event loop and in a task, the authenticated chat
    /// in both forms, and an ordinary HTTP route.
    static func routes(_ app: Application) {
        app.get { _ in "plain HTTP\n" }
        app.holdfast("echo", handler: Echo())
        app.holdfast("small", configuration: WebSocketConfiguration(maxMessageSize: 1000), handler: Echo())
        app.holdfast("task-echo") { _, ws in
            for await message in ws.messages { try await ws.send(message) }
        }
        let members = app.grouped(Tokens(), User.guardMiddleware())
        members.holdfast("chat") { request, ws in
            let user = try request.auth.require(User.self)
            try await ws.send(text: "hello, \(user.name)")
            for await _ in ws.messages {}
        }
        members.holdfast("greet", handler: Greeter()) { request in try request.auth.require(User.self).name }
        members.holdfast("welcome", context: { request in try request.auth.require(User.self) }) { user, ws in
            try await ws.send(text: "hello, \(user.name)")
            for await _ in ws.messages {}
        }
    }

    @Test("echo on both paths; the 101 announces the limit, negotiates deflate, and has each header once")
    func echo() async throws {
        try await withVaporApp(configuration: Self.configuration, routes: Self.routes) { _, port in
            for path in ["/echo", "/task-echo"] {
                let (reply, headers, compressed) = try await withTimeout("an echo on \(path)") {
                    try await Holdfast.WebSocketClient.connect(to: "ws://127.0.0.1:\(port)\(path)",
                                                               configuration: clientConfiguration()) { ws in
                        try await ws.send(text: "hello over \(path)")
                        var messages = ws.messages.makeAsyncIterator()
                        return (await messages.next()?.text, ws.responseHeaders, ws.compression != nil)
                    }
                }
                #expect(reply == "hello over \(path)")
                #expect(headers["Holdfast-Max-Message-Size"] == ["\(Self.maxMessageSize)"])
                #expect(compressed, "permessage-deflate is negotiated (the default configuration)")
            }

            // The 101 as Vapor writes it: Holdfast's headers, Vapor's date, nothing twice.
            try await withRawConnection(port: port, "the raw 101 and echo") { raw in
                try await raw.write(upgradeRequest(host: "127.0.0.1:\(port)", path: "/echo"))
                let head = try await raw.readHTTPHead()
                #expect(head.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(head)")
                let names = headerNames(head)
                #expect(Set(names).count == names.count, "a header appears twice in the 101:\n\(head)")
                for name in ["upgrade", "connection", "sec-websocket-accept", "holdfast-max-message-size"] {
                    #expect(names.contains(name), "no \(name) in the 101:\n\(head)")
                }
                #expect(head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "\(head)")
                #expect(!names.contains("content-length") && !names.contains("transfer-encoding"), "\(head)")
                try await raw.write(maskedFrame(opcode: 0x1, payload: Array("raw".utf8)))
                let frame = try await raw.readSmallFrame()
                #expect(frame.firstByte == 0x81)
                #expect(Array(frame.payload.readableBytesView) == Array("raw".utf8))
            }
        }
    }

    @Test("frames a client sends before the 101 are served, in order: with its request, and while the route decides",
          arguments: [true, false])
    func framesBeforeTheUpgrade(pipelining: Bool) async throws {
        try await withVaporApp(configuration: Self.configuration, routes: { app in
            // Without NIO's pipelining handler, which stops reading while a request is answered,
            // frames sent during the decision are read at once, into Vapor's upgrade buffer.
            app.http.server.configuration.supportPipelining = pipelining
            app.holdfast("echo", handler: Echo())
            app.holdfast("slow", shouldUpgrade: { _ in
                try await Task.sleep(for: .milliseconds(400))
                return [:]
            }, handler: Echo())
        }) { _, port in
            // In the request's packet: Vapor's HTTP decoder holds them, and forwards them as it
            // leaves the pipeline, before Holdfast's handler is there.
            try await withRawConnection(port: port, "the frames sent with the request") { eager in
                try await eager.write(Array(upgradeRequest(host: "127.0.0.1:\(port)", path: "/echo").utf8)
                                      + maskedFrame(opcode: 0x1, payload: Array("first".utf8))
                                      + maskedFrame(opcode: 0x1, payload: Array("second".utf8)))
                #expect(statusCode(try await eager.readHTTPHead()) == 101)
                #expect(Array(try await eager.readSmallFrame().payload.readableBytesView) == Array("first".utf8))
                #expect(Array(try await eager.readSmallFrame().payload.readableBytesView) == Array("second".utf8))
            }

            // While the route decides: Vapor's upgrade buffer holds them and replays them once
            // Holdfast's handler is in, without a read completion.
            try await withRawConnection(port: port, "the frames sent while the route decides") { early in
                try await early.write(upgradeRequest(host: "127.0.0.1:\(port)", path: "/slow"))
                try await Task.sleep(for: .milliseconds(100))
                try await early.write(maskedFrame(opcode: 0x1, payload: Array("early".utf8)))
                #expect(statusCode(try await early.readHTTPHead()) == 101)
                #expect(Array(try await early.readSmallFrame().payload.readableBytesView) == Array("early".utf8))
                // And the connection goes on as usual.
                try await early.write(maskedFrame(opcode: 0x1, payload: Array("later".utf8)))
                #expect(Array(try await early.readSmallFrame().payload.readableBytesView) == Array("later".utf8))
            }
        }
    }

    @Test("a message over the limit is closed with 1009 naming the limit")
    func messageTooBig() async throws {
        try await withVaporApp(configuration: Self.configuration, routes: Self.routes) { _, port in
            try await withRawConnection(port: port, "the raw 1009") { raw in
                try await raw.write(upgradeRequest(host: "127.0.0.1:\(port)", path: "/echo"))
                #expect(statusCode(try await raw.readHTTPHead()) == 101)
                try await raw.write(maskedFrame(opcode: 0x2, payload: [UInt8](repeating: 7, count: Self.maxMessageSize + 1)))
                let close = try await raw.readSmallFrame()
                #expect(close.firstByte == 0x88)
                let payload = Array(close.payload.readableBytesView)
                let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 0
                let reason = String(decoding: payload.dropFirst(2), as: UTF8.self)
                #expect(code == 1009)
                #expect(reason == CloseFrame.messageTooBigReason(limit: Self.maxMessageSize))
                #expect(reason.contains("\(Self.maxMessageSize)"))
            }

            // Holdfast's client sees the same, over a route whose own limit is smaller.
            let outcome = try await withTimeout("the 1009") {
                try await Holdfast.WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/small",
                                                           configuration: clientConfiguration()) { ws in
                    // Two fragments, each within the limit: only their sum is over it.
                    try await ws.sendFragment(ByteBuffer(repeating: 1, count: 600), of: .binary, isFinal: false)
                    try? await ws.sendFragment(ByteBuffer(repeating: 1, count: 600), of: .binary, isFinal: true)
                    for await _ in ws.messages {}
                    return await ws.closeOutcome
                }
            }
            #expect(outcome.code == .messageTooBig)
            #expect(outcome.received?.reason == CloseFrame.messageTooBigReason(limit: 1000))
        }
    }

    @Test("the auth middleware refuses an upgrade without a token with 401; the handler sees the user")
    func authentication() async throws {
        try await withVaporApp(configuration: Self.configuration, routes: Self.routes) { _, port in
            for path in ["/chat", "/greet", "/welcome"] {
                try await expectRefusal(port: port, path: path, status: .unauthorized, "the refusal on \(path)",
                                        ifUpgraded: "\(path) upgraded without a token")
                try await expectRefusal(port: port, path: path, headers: ["Authorization": "Bearer mallory"],
                                        status: .unauthorized, "the refusal of a wrong token on \(path)",
                                        ifUpgraded: "\(path) upgraded with a wrong token")

                let greeting = try await withTimeout("the greeting on \(path)") {
                    try await Holdfast.WebSocketClient.connect(
                        to: "ws://127.0.0.1:\(port)\(path)",
                        configuration: clientConfiguration(headers: ["Authorization": "Bearer alice-token"])) { ws in
                        var messages = ws.messages.makeAsyncIterator()
                        return await messages.next()?.text
                    }
                }
                #expect(greeting == "hello, Alice")
            }
        }
    }

    /// A weak reference to a request, set on its event loop and read after a round trip.
    final class WeakRequest: @unchecked Sendable {
        private let lock = NSLock()
        private weak var request: Request?
        private var wasSet = false

        func set(_ request: Request) { lock.withLock { self.request = request; wasSet = true } }
        var state: (wasSet: Bool, alive: Bool) { lock.withLock { (wasSet, request != nil) } }
    }

    @Test("the routes with a context keep only it: the Vapor request is freed once upgraded")
    func requestNotKept() async throws {
        let onEventLoop = WeakRequest()
        let inTask = WeakRequest()
        let inTaskWithContext = WeakRequest()
        try await withVaporApp(configuration: Self.configuration, routes: { app in
            app.holdfast("held", handler: Echo()) { request in onEventLoop.set(request) }
            app.holdfast("held-context", context: { request in inTaskWithContext.set(request) }) { _, ws in
                for await message in ws.messages { try await ws.send(message) }
            }
            // The control: a task's handler gets the request, so it is kept while it runs.
            app.holdfast("held-task", shouldUpgrade: { request in
                inTask.set(request)
                return [:]
            }) { _, ws in
                for await message in ws.messages { try await ws.send(message) }
            }
        }) { _, port in
            for (path, weakRequest) in [("/held", onEventLoop), ("/held-context", inTaskWithContext), ("/held-task", inTask)] {
                let state = try await withTimeout("an echo on \(path)") {
                    try await Holdfast.WebSocketClient.connect(to: "ws://127.0.0.1:\(port)\(path)",
                                                               configuration: clientConfiguration()) { ws in
                        try await ws.send(text: "ping")
                        var messages = ws.messages.makeAsyncIterator()
                        _ = await messages.next()
                        // The connection is open and served; Vapor's callbacks for the 101's
                        // write have run by now.
                        return weakRequest.state
                    }
                }
                #expect(state.wasSet)
                if path != "/held-task" {
                    #expect(!state.alive, "the Request of an open connection on \(path) is still referenced")
                } else {
                    #expect(state.alive, "the control: a task's handler holds its request")
                }
            }
        }
    }

    @Test("a plain GET to a WebSocket route gets 426 with the reason; / stays Vapor's HTTP")
    func plainHTTP() async throws {
        try await withVaporApp(configuration: Self.configuration, routes: Self.routes) { _, port in
            try await withRawConnection(port: port, "the 426, then plain HTTP") { raw in
                try await raw.write("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                let head = try await raw.readHTTPHead()
                #expect(statusCode(head) == 426, "\(head)")
                #expect(head.lowercased().contains("\r\nupgrade: websocket\r\n"), "\(head)")
                #expect(head.contains("\r\nSec-WebSocket-Version: 13\r\n"), "\(head)")
                let length = try #require(head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) })
                #expect(String(buffer: try await raw.read(length)) == "this is a WebSocket endpoint\n")

                // The same keep-alive connection still serves plain HTTP.
                try await raw.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                let home = try await raw.readHTTPHead()
                #expect(statusCode(home) == 200, "\(home)")
                #expect(String(buffer: try await raw.readToEnd()) == "plain HTTP\n")
            }

            // A malformed upgrade (no key) gets 400 with its reason.
            try await withRawConnection(port: port, "the 400") { malformed in
                try await malformed.write("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                          + "Sec-WebSocket-Version: 13\r\n\r\n")
                #expect(statusCode(try await malformed.readHTTPHead()) == 400)
            }
        }
    }

    @Test("shouldUpgrade adds headers to the 101, or refuses with 403; the route's subprotocol is selected")
    func shouldUpgrade() async throws {
        try await withVaporApp(configuration: Self.configuration, routes: { app in
            app.holdfast("decided", subprotocol: "chat.v1", shouldUpgrade: { request in
                request.headers.first(name: "X-Let-In") == "yes" ? ["X-Room": "lobby"] : nil
            }, handler: Echo())
        }) { _, port in
            var configuration = clientConfiguration(headers: ["X-Let-In": "yes"])
            configuration.subprotocols = ["chat.v0", "chat.v1"]
            let (headers, subprotocol) = try await withTimeout("the upgrade") { [configuration] in
                try await Holdfast.WebSocketClient.connect(to: "ws://127.0.0.1:\(port)/decided",
                                                           configuration: configuration) { ws in
                    (ws.responseHeaders, ws.subprotocol)
                }
            }
            #expect(headers["X-Room"] == ["lobby"])
            #expect(subprotocol == "chat.v1")
            try await expectRefusal(port: port, path: "/decided", status: .forbidden, "the refusal",
                                    ifUpgraded: "upgraded although shouldUpgrade said nil")
        }
    }

    /// Sees, in the app's shutdown after Holdfast's part and before Vapor stops its HTTP server,
    /// how many WebSockets are still open.
    struct OpenAtHTTPShutdown: LifecycleHandler {
        let seen: AsyncStream<Int>.Continuation

        func shutdownAsync(_ application: Application) async {
            seen.yield(application.holdfast.server.statistics.openConnections)
        }
    }

    @Test("app shutdown with 200 clients: every one gets 1001 with a retry hint, none 1006, well within Vapor's 10 s")
    func shutdownWithManyClients() async throws {
        let count = 200
        let (ready, readySink) = AsyncStream.makeStream(of: Void.self)
        let (ends, endSink) = AsyncStream.makeStream(of: CloseOutcome.self)
        let (openAtHTTPShutdown, openSink) = AsyncStream.makeStream(of: Int.self)
        try await withVaporApp(configuration: Self.configuration, lifecycle: [OpenAtHTTPShutdown(seen: openSink)],
                               routes: Self.routes) { app, port in
            try await withThrowingTaskGroup(of: Void.self) { clients in
                for index in 0..<count {
                    // Half on the event-loop path, half served by tasks of the hosted server's run().
                    let path = index.isMultiple(of: 2) ? "/echo" : "/task-echo"
                    clients.addTask {
                        try await Holdfast.WebSocketClient.connect(to: "ws://127.0.0.1:\(port)\(path)",
                                                                   configuration: clientConfiguration()) { ws in
                            try await ws.send(text: "hello \(index)")
                            var messages = ws.messages.makeAsyncIterator()
                            _ = await messages.next()
                            readySink.yield()
                            while await messages.next() != nil {}
                            endSink.yield(await ws.closeOutcome)
                        }
                    }
                }
                // Every client had its echo. If not, the app is shut down before the error is
                // thrown, so that the connected clients end instead of waiting forever.
                do {
                    _ = try await collect(count, of: ready, "an echo for every client", limit: .seconds(90))
                } catch {
                    try? await app.asyncShutdown()
                    throw error
                }
                #expect(app.holdfast.server.statistics.openConnections == count)

                let started = ContinuousClock.now
                try await withTimeout("the app's shutdown", limit: .seconds(30)) { try await app.asyncShutdown() }
                let took = started.duration(to: .now)
                #expect(took < .seconds(8), "the shutdown took \(took)")
                // Holdfast's lifecycle handler closed them all before Vapor's HTTP server began
                // to stop (its quiesce would otherwise wait for them, up to 10 s).
                #expect(try await collect(1, of: openAtHTTPShutdown, "the open count at the HTTP shutdown") == [0])

                let outcomes = try await collect(count, of: ends, "every client's end")
                #expect(outcomes.count == count)
                let notGoingAway = outcomes.filter { $0.code != .goingAway }
                #expect(notGoingAway.isEmpty, "\(notGoingAway.count) clients saw \(Set(notGoingAway.map(\.description)))")
                #expect(!outcomes.contains { $0.code == .abnormalClosure }, "no client sees 1006")
                #expect(outcomes.allSatisfy { $0.wasClean })
                let hints = outcomes.compactMap { $0.received?.retryHint }
                #expect(hints.count == count, "every 1001 carries a retry hint")
                #expect(outcomes.allSatisfy { $0.received?.reason.hasPrefix("server shutting down") == true })
            }
        }
    }
}
#endif
