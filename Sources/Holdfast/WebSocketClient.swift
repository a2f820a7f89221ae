import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The settings of a client connection.
public struct WebSocketClientConfiguration: Sendable {
    /// Limits and timeouts of the connection.
    public var webSocket: WebSocketConfiguration
    /// Subprotocols to offer, in order of preference. Default none.
    public var subprotocols: [String]
    /// Extra headers for the upgrade request (authorization, cookies, origin). Default none.
    public var headers: HTTPHeaders
    /// How long the TCP connect, the proxy's answer (with a proxy), and then the TLS handshake
    /// and upgrade together may each take. Default 10 s.
    public var connectTimeout: TimeAmount
    /// The TLS settings of `wss://` URLs; unused for `ws://`. Default: the system's certificate
    /// authorities and host name verification, as a browser does.
    public var tls: WebSocketClientTLS
    /// The HTTP proxy to tunnel through with `CONNECT`. Default `nil`: a direct connection, whatever
    /// the environment says; take the conventional variables with
    /// `HTTPProxy/fromEnvironment(_:for:)`, so that the choice is the caller's and visible.
    ///
    /// Through a proxy, a `wss://` URL whose host is an IP address is refused while the host
    /// name is verified: NIOSSL would check the certificate against the address connected to,
    /// which is the proxy's, not the server's. Use a host name.
    public var proxy: HTTPProxy?

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(webSocket: WebSocketConfiguration = .init(), subprotocols: [String] = [], headers: HTTPHeaders = [:],
                connectTimeout: TimeAmount = .seconds(10), tls: WebSocketClientTLS = .init(), proxy: HTTPProxy? = nil) {
        self.webSocket = webSocket
        self.subprotocols = subprotocols
        self.headers = headers
        self.connectTimeout = connectTimeout
        self.tls = tls
        self.proxy = proxy
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
    ///   - url: a `ws://` or `wss://` URL: host name, IPv4 or bracketed IPv6 address, optional
    ///     port, path and query.
    ///   - configuration: limits, subprotocols, headers, timeouts, TLS and proxy.
    ///   - eventLoopGroup: where the connection runs; default the shared group.
    ///   - logger: where connection failures are logged.
    ///   - body: what to do with the connection.
    /// - Throws: `WebSocketURL.ParseError` for a bad URL, `HandshakeError` when the server refused
    ///   or answered wrongly, ``TLSHandshakeError`` when its certificate is not trusted or not for
    ///   its host, `HTTPProxyError` when the proxy refused the tunnel, a connect error when the
    ///   server (or the proxy) is unreachable, or what `body` threw.
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
        var random = SystemRandomNumberGenerator()
        let handshake = ClientHandshake(subprotocols: configuration.subprotocols,
                                        compression: configuration.webSocket.compression, randomSource: &random)
        let requestHead = handshake.requestHead(for: url, extraHeaders: configuration.headers)
        let tls = try url.isSecure ? NIOSSLContext(configuration: configuration.tls.configuration) : nil
        // RFC 6066 §3: SNI carries host names only; for an IP address none is sent, and NIOSSL
        // verifies the certificate against the address connected to.
        let serverHostname = (try? SocketAddress(ipAddress: url.host, port: 0)) == nil ? url.host : nil
        let proxy = configuration.proxy
        if tls != nil, proxy != nil, serverHostname == nil, configuration.tls.hostnameVerification {
            throw TLSHandshakeError(
                kind: .handshakeFailed, host: url.host,
                detail: "a certificate for an IP address cannot be verified through a proxy; use a host name")
        }
        do {
            let upgrade = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(configuration.connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: proxy?.host ?? url.host, port: proxy?.port ?? url.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try tunnel(channel, through: proxy, to: url, timeout: configuration.connectTimeout)
                            .flatMapThrowing {
                                if let tls {
                                    try channel.pipeline.syncOperations.addHandler(
                                        NIOSSLClientHandler(context: tls, serverHostname: serverHostname),
                                        name: "holdfast.tls")
                                }
                                let promise = channel.eventLoop.makePromise(of: UpgradedConnection.self)
                                try ClientHandshakeHandler.configure(
                                    channel, handshake: handshake, requestHead: requestHead,
                                    configuration: configuration.webSocket, timeout: configuration.connectTimeout,
                                    logger: logger, outcome: promise)
                                return promise.futureResult
                            }
                            .flatMap { $0 }
                    }
                }
            return WebSocket(try await upgrade.get())
        } catch {
            throw TLSHandshakeError.classifying(error, host: url.host) ?? error
        }
    }

    /// Opens a tunnel to `url`'s host through `proxy`, or, without one, succeeds at once.
    private static func tunnel(_ channel: any Channel, through proxy: HTTPProxy?, to url: WebSocketURL,
                               timeout: TimeAmount) throws -> EventLoopFuture<Void> {
        guard let proxy else { return channel.eventLoop.makeSucceededVoidFuture() }
        let tunnel = channel.eventLoop.makePromise(of: Void.self)
        try channel.pipeline.syncOperations.addHandler(
            HTTPConnectProxyHandler(proxy: proxy, targetHost: url.host, targetPort: url.port, timeout: timeout,
                                    tunnel: tunnel),
            name: "holdfast.proxy")
        return tunnel.futureResult
    }
}
