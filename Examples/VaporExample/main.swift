// Holdfast WebSockets on routes of a Vapor 4 app: Vapor listens, speaks HTTP and runs the
// middleware; Holdfast serves the WebSockets and ends them with 1001 when the app shuts down.
//
//   swift run --traits Vapor vapor-example --port 8080     (or PORT=8080; 0 picks a free port)
//
// Routes: `/` echoes every message on the event-loop fast path (what the Autobahn suite and the
// benchmark connect to; a plain GET gets 426), `/chat` greets the user a bearer token names
// (`Authorization: Bearer alice-token`) and echoes with their name, `/about` is plain HTTP
// (Vapor's). Prints `listening on ws://HOST:PORT` once bound; SIGTERM or SIGINT shuts down:
// every WebSocket gets 1001 (spread over a second, with a retry hint), then Vapor's HTTP server
// stops. `THREADS=N` sets the event-loop threads (default one per core); `--log warning` quiets
// the request log.
#if Vapor
import Foundation
import Holdfast
import HoldfastVapor
import Vapor

/// Who a bearer token names.
struct User: Authenticatable {
    let name: String
}

/// The demo's tokens; a real app looks them up in its database.
struct DemoTokenAuthenticator: AsyncBearerAuthenticator {
    static let users = ["alice-token": "Alice", "bob-token": "Bob"]

    func authenticate(bearer: BearerAuthorization, for request: Request) async throws {
        if let name = Self.users[bearer.token] { request.auth.login(User(name: name)) }
    }
}

/// Echoes every message, on the connection's event loop.
struct Echo: WebSocketEventLoopHandler {
    func received(_ message: WebSocketMessage, on connection: EventLoopWebSocket) {
        try? connection.send(message)
    }
}

func configure(_ app: Application) throws {
    if let port = Environment.get("PORT").flatMap(Int.init) {
        app.http.server.configuration.port = port
    }
    // Autobahn's cases send messages of up to 16 MiB, compressed (12.*, 13.*).
    app.holdfast.configuration = HostedWebSocketConfiguration(
        webSocket: WebSocketConfiguration(maxMessageSize: 16 << 20, compression: PerMessageDeflateConfiguration()),
        shutdownSpread: .seconds(1))

    app.get("about") { _ in
        "Holdfast inside Vapor. WebSockets: / (echo), /chat (Authorization: Bearer alice-token)\n"
    }
    app.holdfast(handler: Echo())

    let members = app.grouped(DemoTokenAuthenticator(), User.guardMiddleware())
    members.holdfast("chat") { request, ws in
        let user = try request.auth.require(User.self)
        try await ws.send(text: "hello, \(user.name)")
        for await message in ws.messages {
            try await ws.send(text: "\(user.name): \(message.text ?? "<\(message.data.readableBytes) bytes>")")
        }
    }
}

var environment = try Environment.detect()
// `vapor-example --port 8080` is `vapor-example serve --port 8080`: Vapor runs its default
// command (serve) by itself only when no argument is given.
if environment.commandInput.arguments.first?.hasPrefix("-") == true {
    environment.commandInput.arguments.insert("serve", at: 0)
}
try LoggingSystem.bootstrap(from: &environment)
let threads = Environment.get("THREADS").flatMap(Int.init).map { max(1, $0) }
let app = try await Application.make(
    environment, threads.map { .shared(MultiThreadedEventLoopGroup(numberOfThreads: $0)) } ?? .singleton)
do {
    try configure(app)
    // What `app.execute()` does, with the bound address announced in between: boot, serve (the
    // `serve` command: `--port`, `--hostname`), then wait for SIGTERM or SIGINT.
    try await app.startup()
    if let address = app.http.server.shared.localAddress, let port = address.port {
        let host = address.ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "127.0.0.1"
        // Written at once, unbuffered: scripts wait for this line.
        FileHandle.standardOutput.write(Data("listening on ws://\(host):\(port)\n".utf8))
    }
    try await app.running?.onStop.get()
} catch {
    app.logger.report(error: error)
    try? await app.asyncShutdown()
    exit(1)
}
// Holdfast's lifecycle handler runs first: 1001 to every WebSocket, the close handshakes
// awaited; Vapor's HTTP server then finds none open.
try await app.asyncShutdown()
#else
import Foundation

FileHandle.standardError.write(Data("vapor-example needs the Vapor trait: swift build --traits Vapor\n".utf8))
exit(1)
#endif
