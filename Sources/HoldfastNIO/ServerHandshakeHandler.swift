import HoldfastCore
import Logging
import NIOCore
import NIOHTTP1

/// What became of a server connection's opening handshake.
public enum ServerHandshakeOutcome: Sendable {
    /// The connection was upgraded; the handler and its inbound sequence carry it from here.
    case upgraded(UpgradedConnection)
    /// The request was refused or was plain HTTP; it has been answered and the channel closes.
    case notUpgraded
}

/// An upgraded connection as the NIO layer hands it to the async API.
public struct UpgradedConnection: Sendable {
    /// The channel of the connection.
    public let channel: any Channel
    /// The connection's handler, usable on the channel's event loop.
    public let handler: NIOLoopBound<WebSocketChannelHandler>
    /// The received messages, paced by their consumer; `nil` for connections served on the
    /// event loop (see ``ServerHandshakeSettings/eventLoopDelivery``).
    public let inbound: WebSocketChannelHandler.Inbound?
    /// The upgrade request (server) or the request sent (client).
    public let request: UpgradeRequest
    /// The subprotocol both sides agreed on, if any.
    public let subprotocol: String?
    /// The headers of the server's `101` response.
    public let responseHeaders: HTTPHeaders
    /// The limits the peer announced (a Holdfast server announces its own to clients).
    public let peerLimits: AnnouncedLimits
    /// permessage-deflate as agreed in the handshake, if it was.
    public let compression: PerMessageDeflateParameters?
    /// Where tasks queue what they send; `nil` for connections served on the event loop.
    public let outbound: OutboundQueue?
}

/// The settings a server applies to each connection's handshake.
public struct ServerHandshakeSettings: Sendable {
    /// The protocol settings of upgraded connections.
    public var configuration: WebSocketConfiguration
    /// Decides, on the event loop, whether to accept an upgrade; accepts all when `nil`.
    public var shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision)?
    /// Answers requests that ask for no upgrade; `nil` (or a `nil` answer) gives 426 Upgrade
    /// Required, which tells a browser this is a WebSocket endpoint.
    public var plainHTTP: (@Sendable (UpgradeRequest) -> PlainHTTPResponse?)?
    /// Whether the server is shutting down: a handshake completing then gets 503.
    public var isDraining: @Sendable () -> Bool
    /// When set, connections are served on their event loop: no inbound sequence or outbound
    /// queue is made, and this is called on the event loop with each upgraded connection before
    /// it reads its first frame, to install its callbacks
    /// (``WebSocketChannelHandler/deliverOnEventLoop(received:closed:)``).
    public var eventLoopDelivery: (@Sendable (UpgradedConnection) -> Void)?
    /// Where handshake failures are logged.
    public var logger: Logger
    /// Gives each upgraded connection the observer that counts its traffic, called on the
    /// connection's event loop (so a server can keep one set of counters per event loop).
    /// Default `nil`: nothing is counted.
    public var trafficObserver: (@Sendable (any EventLoop) -> any WebSocketTrafficObserver)?
    /// Gives each upgraded connection the output memory its event loop's connections share
    /// (``SpareOutputBuffer``), called on the connection's event loop: return the same instance
    /// for every connection of a loop. Default `nil`: each batch allocates its buffer.
    public var spareOutput: (@Sendable (any EventLoop) -> SpareOutputBuffer)?
    /// The server's protections: the handshake timeout, the header size limit, the allowed
    /// origins and the idle timeout apply to each connection here. (The connection limit is
    /// the server's to count: see ``isFull``.) Default: ``ServerProtections``' defaults.
    public var protections = ServerProtections()
    /// Whether the server holds as many connections as it takes: a handshake completing then
    /// gets 503 Service Unavailable with `Retry-After`. Default: never full.
    public var isFull: @Sendable () -> Bool = { false }

    /// Creates handshake settings.
    public init(configuration: WebSocketConfiguration, shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision)?,
                isDraining: @escaping @Sendable () -> Bool = { false },
                eventLoopDelivery: (@Sendable (UpgradedConnection) -> Void)? = nil,
                plainHTTP: (@Sendable (UpgradeRequest) -> PlainHTTPResponse?)? = nil, logger: Logger,
                trafficObserver: (@Sendable (any EventLoop) -> any WebSocketTrafficObserver)? = nil) {
        self.trafficObserver = trafficObserver
        self.plainHTTP = plainHTTP
        self.configuration = configuration
        self.shouldUpgrade = shouldUpgrade
        self.isDraining = isDraining
        self.eventLoopDelivery = eventLoopDelivery
        self.logger = logger
    }
}

