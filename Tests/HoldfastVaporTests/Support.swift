#if Vapor
import Holdfast
import HoldfastTestSupport
import HoldfastVapor
import Logging
import NIOCore
import Testing
import Vapor

/// Logs warnings and worse only: the tests' apps are quiet unless something goes wrong.
let quietLogger: Logger = {
    var logger = Logger(label: "holdfast.vapor.tests")
    logger.logLevel = .warning
    return logger
}()

/// Runs a real Vapor app for `body`: configured by `routes`, booted and served as `vapor serve
/// --hostname 127.0.0.1 --port 0` serves it (Vapor's serve command, so that `asyncShutdown()`
/// stops its HTTP server as in production: after the lifecycle handlers). `body` gets the app
/// and its port and may shut it down; otherwise it is shut down afterwards. `lifecycle` handlers
/// are registered first.
func withVaporApp<Result: Sendable>(
    configuration: HostedWebSocketConfiguration = HostedWebSocketConfiguration(),
    lifecycle: [any LifecycleHandler] = [],
    routes: (Application) throws -> Void,
    _ body: (Application, Int) async throws -> Result
) async throws -> Result {
    let environment = Environment(name: "testing",
                                  arguments: ["vapor", "serve", "--hostname", "127.0.0.1", "--port", "0"])
    let app = try await Application.make(environment)
    app.logger = quietLogger
    app.http.server.configuration.logger = quietLogger
    // Registered before Holdfast's (made at the first upgrade): they shut down after it.
    for handler in lifecycle { app.lifecycle.use(handler) }
    app.holdfast.configuration = configuration
    do {
        try routes(app)
        try await withTimeout("the app to start") { try await app.startup() }
        let port = try #require(app.http.server.shared.localAddress?.port)
        let result = try await body(app, port)
        if !app.didShutdown {
            try await withTimeout("the app to shut down", limit: .seconds(30)) { try await app.asyncShutdown() }
        }
        return result
    } catch {
        if !app.didShutdown { try? await app.asyncShutdown() }
        throw error
    }
}

/// A client connection's settings for the tests: a generous connect timeout (many handshakes at
/// once on a busy machine), optional headers.
func clientConfiguration(headers: HTTPHeaders = [:]) -> WebSocketClientConfiguration {
    WebSocketClientConfiguration(headers: headers, connectTimeout: .seconds(60))
}

/// Connects Holdfast's client to `path` on the app (with `headers`), expecting the app to refuse
/// the upgrade with `status`: the client's ``HandshakeError`` must carry it, and an upgrade is
/// recorded as an issue saying `ifUpgraded`. `what` names the wait for ``withTimeout(_:limit:_:)``.
func expectRefusal(port: Int, path: String, headers: HTTPHeaders = [:], status: HTTPResponseStatus,
                   _ what: String, ifUpgraded: String,
                   sourceLocation: SourceLocation = #_sourceLocation) async throws {
    do {
        try await withTimeout(what) {
            try await Holdfast.WebSocketClient.connect(to: "ws://127.0.0.1:\(port)\(path)",
                                                       configuration: clientConfiguration(headers: headers)) { _ in }
        }
        Issue.record(Comment(rawValue: ifUpgraded), sourceLocation: sourceLocation)
    } catch let error as HandshakeError {
        #expect(error.status == status, "\(error)", sourceLocation: sourceLocation)
    }
}

/// Runs `body` on a raw TCP connection to the app on 127.0.0.1:`port` (HoldfastTestSupport's
/// ``RawConnection``: async on NIO's event loops, so it never blocks the tasks' pool the app needs
/// meanwhile), failing with ``TimeoutError`` if `body` has not finished within `limit`. What a test
/// needs to see the server's raw bytes (the `101` as written) or to send what Holdfast's client
/// never would.
func withRawConnection<Result: Sendable>(
    port: Int, _ what: String, limit: Duration = .seconds(10),
    _ body: @escaping @Sendable (inout RawConnection) async throws -> Result
) async throws -> Result {
    try await withTimeout(what, limit: limit) { try await RawConnection.with(port: port, body) }
}

/// The header names of an HTTP head, lowercased, in order (with repeats).
func headerNames(_ head: String) -> [String] {
    head.split(separator: "\r\n").dropFirst().compactMap { line in
        line.firstIndex(of: ":").map { line[..<$0].lowercased() }
    }
}

/// The status code of an HTTP head's status line.
func statusCode(_ head: String) -> Int? {
    head.split(separator: " ").dropFirst().first.flatMap { Int($0) }
}
#endif
