import Holdfast
import HoldfastTestSupport
import NIOCore
import Testing

/// Starts `server` in `group` and returns the port it listens on. Binding a port another server
/// just left can fail while the old socket is still being closed, so a failed bind is retried a
/// few times with a fresh server from `makeServer`.
func startServer(
    in group: inout ThrowingTaskGroup<Void, any Error>, port: Int = 0,
    configuration: WebSocketServerConfiguration = .init(webSocket: testWebSocketConfiguration()),
    handler: @escaping @Sendable (WebSocket) async throws -> Void
) async throws -> (server: WebSocketServer, port: Int) {
    var configuration = configuration
    configuration.host = "127.0.0.1"
    configuration.port = port
    var lastError: (any Error)?
    for _ in 0..<5 {
        let server = WebSocketServer(configuration: configuration, logger: silentLogger, handler: handler)
        // A bind failure is reported by `listeningAddress`; a failure after that shows in the test
        // as a server that stops answering.
        group.addTask { try? await server.run() }
        do {
            let address = try await withTimeout("the server to listen") { try await server.listeningAddress }
            return (server, try #require(address.port))
        } catch let error as TimeoutError {
            throw error
        } catch {
            lastError = error
            await Task.yield()
        }
    }
    throw lastError!
}

/// Runs a server on a free port for the duration of `body`, which may shut it down; the server is
/// cancelled when `body` returns or throws.
func withRunningServer<Result: Sendable>(
    configuration: WebSocketServerConfiguration = .init(webSocket: testWebSocketConfiguration()),
    handler: @escaping @Sendable (WebSocket) async throws -> Void,
    _ body: (_ server: WebSocketServer, _ port: Int) async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { group in
        defer { group.cancelAll() }
        let (server, port) = try await startServer(in: &group, configuration: configuration, handler: handler)
        return try await body(server, port)
    }
}