/// Answers the HTTP/1.1 upgrade request of a new server connection, then replaces the HTTP
/// handlers with a ``WebSocketChannelHandler``. The validation rules are the core's
/// ``ServerHandshake``; this handler only moves the request and the answer.
public final class ServerHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundOut = HTTPServerResponsePart

    private let settings: ServerHandshakeSettings
    private let outcome: EventLoopPromise<ServerHandshakeOutcome>
    private var head: HTTPRequestHead?
    private var done = false
    private var deadline: Scheduled<Void>?

    /// Creates the handler; `outcome` completes once the handshake is decided.
    public init(settings: ServerHandshakeSettings, outcome: EventLoopPromise<ServerHandshakeOutcome>) {
        self.settings = settings
        self.outcome = outcome
    }

    /// Adds the HTTP codec and this handler to a new server channel's pipeline and returns the
    /// future of the handshake's outcome.
    public static func configure(_ channel: any Channel, settings: ServerHandshakeSettings) throws
        -> EventLoopFuture<ServerHandshakeOutcome>
    {
        let promise = channel.eventLoop.makePromise(of: ServerHandshakeOutcome.self)
        let operations = channel.pipeline.syncOperations
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = settings.protections.maxHeaderSize
        limits.maxHeaderListSize = settings.protections.maxHeaderSize
        try operations.addHandler(HTTPResponseEncoder(), name: "holdfast.http-encoder")
        try operations.addHandler(
            ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, limitConfiguration: limits)),
            name: "holdfast.http-decoder")
        try operations.addHandler(ServerHandshakeHandler(settings: settings, outcome: promise),
                                  name: "holdfast.handshake")
        return promise.futureResult
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        guard let timeout = settings.protections.handshakeTimeout else { return }
        let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.handler.handshakeTimedOut(after: timeout, context: loopBound.value.context)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadline()
    }

    /// Stops the handshake timeout: the request is complete, refused, or gone.
    private func cancelDeadline() {
        deadline?.cancel()
        deadline = nil
    }

    private func handshakeTimedOut(after timeout: TimeAmount, context: ChannelHandlerContext) {
        deadline = nil
        guard !done else { return }
        done = true
        settings.logger.debug("no complete upgrade request in time", metadata: ["timeout": "\(timeout.secondsDescription)"])
        respond(status: .requestTimeout, reason: "no complete request within \(timeout.secondsDescription)", headers: [:],
                context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            done = true
            cancelDeadline()
            handle(head, context: context)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        cancelDeadline()
        if !done {
            done = true
            outcome.succeed(.notUpgraded)
        }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !done else { return }
        // The HTTP decoder refused the request (malformed, headers too large): answer and close.
        done = true
        cancelDeadline()
        settings.logger.debug("bad HTTP request", metadata: ["error": "\(error)"])
        if let error = error as? HTTPParserError, error == .headerOverflow {
            respond(status: .requestHeaderFieldsTooLarge,
                    reason: "request line and headers over the limit of \(settings.protections.maxHeaderSize) bytes", headers: [:],
                    context: context)
        } else {
            respond(status: .badRequest, reason: "malformed HTTP request", headers: [:], context: context)
        }
    }

    private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard ServerHandshake.isUpgradeRequest(head) else {
            let request = UpgradeRequest(head: head, remoteAddress: context.channel.remoteAddress)
            if let response = settings.plainHTTP?(request) {
                respond(response, context: context)
            } else {
                respond(status: .upgradeRequired, reason: "this is a WebSocket endpoint",
                        headers: ["Upgrade": "websocket", "Sec-WebSocket-Version": ServerHandshake.supportedVersion],
                        context: context)
            }
            return
        }
        let key: String
        switch ServerHandshake.validate(head) {
        case .success(let validKey):
            key = validKey
        case .failure(let error):
            respond(status: error.status ?? .badRequest, reason: error.reason, headers: error.headers,
                    context: context)
            return
        }
        guard !settings.isDraining() else {
            respond(status: .serviceUnavailable, reason: "the server is shutting down", headers: ["Retry-After": "1"],
                    context: context)
            return
        }
        guard !settings.isFull() else {
            respond(status: .serviceUnavailable, reason: "the server has as many connections as it takes",
                    headers: ["Retry-After": "1"], context: context)
            return
        }
        let request = UpgradeRequest(head: head, remoteAddress: context.channel.remoteAddress)
        if let origin = request.origin, !settings.protections.allows(origin: origin) {
            respond(status: .forbidden, reason: "origin \(origin) is not allowed", headers: [:], context: context)
            return
        }
        let decision = settings.shouldUpgrade?(request) ?? .accept
        switch decision {
        case .reject(let status, let reason):
            respond(status: status, reason: reason, headers: [:], context: context)
        case .accept(let subprotocol, let extraHeaders, let routeConfiguration):
            let offered = request.offeredSubprotocols
            let selected = subprotocol.flatMap { offered.contains($0) ? $0 : nil }
            let configuration = routeConfiguration ?? settings.configuration
            var announced = AnnouncedLimits(configuration).headers
            announced.add(contentsOf: extraHeaders)
            let compression = ServerHandshake.negotiateCompression(head.headers, configuration: configuration)
            let headers = ServerHandshake.responseHeaders(key: key, subprotocol: selected,
                                                          extensions: compression?.response, extraHeaders: announced)
            upgrade(request: request, subprotocol: selected, compression: compression?.parameters, headers: headers,
                    configuration: configuration, context: context)
        }
    }

    private func upgrade(request: UpgradeRequest, subprotocol: String?, compression: PerMessageDeflateParameters?,
                         headers: HTTPHeaders, configuration: WebSocketConfiguration, context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .switchingProtocols,
                                                             headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        let handler = WebSocketChannelHandler(role: .server, configuration: configuration, compression: compression,
                                              eventLoop: context.eventLoop, logger: settings.logger)
        handler.trafficObserver = settings.trafficObserver?(context.eventLoop)
        handler.spareOutput = settings.spareOutput?(context.eventLoop)
        if let idleTimeout = settings.protections.idleTimeout { handler.closeWhenIdle(for: idleTimeout) }
        let onEventLoop = settings.eventLoopDelivery
        let inbound = onEventLoop == nil ? handler.makeInboundSequence() : nil
        let outbound = onEventLoop == nil ? handler.makeOutboundQueue() : nil
        let upgraded = UpgradedConnection(
            channel: context.channel, handler: NIOLoopBound(handler, eventLoop: context.eventLoop),
            inbound: inbound, request: request, subprotocol: subprotocol, responseHeaders: headers,
            peerLimits: handler.peerLimits, compression: compression, outbound: outbound)
        onEventLoop?(upgraded)
        let outcome = self.outcome
        do {
            try WebSocketChannelHandler.replaceHTTPHandlers(in: context, with: handler).whenComplete { _ in
                outcome.succeed(.upgraded(upgraded))
            }
        } catch {
            settings.logger.error("could not install the WebSocket handler", metadata: ["error": "\(error)"])
            outcome.succeed(.notUpgraded)
            context.close(promise: nil)
        }
    }

    private func respond(status: HTTPResponseStatus, reason: String, headers: HTTPHeaders,
                         context: ChannelHandlerContext) {
        var headers = headers
        headers.replaceOrAdd(name: "Content-Type", value: "text/plain; charset=utf-8")
        respond(PlainHTTPResponse(status: status, headers: headers, body: ByteBuffer(string: reason + "\n")),
                context: context)
    }

    private func respond(_ response: PlainHTTPResponse, context: ChannelHandlerContext) {
        var headers = response.headers
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.readableBytes))
        headers.replaceOrAdd(name: "Connection", value: "close")
        let status = response.status
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        let channel = context.channel
        // From here on, whatever the client sends reaches this handler undecoded and is dropped:
        // the HTTP decoder would keep it all once it has stopped parsing.
        context.pipeline.syncOperations.removeHandler(name: "holdfast.http-decoder", promise: nil)
        // Whatever becomes of the answer (a TLS handshake that never completes holds it back),
        // the connection ends within the answer's time.
        Self.close(channel, in: Self.answerTime)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            Self.closeOutput(channel)
            Self.close(channel, in: Self.lingerTime)
        }
        outcome.succeed(.notUpgraded)
    }

    /// How long a refused connection stays open after its answer was written, at most.
    static let lingerTime = TimeAmount.seconds(2)
    /// How long an answer (a refusal, or a page) may take to be written, at most.
    static let answerTime = TimeAmount.seconds(10)

    /// Closes `channel` after `delay` unless it has closed by then.
    private static func close(_ channel: any Channel, in delay: TimeAmount) {
        let deadline = channel.eventLoop.scheduleTask(in: delay) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
    }

    /// Closes the sending side once the answer is out, and the connection when the client closes
    /// its side (or at the linger deadline): closing a socket while part of the request is still
    /// unread in it (a large request, or a TLS ClientHello sent to a plain server) makes the
    /// kernel reset the connection, and a reset can discard the answer before the client reads
    /// it. What the client sends meanwhile is read and dropped.
    private static func closeOutput(_ channel: any Channel) {
        channel.close(mode: .output).whenFailure { _ in
            // The transport cannot half-close (or is already closed): close it whole.
            channel.close(promise: nil)
        }
    }
}
