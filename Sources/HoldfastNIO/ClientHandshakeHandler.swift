import HoldfastCore
import Logging
import NIOCore
import NIOHTTP1

/// Sends a client's upgrade request, validates the answer with the core's `ClientHandshake`,
/// and on success replaces the HTTP handlers with a ``WebSocketChannelHandler``.
public final class ClientHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPClientResponsePart
    public typealias OutboundOut = HTTPClientRequestPart

    private let handshake: ClientHandshake
    private let requestHead: HTTPRequestHead
    private let configuration: WebSocketConfiguration
    private let timeout: TimeAmount
    private let logger: Logger
    private let outcome: EventLoopPromise<UpgradedConnection>
    private var state = State.idle

    /// Where the handshake is: the timeout lives in the states that wait for the server, so that
    /// every transition out of them cancels it.
    private enum State {
        /// Not in a pipeline yet.
        case idle
        /// Waiting for the server's answer: the request is sent once the channel is active, and
        /// `deadline` fails the handshake when the answer takes too long.
        case waitingForResponse(deadline: Scheduled<Void>, requestSent: Bool, head: HTTPResponseHead?)
        /// Decided: upgraded or failed; nothing more is read here.
        case done

        /// Leaves a waiting state for `done`; `false` when already done.
        mutating func finish() -> Bool {
            switch self {
            case .waitingForResponse(let deadline, _, _):
                deadline.cancel()
                self = .done
                return true
            case .idle:
                self = .done
                return true
            case .done:
                return false
            }
        }
    }

    /// Creates the handler; `outcome` succeeds with the upgraded connection or fails with a
    /// `HandshakeError`.
    public init(handshake: ClientHandshake, requestHead: HTTPRequestHead, configuration: WebSocketConfiguration,
                timeout: TimeAmount, logger: Logger, outcome: EventLoopPromise<UpgradedConnection>) {
        self.handshake = handshake
        self.timeout = timeout
        self.requestHead = requestHead
        self.configuration = configuration
        self.logger = logger
        self.outcome = outcome
    }

    /// Adds the HTTP codec and this handler to a new client channel's pipeline.
    public static func configure(_ channel: any Channel, handshake: ClientHandshake, requestHead: HTTPRequestHead,
                                 configuration: WebSocketConfiguration, timeout: TimeAmount, logger: Logger,
                                 outcome: EventLoopPromise<UpgradedConnection>) throws {
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(HTTPRequestEncoder(), name: "holdfast.http-encoder")
        try operations.addHandler(
            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)),
            name: "holdfast.http-decoder")
        try operations.addHandler(
            ClientHandshakeHandler(handshake: handshake, requestHead: requestHead, configuration: configuration,
                                   timeout: timeout, logger: logger, outcome: outcome),
            name: "holdfast.handshake")
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.fail(HandshakeError(status: nil, reason: "no upgrade response within \(handler.timeout.readableDescription)"),
                         context: context)
        }
        state = .waitingForResponse(deadline: deadline, requestSent: false, head: nil)
        if context.channel.isActive { sendRequest(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        // A connect that failed tears the pipeline down without the channel ever being active.
        if state.finish() {
            outcome.fail(HandshakeError(status: nil, reason: "the connection closed before the upgrade"))
        }
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        guard state.finish() else { return }
        outcome.fail(error)
        context.close(promise: nil)
    }

    public func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard case .waitingForResponse(let deadline, false, let head) = state else { return }
        state = .waitingForResponse(deadline: deadline, requestSent: true, head: head)
        context.write(wrapOutboundOut(.head(requestHead)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .waitingForResponse(let deadline, let requestSent, let head) = state else { return }
        switch unwrapInboundIn(data) {
        case .head(let response):
            state = .waitingForResponse(deadline: deadline, requestSent: requestSent, head: response)
        case .body:
            break
        case .end:
            guard let head else { return }
            finish(head, context: context)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        fail(HandshakeError(status: nil, reason: "the server closed the connection during the handshake"),
             context: context)
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // An error from below the HTTP codec (TLS: an untrusted certificate, a wrong host name)
        // is passed on as it is, so that the caller can tell it from a bad answer.
        let failure: any Error = error is HTTPParserError
            ? HandshakeError(status: nil, reason: "invalid HTTP response: \(error)") : error
        fail(failure, context: context)
    }

    private func finish(_ response: HTTPResponseHead, context: ChannelHandlerContext) {
        let agreement: ClientHandshake.Agreement
        do {
            agreement = try handshake.validate(response)
        } catch {
            fail(error, context: context)
            return
        }
        guard state.finish() else { return }
        let handler = WebSocketChannelHandler(role: .client, configuration: configuration,
                                              peerLimits: AnnouncedLimits(headers: response.headers),
                                              compression: agreement.compression, eventLoop: context.eventLoop,
                                              logger: logger)
        let inbound = handler.makeInboundSequence()
        let outbound = handler.makeOutboundQueue()
        let upgraded = UpgradedConnection(
            channel: context.channel, handler: NIOLoopBound(handler, eventLoop: context.eventLoop), inbound: inbound,
            request: UpgradeRequest(head: requestHead, remoteAddress: context.channel.remoteAddress),
            subprotocol: agreement.subprotocol, responseHeaders: response.headers, peerLimits: handler.peerLimits,
            compression: agreement.compression, outbound: outbound)
        let outcome = self.outcome
        do {
            try WebSocketChannelHandler.replaceHTTPHandlers(in: context, with: handler).whenComplete { _ in
                outcome.succeed(upgraded)
            }
        } catch {
            outcome.fail(error)
            context.close(promise: nil)
        }
    }
}
