#if Hummingbird
import HTTPTypes
import Holdfast
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1.1 server channel with Holdfast WebSocket upgrades: the app's router
/// answers HTTP as ever; an upgrade request goes through `webSocketResponder` (a router with
/// ``HoldfastRequestContext`` and its middleware), and when one of its `holdfast` routes accepts,
/// the connection becomes a Holdfast WebSocket of `server`.
///
/// The decision runs in the connection's own task (``handle(value:logger:)``), not in a task of
/// its own: the upgrade waits for it. A route served by a task runs its handler in that task
/// too; one served on the event loop lets the task end once upgraded. A refusal — the
/// middleware's 401, no route (404), the route's 403, or the hosted server's 400/403/426/503 — is
/// written as the router made it, and the connection closed.
public struct HoldfastHTTP1Channel<WebSocketResponder: HTTPResponder>: ServerChildChannel, HTTPChannelHandler
    where WebSocketResponder.Context: HoldfastRequestContext
{
    /// The app's HTTP responder, for requests that ask for no upgrade.
    public let responder: HTTPChannelHandler.Responder
    let webSocketResponder: WebSocketResponder
    let server: HostedWebSocketServer
    let configuration: HTTP1Channel.Configuration

    /// Creates the channel.
    /// - Parameters:
    ///   - responder: the app's HTTP responder.
    ///   - webSocketResponder: decides on upgrade requests (a router with `holdfast` routes).
    ///   - server: the hosted server the connections join.
    ///   - configuration: Hummingbird's HTTP/1.1 settings (header limits, idle timeout).
    public init(responder: @escaping HTTPChannelHandler.Responder, webSocketResponder: WebSocketResponder,
                server: HostedWebSocketServer, configuration: HTTP1Channel.Configuration = .init()) {
        self.responder = responder
        self.webSocketResponder = webSocketResponder
        self.server = server
        self.configuration = configuration
    }

    /// One connection as set up: the channel, the upgrade's outcome, and the decision it asks
    /// the connection's task for.
    public struct Value: ServerChildChannelValue {
        /// The connection's channel.
        public let channel: any Channel
        let outcome: EventLoopFuture<HoldfastHTTP1ChannelOutcome>
        let decision: EventLoopFuture<DecisionRequest?>
        let upgrader: HoldfastTypedUpgrader
    }

    /// Sets up the pipeline: NIO's HTTP/1.1 upgrade handling with Holdfast's upgrader, and
    /// Hummingbird's HTTP handlers when the first request asks for no upgrade.
    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let decision = DecisionHandoff(eventLoop: channel.eventLoop)
            try channel.pipeline.syncOperations.addHandler(decision.reads, position: .first)
            let upgrader = HoldfastTypedUpgrader(server: server, decision: decision)
            let http1 = configuration
            let upgrades = NIOTypedHTTPServerUpgradeConfiguration<HoldfastHTTP1ChannelOutcome>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        decision.noDecision()
                        let operations = channel.pipeline.syncOperations
                        try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try operations.addHandlers(http1.additionalChannelHandlers())
                        try operations.addHandler(HTTPConnectionStateHandler(
                            idleTimeout: http1.idleTimeout.map { .nanoseconds($0.nanoseconds) }, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        if let refusal = upgrader.refusal { return .refused(http, refusal) }
                        return .http(http)
                    }
                })
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgrades)
            pipeline.enablePipelining = false  // NIOAsyncChannel serves requests one at a time
            pipeline.enableErrorHandling = false  // Hummingbird answers HTTP errors
            pipeline.enableResponseHeaderValidation = false  // HTTPTypes validate already
            pipeline.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            pipeline.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            pipeline.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            let outcome = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: pipeline)
            channel.closeFuture.whenComplete { _ in decision.noDecision() }
            return Value(channel: channel, outcome: outcome, decision: decision.requested, upgrader: upgrader)
        }
    }

    /// Serves the connection: decides on its upgrade if it asks for one, then runs the route's
    /// task handler (returning at once for a connection served on its event loop), serves the
    /// HTTP requests, or writes the refusal.
    public func handle(value: Value, logger: Logger) async {
        do {
            if let request = try await value.decision.get() {
                await decide(request, upgrader: value.upgrader, channel: value.channel, logger: logger)
            }
            switch try await value.outcome.get() {
            case .upgraded(let task):
                // A connection served on its event loop needs no task: it lives on in NIO and in
                // the hosted server, which shuts it down. Returning frees this task's memory,
                // about 14 KiB of each idle connection's 21 (measured).
                await task?()
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let response):
                try await Self.write(response, to: http)
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("connection closed before its first request")
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Asks the WebSocket router about `request`, as if it were an ordinary request (its
    /// middleware runs), and hands the answer to the upgrader.
    private func decide(_ request: DecisionRequest, upgrader: HoldfastTypedUpgrader, channel: any Channel,
                        logger: Logger) async {
        let routed: Request
        do {
            routed = Request(head: try HTTPRequest(request.head, secure: false, splitCookie: false),
                             body: .init(buffer: ByteBuffer()))
        } catch {
            upgrader.refuse(Self.plainResponse(.badRequest, "the request cannot be read: \(error)"), answering: request)
            return
        }
        let context = WebSocketResponder.Context(source: .init(channel: channel, logger: logger))
        let response: Response
        do {
            response = try await webSocketResponder.respond(to: routed, context: context)
        } catch let error as any HTTPResponseError {
            response = (try? error.response(from: routed, context: context))
                ?? Self.plainResponse(error.status, "\(error.status.reasonPhrase)")
        } catch {
            logger.warning("the upgrade decision failed", metadata: ["error": "\(error)"])
            response = Self.plainResponse(.internalServerError, "the upgrade could not be decided")
        }
        guard response.status == .switchingProtocols, let plan = context.holdfast.take() else {
            upgrader.refuse(response, answering: request)
            return
        }
        switch server.answer(request.head, remoteAddress: channel.remoteAddress, subprotocol: plan.subprotocol,
                             headers: plan.headers, configuration: plan.configuration) {
        case .upgrade(let upgrade):
            upgrader.accept(plan, upgrade: upgrade, answering: request)
        case .refuse(let refusal):
            upgrader.refuse(Response(refusal), answering: request)
        }
    }

    /// Writes a refusal and closes the connection.
    private static func write(_ response: Response,
                              to http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>) async throws {
        try await http.executeThenClose { _, outbound in
            var head = response.head
            head.headerFields[.connection] = "close"
            if let length = response.body.contentLength { head.headerFields[.contentLength] = String(length) }
            try await outbound.write(.head(head))
            try await response.body.write(RefusalBodyWriter(outbound: outbound))
        }
    }

    private static func plainResponse(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: reason + "\n")))
    }
}

