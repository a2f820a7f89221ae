import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The settings of a client connection.
public struct WebSocketClientConfiguration: Sendable {
    /// Limits and timeouts of the connection.
    public var webSocket: WebSocketConfiguration
    /// Subprotocols to offer, in order of preference. Default none.
    public var subprotocols: [String]
    /// Extra headers for the upgrade request (authorization, cookies, origin). Default none.
    public var headers: HTTPHeaders
    /// How long the TCP connect and then the upgrade may each take. Default 10 s.
    public var connectTimeout: TimeAmount

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(webSocket: WebSocketConfiguration = .init(), subprotocols: [String] = [], headers: HTTPHeaders = [:],
                connectTimeout: TimeAmount = .seconds(10)) {
        self.webSocket = webSocket
        self.subprotocols = subprotocols
        self.headers = headers
        self.connectTimeout = connectTimeout
    }
}

/// Connects to WebSocket servers.
///
/// ```swift
/// try await WebSocketClient.connect(to: "ws://localhost:8080/chat") { ws in
///     try await ws.send(text: "hello")
///     for await message in ws.messages { print(message.text ?? "") }
/// }
/// ```
public enum WebSocketClient {
    /// Connects to `url`, runs `body` with the connection, then closes it with 1000 (1011 if
    /// `body` threw) and waits for the close handshake.
    /// - Parameters:
    ///   - url: a `ws://` URL: host name, IPv4 or bracketed IPv6 address, optional port, path and query.
    ///   - configuration: limits, subprotocols, headers and timeouts.
    ///   - eventLoopGroup: where the connection runs; default the shared group.
    ///   - logger: where connection failures are logged.
    ///   - body: what to do with the connection.
    /// - Throws: `WebSocketURL.ParseError` for a bad URL, ``HandshakeError`` when the server refused
    ///   or answered wrongly, a connect error when the server is unreachable, or what `body` threw.
    public static func connect<Result: Sendable>(
        to url: String, configuration: WebSocketClientConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "holdfast.client"),
        _ body: (WebSocket) async throws -> Result
    ) async throws -> Result {
        let webSocket = try await open(url: WebSocketURL(url), configuration: configuration,
                                       eventLoopGroup: eventLoopGroup, logger: logger)
        let result: Result
        do {
            result = try await body(webSocket)
        } catch {
            await webSocket.close(code: .internalError)
            throw error
        }
        await webSocket.close(code: .normalClosure)
        return result
    }

    static func open(url: WebSocketURL, configuration: WebSocketClientConfiguration, eventLoopGroup: any EventLoopGroup,
                     logger: Logger) async throws -> WebSocket {
        guard !url.isSecure else {
            throw HandshakeError(status: nil, reason: "wss:// is not supported yet")
        }
        var random = SystemRandomNumberGenerator()
        let handshake = ClientHandshake(subprotocols: configuration.subprotocols,
                                        compression: configuration.webSocket.compression, randomSource: &random)
        let requestHead = handshake.requestHead(for: url, extraHeaders: configuration.headers)
        let upgrade = try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: url.host, port: url.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let promise = channel.eventLoop.makePromise(of: UpgradedConnection.self)
                    try ClientHandshakeHandler.configure(
                        channel, handshake: handshake, requestHead: requestHead,
                        configuration: configuration.webSocket, timeout: configuration.connectTimeout, logger: logger,
                        outcome: promise)
                    return promise.futureResult
                }
            }
        return WebSocket(try await upgrade.get())
    }
}
