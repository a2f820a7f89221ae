import Holdfast
import HoldfastTestSupport
import NIOCore
import NIOHTTP1
import Testing
import Logging

/// A logger that drops everything, so that test output stays the test runner's.
let silentLogger = Logger(label: "holdfast.integration-tests") { _ in SwiftLogNoOpLogHandler() }

/// Connection settings for tests: the close timeout is a safety net short enough that a close
/// handshake that never completes still ends a test well within its time.
func testWebSocketConfiguration(maxMessageSize: Int = WebSocketConfiguration.defaultMaxMessageSize)
    -> WebSocketConfiguration
{
    WebSocketConfiguration(maxMessageSize: maxMessageSize, closeTimeout: .seconds(5))
}

/// Runs a ``WebSocketServer`` on `host`, port 0, for the duration of `body`, which gets the port
/// it listens on; the server is cancelled when `body` returns or throws.
func withServer<Result: Sendable>(
    host: String = "127.0.0.1",
    configuration: WebSocketServerConfiguration = .init(webSocket: testWebSocketConfiguration()),
    handler: @escaping @Sendable (WebSocket) async throws -> Void,
    _ body: (_ port: Int) async throws -> Result
) async throws -> Result {
    var configuration = configuration
    configuration.host = host
    configuration.port = 0
    let server = WebSocketServer(configuration: configuration, logger: silentLogger, handler: handler)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        defer { group.cancelAll() }
        let address = try await withTimeout("the server to listen") { try await server.listeningAddress }
        let port = try #require(address.port)
        return try await body(port)
    }
}

/// Connects a Holdfast client with test settings (see ``testWebSocketConfiguration``); the
/// connect and the upgrade may each take `connectTimeout`.
func connect<Result: Sendable>(
    _ url: String, subprotocols: [String] = [], headers: HTTPHeaders = [:],
    maxMessageSize: Int = WebSocketConfiguration.defaultMaxMessageSize, connectTimeout: TimeAmount = .seconds(5),
    _ body: (WebSocket) async throws -> Result
) async throws -> Result {
    let configuration = WebSocketClientConfiguration(
        webSocket: testWebSocketConfiguration(maxMessageSize: maxMessageSize), subprotocols: subprotocols,
        headers: headers, connectTimeout: connectTimeout)
    return try await WebSocketClient.connect(to: url, configuration: configuration, logger: silentLogger, body)
}

/// Handles a connection by sending every received message back.
@Sendable func echo(_ webSocket: WebSocket) async throws {
    for await message in webSocket.messages {
        try await webSocket.send(message)
    }
}

/// `count` bytes that differ from their neighbours and repeat only every 256 bytes.
func pattern(_ count: Int) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(count)
    for index in 0..<count { buffer.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ 7)) }
    return buffer
}
