#if Hummingbird
import Foundation
import Holdfast
import HoldfastHummingbird
import Hummingbird
import Logging
import NIOCore
import NIOPosix

// A Hummingbird app with Holdfast WebSockets: a WebSocket at `/` echoes on the event loop (what
// the Autobahn suite and the benchmark run against), `/chat` greets a user its bearer token names
// (the app's own middleware authenticates), and a plain GET of `/` is an ordinary Hummingbird
// route: upgrades go to the WebSocket router, everything else to the app's.
//
//   swift run --traits Hummingbird hummingbird-example --port 8080
//
// SIGTERM or Ctrl-C shuts down gracefully: every WebSocket gets 1001 with a retry hint.

/// Echoes every message on the connection's event loop.
struct Echo: WebSocketEventLoopHandler {
    func received(_ message: WebSocketMessage, on connection: EventLoopConnection<Void>) {
        try? connection.send(message)
    }
}

/// The user a bearer token names (the example's two tokens).
struct User: Sendable {
    let name: String
}

/// The WebSocket router's context: Holdfast's slot and the authenticated user.
struct ChatContext: HoldfastRequestContext {
    var coreContext: CoreRequestContextStorage
    let holdfast = HoldfastRouteSlot()
    var user: User?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// Refuses a request without a known bearer token with 401; names the user otherwise.
struct BearerAuthentication: RouterMiddleware {
    static let users = ["token-ada": User(name: "Ada"), "token-grace": User(name: "Grace")]

    func handle(_ request: Request, context: ChatContext,
                next: (Request, ChatContext) async throws -> Response) async throws -> Response {
        guard let authorization = request.headers[.authorization], authorization.hasPrefix("Bearer "),
              let user = Self.users[String(authorization.dropFirst("Bearer ".count))] else {
            throw HTTPError(.unauthorized, message: "a bearer token is needed")
        }
        var context = context
        context.user = user
        return try await next(request, context)
    }
}

/// The command line: `--port N` (default 8080; 0 picks a free port) and `--threads N` (event-loop
/// threads; default the `THREADS` environment variable, else one per core).
struct Options {
    var port = 8080
    var threads = ProcessInfo.processInfo.environment["THREADS"].flatMap(Int.init) ?? System.coreCount

    static func parse(_ arguments: [String]) -> Options? {
        var options = Options()
        var remaining = arguments.makeIterator()
        while let name = remaining.next() {
            guard let value = remaining.next().flatMap(Int.init) else { return nil }
            switch name {
            case "--port" where (0...65535).contains(value): options.port = value
            case "--threads" where value > 0: options.threads = value
            default: return nil
            }
        }
        return options
    }
}

guard let options = Options.parse(Array(CommandLine.arguments.dropFirst())) else {
    FileHandle.standardError.write(Data("hummingbird-example: usage: hummingbird-example [--port N] [--threads N]\n".utf8))
    exit(2)
}

let holdfast = HostedWebSocketServer(configuration: .init(
    webSocket: .init(maxMessageSize: 16 << 20)))

let webSockets = Router(context: ChatContext.self)
webSockets.holdfast("/", eventLoopHandler: Echo())
webSockets.group("/chat").add(middleware: BearerAuthentication()).holdfast { _, _ in .upgrade } handler: { ws, route in
    let name = route.requestContext.user?.name ?? "nobody"
    try await ws.send(.text("hello, \(name)"))
    for await message in ws.messages {
        try await ws.send(.text("\(name): \(message.text ?? "(binary)")"))
    }
}

let router = Router()
router.get("/") { _, _ in "Hummingbird with Holdfast WebSockets: ws://…/ echoes, ws://…/chat needs a bearer token\n" }

let app = Application(
    router: router,
    server: .http1Holdfast(webSocketRouter: webSockets, server: holdfast),
    configuration: .init(address: .hostname("127.0.0.1", port: options.port)),
    services: [holdfast],
    onServerRunning: { channel in
        FileHandle.standardOutput.write(Data("listening on ws://127.0.0.1:\(channel.localAddress?.port ?? options.port)\n".utf8))
    },
    eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: options.threads)),
    logger: Logger(label: "hummingbird-example")
)
try await app.runService()
#else
import Foundation

FileHandle.standardError.write("hummingbird-example: build with `--traits Hummingbird`\n".data(using: .utf8) ?? Data())
exit(1)
#endif
