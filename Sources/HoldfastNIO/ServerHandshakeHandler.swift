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

/// Answers the HTTP/1.1 upgrade request of a new server connection, then replaces the HTTP
/// handlers with a ``WebSocketChannelHandler``. The validation rules are the core's
/// `ServerHandshake`; this handler only moves the request and the answer, and holds the
/// connection's reads while a deferred decision (``ServerUpgradeDecider/deferred(_:)``) runs.
public final class ServerHandshakeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    public typealias InboundIn = HTTPServerRequestPart
    public typealias OutboundIn = HTTPServerResponsePart
    public typealias OutboundOut = HTTPServerResponsePart

    private let settings: ServerHandshakeSettings
    private let outcome: EventLoopPromise<ServerHandshakeOutcome>
    private var state = State.readingRequest(head: nil, deadline: nil)

    /// Where the handshake is. Each timer lives in the state it bounds, so leaving the state is
    /// where it is cancelled.
    private enum State {
        /// Reading the request; `deadline` answers 408 if it is not complete in time.
        case readingRequest(head: HTTPRequestHead?, deadline: Scheduled<Void>?)
        /// The request is complete and a deferred decision is awaited: reads are held back
        /// (`readPending` once one was asked for) and `deadline` still runs.
        case deciding(deadline: Scheduled<Void>?, readPending: Bool)
        /// An answer (a refusal, or a page) is being written; `closer` closes the connection at
        /// `closesAt` however the write fares (a TLS handshake that never completes holds it back).
        case answering(closer: Scheduled<Void>, closesAt: NIODeadline)
        /// The answer is out and the sending side closed; `closer` closes the rest if the client
        /// does not.
        case lingering(closer: Scheduled<Void>)
        /// Upgraded, or the connection is gone: nothing more happens here.
        case done

        /// Cancels the timer of the current state and leaves it for `done`; returns whether a
        /// read was held back.
        mutating func cancelTimer() -> Bool {
            var readPending = false
            switch self {
            case .readingRequest(_, let deadline):
                deadline?.cancel()
            case .deciding(let deadline, let pending):
                deadline?.cancel()
                readPending = pending
            case .answering(let closer, _), .lingering(let closer):
                closer.cancel()
            case .done:
                break
            }
            self = .done
            return readPending
        }

        /// Whether the request is still being read or decided on: no answer has been given.
        var isUndecided: Bool {
            switch self {
            case .readingRequest, .deciding: true
            case .answering, .lingering, .done: false
            }
        }
    }

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
        let deadline = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.handler.handshakeTimedOut(after: timeout, context: loopBound.value.context)
        }
        state = .readingRequest(head: nil, deadline: deadline)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        _ = state.cancelTimer()
    }

    private func handshakeTimedOut(after timeout: TimeAmount, context: ChannelHandlerContext) {
        let reason: String
        switch state {
        case .readingRequest:
            settings.logger.debug("no complete upgrade request in time", metadata: ["timeout": "\(timeout.readableDescription)"])
            reason = "no complete request within \(timeout.readableDescription)"
        case .deciding:
            settings.logger.debug("the upgrade was not decided in time", metadata: ["timeout": "\(timeout.readableDescription)"])
            reason = "the upgrade was not decided within \(timeout.readableDescription)"
        case .answering, .lingering, .done:
            return
        }
        // The time is up: the answer gets a moment, not the full answer time. A client that
        // never finished a TLS handshake cannot even be answered, and must not keep its
        // connection for twice the timeout.
        respond(status: .requestTimeout, reason: reason, headers: [:], answerTime: Self.timeoutAnswerTime, context: context)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Once the request is complete, what arrives (undecoded, once the decoder is gone) is
        // dropped: an answered connection reads only to let the client finish sending.
        guard case .readingRequest(let head, let deadline) = state else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            state = .readingRequest(head: head, deadline: deadline)
        case .body:
            break
        case .end:
            guard let head else { return }
            handle(head, context: context)
        }
    }

    public func read(context: ChannelHandlerContext) {
        // While a decision is awaited, nothing more is read: bytes after the request (the first
        // frames) wait in the socket, and a client cannot make the server buffer while it decides.
        if case .deciding(let deadline, _) = state {
            state = .deciding(deadline: deadline, readPending: true)
        } else {
            context.read()
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        let undecided = state.isUndecided
        _ = state.cancelTimer()
        if undecided {
            outcome.succeed(.notUpgraded)
        }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard case .readingRequest = state else { return }
        // The HTTP decoder refused the request (malformed, headers too large): answer and close.
        settings.logger.debug("bad HTTP request", metadata: ["error": "\(error)"])
        if let error = error as? HTTPParserError, error == .headerOverflow {
            respond(status: .requestHeaderFieldsTooLarge,
                    reason: "request line and headers over the limit of \(settings.protections.maxHeaderSize) bytes",
                    headers: [:], context: context)
        } else {
            respond(status: .badRequest, reason: "malformed HTTP request", headers: [:], context: context)
        }
    }

    /// Decides on a complete request: plain HTTP gets its page or 426, an invalid upgrade its
    /// 4xx, and a valid one the server's decision.
    private func handle(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let request = UpgradeRequest(head: head, remoteAddress: context.channel.remoteAddress)
        if let plainHTTP = settings.plainHTTP, !ServerHandshake.isUpgradeRequest(head), let page = plainHTTP(request) {
            respond(page, context: context)
            return
        }
        let key: String
        switch settings.check(head, request: request) {
        case .success(let validKey):
            key = validKey
        case .failure(let refusal):
            respond(refusal.response, context: context)
            return
        }
        switch settings.decider {
        case nil:
            apply(.accept(nil), to: request, key: key, context: context)
        case .immediate(let decide):
            apply(decide(request), to: request, key: key, context: context)
        case .deferred(let decide):
            guard case .readingRequest(_, let deadline) = state else { return }
            state = .deciding(deadline: deadline, readPending: false)
            let loopBound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
            decide(request, context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
                loopBound.value.handler.decided(result, request: request, key: key, context: loopBound.value.context)
            }
        }
    }

    /// Whether the server takes another connection now; answers 503 when it does not.
    private func admits(context: ChannelHandlerContext) -> Bool {
        guard let refusal = settings.admissionRefusal() else { return true }
        respond(refusal.response, context: context)
        return false
    }

    /// A deferred decision arrived; ignored when the connection was answered (408) or closed meanwhile.
    private func decided(_ result: Result<UpgradeDecision<ServerConnectionHandover?>, any Error>,
                         request: UpgradeRequest, key: String, context: ChannelHandlerContext) {
        guard case .deciding(let deadline, let readPending) = state else { return }
        // Back to the complete request's state, with the reads it held, for the answer to take over.
        state = .readingRequest(head: nil, deadline: deadline)
        switch result {
        case .success(let decision):
            // The decision may have taken long: the server may have begun to drain, or filled up.
            if admits(context: context) {
                apply(decision, to: request, key: key, context: context)
            }
        case .failure(let error):
            settings.logger.warning("the upgrade decision failed", metadata: ["error": "\(error)", "path": "\(request.path)"])
            respond(status: .internalServerError, reason: "the upgrade could not be decided", headers: [:],
                    context: context)
        }
        // The reads held while deciding go on: into the WebSocket handler, or dropped after an answer.
        if readPending { context.channel.read() }
    }

    private func apply(_ decision: UpgradeDecision<ServerConnectionHandover?>, to request: UpgradeRequest, key: String,
                       context: ChannelHandlerContext) {
        switch decision {
        case .reject(let status, let reason):
            respond(status: status, reason: reason, headers: [:], context: context)
        case .accept(let handover, let subprotocol, let extraHeaders, let routeConfiguration):
            let accepted = AcceptedUpgrade(request: request, key: key, subprotocol: subprotocol,
                                           extraHeaders: extraHeaders,
                                           configuration: routeConfiguration ?? settings.configuration)
            upgrade(accepted, handover: handover ?? settings.handover, context: context)
        }
    }

    private func upgrade(_ accepted: AcceptedUpgrade, handover: ServerConnectionHandover,
                         context: ChannelHandlerContext) {
        _ = state.cancelTimer()
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .switchingProtocols,
                                                             headers: accepted.responseHeaders))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        let upgraded = accepted.makeConnection(on: context.channel, settings: settings, handover: handover)
        let outcome = self.outcome
        do {
            try WebSocketChannelHandler.replaceHTTPHandlers(in: context, with: upgraded.handler.value).whenComplete { _ in
                handover.upgraded?(upgraded)
                outcome.succeed(.upgraded(upgraded))
            }
        } catch {
            settings.logger.error("could not install the WebSocket handler", metadata: ["error": "\(error)"])
            outcome.succeed(.notUpgraded)
            context.close(promise: nil)
        }
    }

    private func respond(status: HTTPResponseStatus, reason: String, headers: HTTPHeaders,
                         answerTime: TimeAmount = answerTime, context: ChannelHandlerContext) {
        respond(UpgradeRefusal(status: status, reason: reason, headers: headers).response, answerTime: answerTime,
                context: context)
    }

    private func respond(_ response: PlainHTTPResponse, answerTime: TimeAmount = answerTime,
                         context: ChannelHandlerContext) {
        let readPending = state.cancelTimer()
        var headers = response.headers
        let status = response.status
        // RFC 9110 §8.6: a 204 or 1xx has no body and may not carry a Content-Length; a 304 has no
        // body either, and its length would be the full response's.
        if status == .noContent || status == .notModified || status.code < 200 {
            headers.remove(name: "Content-Length")
        } else {
            headers.replaceOrAdd(name: "Content-Length", value: String(response.body.readableBytes))
        }
        headers.replaceOrAdd(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        let channel = context.channel
        // From here on, whatever the client sends reaches this handler undecoded and is dropped:
        // the HTTP decoder would keep it all once it has stopped parsing.
        context.pipeline.syncOperations.removeHandler(name: "holdfast.http-decoder", promise: nil)
        // Whatever becomes of the answer, the connection ends within the answer's time.
        let closesAt = context.eventLoop.now + answerTime
        state = .answering(closer: Self.close(channel, at: closesAt), closesAt: closesAt)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            loopBound.value.answerWritten(channel)
        }
        outcome.succeed(.notUpgraded)
        if readPending { context.read() }
    }

    /// The answer is out: closes the sending side, and gives the client the linger time (within
    /// the answer's time) to close its own.
    private func answerWritten(_ channel: any Channel) {
        guard case .answering(let closer, let closesAt) = state else { return }
        closer.cancel()
        state = .lingering(closer: Self.close(channel, at: min(closesAt, channel.eventLoop.now + Self.lingerTime)))
        Self.closeOutput(channel)
    }

    /// How long a refused connection stays open after its answer was written, at most.
    static let lingerTime = TimeAmount.seconds(2)
    /// How long an answer (a refusal, or a page) may take to be written, at most.
    static let answerTime = TimeAmount.seconds(10)
    /// How long the 408 of a handshake that timed out may take, at most: the connection ends
    /// this long after the handshake timeout, whether or not the answer could go out.
    static let timeoutAnswerTime = TimeAmount.seconds(1)

    /// Closes `channel` at `deadline` unless it has closed by then.
    private static func close(_ channel: any Channel, at deadline: NIODeadline) -> Scheduled<Void> {
        channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
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