/// What became of a connection's first request.
enum HoldfastHTTP1ChannelOutcome: Sendable {
    /// A Holdfast WebSocket; the task serves it, or `nil` when its event loop does.
    case upgraded(task: (@Sendable () async -> Void)?)
    /// Plain HTTP, for the app's responder.
    case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
    /// An upgrade refused with this response.
    case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Response)
}

extension Response {
    /// Hummingbird's response for the hosted server's answer (a refusal).
    init(_ plain: PlainHTTPResponse) {
        var headers = HTTPFields()
        for header in plain.headers {
            if let name = HTTPField.Name(header.name) { headers.append(HTTPField(name: name, value: header.value)) }
        }
        self.init(status: .init(code: Int(plain.status.code)), headers: headers, body: .init(byteBuffer: plain.body))
    }
}

/// Writes a refusal's body to the connection, then its end.
private struct RefusalBodyWriter: ResponseBodyWriter {
    let outbound: NIOAsyncChannelOutboundWriter<HTTPResponsePart>

    mutating func write(_ buffer: ByteBuffer) async throws {
        try await outbound.write(.body(buffer))
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await outbound.write(.end(trailingHeaders))
    }
}

extension HTTPServerBuilder {
    /// Hummingbird's HTTP/1.1 server with Holdfast WebSocket upgrades: the app's router serves
    /// HTTP; `webSocketRouter`'s `holdfast` routes (after its middleware) upgrade connections
    /// that join `server`.
    ///
    /// ```swift
    /// let holdfast = HostedWebSocketServer(configuration: .init(webSocket: .init(maxMessageSize: 1 << 20)))
    /// let webSockets = Router(context: BasicHoldfastRequestContext.self)
    /// webSockets.holdfast("/echo") { _, _ in .upgrade } handler: { ws, _ in
    ///     for await message in ws.messages { try await ws.send(message) }
    /// }
    /// let app = Application(router: router, server: .http1Holdfast(webSocketRouter: webSockets, server: holdfast))
    /// ```
    /// A graceful shutdown of the app (SIGTERM, or its service group's) sends every Holdfast
    /// connection 1001, spread over the server's `shutdownSpread` with a retry hint. Add
    /// `server` to the app's `services` too, so that a cancelled app (one past its service
    /// group's shutdown time limit) closes the connections served on their event loops, which
    /// no task of the app holds.
    public static func http1Holdfast<WebSocketRouter: HTTPResponderBuilder>(
        webSocketRouter: WebSocketRouter, server: HostedWebSocketServer,
        configuration: HTTP1Channel.Configuration = .init()
    ) -> HTTPServerBuilder where WebSocketRouter.Responder.Context: HoldfastRequestContext {
        let webSocketResponder = webSocketRouter.buildResponder()
        return HTTPServerBuilder { responder in
            HoldfastHTTP1Channel(responder: responder, webSocketResponder: webSocketResponder, server: server,
                                 configuration: configuration)
        }
    }
}
#endif
