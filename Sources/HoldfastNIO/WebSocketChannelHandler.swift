import HoldfastCore
import Logging
import NIOCore

/// The one channel handler of an upgraded connection: it feeds received bytes, channel events and
/// timer events to a `ConnectionStateMachine` and carries out the actions it returns. It makes
/// no protocol decision of its own: what it keeps is what the machine must not hold — promises,
/// scheduled tasks, the channel.
///
/// Received messages go to an `AsyncSequence` whose consumer paces the reading: when it falls
/// behind, the handler stops asking the channel to read. Writes are batched: everything written
/// while handling one read, or during one event-loop tick, goes out with a single flush.
public final class WebSocketChannelHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// What the application receives: whole messages, or fragments in
    /// `WebSocketConfiguration/ReceiveMode/fragments(maxMessageSize:)`.
    public enum InboundElement: Sendable, Hashable {
        /// A whole message.
        case message(WebSocketMessage)
        /// A fragment of a message.
        case fragment(WebSocketFragment)
    }

    /// The sequence of received messages or fragments, paced by its consumer.
    public typealias Inbound = NIOAsyncSequenceProducer<
        InboundElement, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, InboundDelegate
    >

    // The state the sending and output extensions (WebSocketChannelHandler+Sending.swift,
    // WebSocketChannelHandler+Output.swift) share is internal, not private; nothing outside this
    // type touches it.
    var machine: ConnectionStateMachine
    let logger: Logger
    /// The limits the peer announced in the handshake, if any.
    public var peerLimits: AnnouncedLimits { machine.peerLimits }
    /// For each message the machine holds until a fragmented message ends (RFC 6455 §5.4), its
    /// size (to count it once sent) and the promise of whoever waits for it, oldest first.
    var heldSends: [(size: Int, promise: EventLoopPromise<Void>?)] = []
    /// What tasks send, written in batches (see ``OutboundQueue``). Set by ``makeOutboundQueue()``.
    public private(set) var outbound: OutboundQueue?
    var context: ChannelHandlerContext?
    private var source: Inbound.Source?
    private var received: [InboundElement] = []
    /// The event-loop-bound API's receiver: when set, each message goes straight to it.
    private var inboundCallback: ((InboundElement) -> Void)?
    /// Counts the data messages received and sent (a server's statistics); set before the
    /// handler is added to the pipeline. Default `nil`: nothing is counted.
    public var trafficObserver: (any WebSocketTrafficObserver)?
    /// The idle check and keepalive tasks the machine asked for; `nil` until it asks for one.
    private var scheduledTimers: ScheduledTimers?
    /// Until the HTTP handlers have left the pipeline, received bytes wait here: nothing may be
    /// written while a write would still pass through them.
    private var bytesBeforeActivation: [ByteBuffer]? = []
    /// Frames encoded since the last write to the channel: everything sent in one read or one
    /// event-loop tick goes out as one buffer: no allocation per frame, and, with
    /// ``spareOutput``, none per batch in steady state.
    var batch = ByteBuffer()
    // The flags sit together after `batch`, in the room its layout leaves: every connection
    // holds a handler, so padding between them would be paid per connection.
    var isReading = false
    var needsFlush = false
    var outboundRefused = false
    var flushScheduled = false
    private var readPaused = false
    /// Reading paused because the event-loop API wrote more than the socket takes.
    var pausedForWritability = false
    private var readPending = false
    /// The output memory this event loop's connections share for their batches; set before the
    /// handler is added to the pipeline. Default `nil`: each batch allocates its buffer.
    public var spareOutput: SpareOutputBuffer?
    private var closeTimeout: Scheduled<Void>?
    var writabilityWaiters: [EventLoopPromise<Void>] = []
    /// The promises of the application's pings not yet answered, oldest first; the machine
    /// decides which pings a pong answers.
    var pongPromises: [EventLoopPromise<Void>] = []
    /// Who learns how the connection ended: the one way the handler reports its end.
    private var closeObservers = CloseObservers()
    /// Called when the server that accepted the connection asks its connections to wind down
    /// (NIO's `ChannelShouldQuiesceEvent`, which Hummingbird and Vapor send on a graceful
    /// shutdown). Default `nil`: the event goes on down the pipeline.
    public var quiesceRequested: (() -> Void)?

    /// Creates the handler for a connection upgraded on `eventLoop`.
    /// - Parameters:
    ///   - role: server or client.
    ///   - configuration: limits and timeouts.
    ///   - peerLimits: the limits the peer announced; frames are cut to fit its frame limit and
    ///     messages over its message limit are refused before they are sent.
    ///   - compression: permessage-deflate as agreed in the handshake; default `nil`, none.
    ///   - eventLoop: the channel's event loop; the close outcome completes there.
    ///   - logger: where protocol failures are logged.
    public init(role: Role, configuration: WebSocketConfiguration, peerLimits: AnnouncedLimits = .init(maxMessageSize: nil, maxFrameSize: nil),
                compression: PerMessageDeflateParameters? = nil, eventLoop: any EventLoop, logger: Logger) {
        self.machine = ConnectionStateMachine(role: role, configuration: configuration, peerLimits: peerLimits,
                                              compression: compression)
        self.logger = logger
        self.eventLoop = eventLoop
    }

    /// The event loop of the connection: every call on the handler is made there.
    public let eventLoop: any EventLoop

    /// Succeeds with how the connection ended once TCP has closed: a ``whenClosed(runFirst:_:)``
    /// observer completes it. Ask on the event loop, once the connection is served: each request
    /// before the end makes a promise.
    public var closeOutcome: EventLoopFuture<CloseOutcome> {
        if let outcome = machine.closeOutcome { return eventLoop.makeSucceededFuture(outcome) }
        let promise = eventLoop.makePromise(of: CloseOutcome.self)
        closeObservers.append { promise.succeed($0) }
        return promise.futureResult
    }

    /// Calls `callback` on the event loop with how the connection ended, once TCP has closed (at
    /// once if it has) — the one way the handler reports its end, behind ``closeOutcome`` and
    /// the `closed` callback of ``deliverOnEventLoop(received:closed:)`` alike. Callbacks run in
    /// the order they were registered. Call on the event loop.
    /// - Parameters:
    ///   - runFirst: run before the callbacks registered so far; default `false`. For a server's
    ///     bookkeeping, so that its application and whoever awaits ``closeOutcome`` find the
    ///     connection already counted as ended.
    ///   - callback: what to call with the outcome.
    public func whenClosed(runFirst: Bool = false, _ callback: @escaping (CloseOutcome) -> Void) {
        if let outcome = machine.closeOutcome {
            callback(outcome)
        } else if runFirst {
            closeObservers.prepend(callback)
        } else {
            closeObservers.append(callback)
        }
    }

    /// Makes the sequence of received messages for this handler. Call once, on the event loop,
    /// before the handler is added to the pipeline.
    public func makeInboundSequence(lowWatermark: Int = 2, highWatermark: Int = 32) -> Inbound {
        let sequence = Inbound.makeSequence(
            backPressureStrategy: .init(lowWatermark: lowWatermark, highWatermark: highWatermark),
            finishOnDeinit: true,
            delegate: InboundDelegate(handler: NIOLoopBound(self, eventLoop: eventLoop))
        )
        source = sequence.source
        return sequence.sequence
    }

    /// Makes the queue through which tasks send on this connection. Call once, on the event
    /// loop, before the handler is added to the pipeline.
    public func makeOutboundQueue() -> OutboundQueue {
        let loopBound = NIOLoopBound(self, eventLoop: eventLoop)
        let queue = OutboundQueue { [eventLoop] in
            eventLoop.execute { loopBound.value.drainOutbound() }
        }
        outbound = queue
        return queue
    }

    /// Delivers what arrives to `received` on the event loop, as it is parsed, instead of to an
    /// `AsyncSequence` — the event-loop-bound API, with no task or thread hop per message — and
    /// how the connection ended to `closed` (a ``whenClosed(runFirst:_:)`` callback). Call once,
    /// on the event loop, instead of ``makeInboundSequence(lowWatermark:highWatermark:)``.
    public func deliverOnEventLoop(received: @escaping (InboundElement) -> Void,
                                   closed: @escaping (CloseOutcome) -> Void) {
        inboundCallback = received
        whenClosed(closed)
    }

    // MARK: - Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard bytesBeforeActivation == nil else {
            bytesBeforeActivation?.append(unwrapInboundIn(data))
            return
        }
        isReading = true
        machine.bytesReceived(unwrapInboundIn(data), at: context.eventLoop.now)
        runActions(context: context)
    }

    /// Starts processing: call once the handshake's HTTP handlers are gone from the pipeline.
    /// Bytes that arrived with the handshake's last packet are processed now.
    public func activate() {
        guard let early = bytesBeforeActivation else { return }
        bytesBeforeActivation = nil
        guard let context else { return }
        machine.connectionStarted()
        for bytes in early { machine.bytesReceived(bytes) }
        runActions(context: context)
        flushIfNeeded(context: context)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        isReading = false
        deliverReceived()
        flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    /// Closes the connection with 1001 Going Away (reason `nothing received for N s`) once
    /// no message, ping or pong has arrived for `timeout`. Call once, on the event loop, before
    /// the handler is added to the pipeline. Time is the event loop's (`EventLoop.now`).
    public func closeWhenIdle(for timeout: TimeAmount) {
        machine.idleTimeoutRequested(timeout, now: eventLoop.now)
    }

    /// Stops handing what arrives to the event-loop callbacks of
    /// ``deliverOnEventLoop(received:closed:)``: for a connection a server closes right after its
    /// upgrade (shutting down, or over its connection limit), which its handler never heard of.
    /// Every close callback registered so far is forgotten with `closed`: such a connection has
    /// no other observer.
    public func stopDelivering() {
        inboundCallback = { _ in }
        closeObservers.removeAll()
    }

    // MARK: - Timer events, handed to the machine

    private func idleCheckDue() {
        guard let context else { return }
        let wasOpen = machine.canSend
        // This side stopped reading (a slow consumer, a full socket): the peer may be sending.
        machine.idleCheckDue(now: context.eventLoop.now, readingPaused: readPaused || pausedForWritability,
                             writesStalledSince: scheduledTimers?.writesStalledSince)
        if wasOpen, !machine.canSend { logger.debug("closing an idle connection") }
        runActions(context: context)
        flushIfNeeded(context: context)
    }

    private func keepalivePingDue() {
        guard let context else { return }
        machine.keepalivePingDue()
        runActions(context: context)
        flushIfNeeded(context: context)
    }

    private func pongDeadlinePassed() {
        guard let context else { return }
        machine.pongDeadlinePassed()
        runActions(context: context)
    }

    private func closeTimeoutFired() {
        guard let context else { return }
        logger.debug("close handshake timed out; closing TCP")
        closeTimeout = nil
        machine.closeTimeoutFired()
        runActions(context: context)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        closeTimeout?.cancel()
        closeTimeout = nil
        scheduledTimers?.cancelAll()
        scheduledTimers = nil
        deliverReceived()
        let outcome = machine.channelInactive()
        source?.finish()
        source = nil
        for waiter in writabilityWaiters { waiter.fail(WebSocketError.connectionClosed(outcome)) }
        writabilityWaiters.removeAll()
        for promise in pongPromises { promise.fail(WebSocketError.connectionClosed(outcome)) }
        pongPromises.removeAll()
        for (_, promise) in heldSends { promise?.fail(WebSocketError.connectionClosed(outcome)) }
        heldSends.removeAll()
        refuseOutbound()
        // The queue's drain closure holds this handler: letting go of the queue breaks the cycle
        // (handler → queue → closure → handler) that kept every closed connection of the async
        // API alive. Senders still holding the queue get its refusal.
        outbound = nil
        closeObservers.notify(outcome)
        inboundCallback = nil
        context.fireChannelInactive()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        let isWritable = context.channel.isWritable
        outbound?.setWritable(isWritable)
        // Kept here, not in the machine: writability changes inside a write the machine is
        // making (a large payload written as it is), and the machine is told at the idle check.
        if let scheduledTimers {
            scheduledTimers.writesStalledSince = isWritable ? nil : scheduledTimers.writesStalledSince ?? context.eventLoop.now
        }
        // A peer that does not read gets nothing more read from it either: whatever this side
        // writes (echoes, pongs, close frames, pushes) stays within the socket's buffers and the
        // channel's high watermark, and what the peer sends waits in its own socket.
        if !isWritable { pausedForWritability = true }
        if context.channel.isWritable, pausedForWritability {
            pausedForWritability = false
            if readPending {
                readPending = false
                context.read()
            }
        }
        if context.channel.isWritable {
            let waiters = writabilityWaiters
            writabilityWaiters.removeAll()
            for waiter in waiters { waiter.succeed() }
        }
        context.fireChannelWritabilityChanged()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, let quiesceRequested {
            quiesceRequested()
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("WebSocket connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    public func read(context: ChannelHandlerContext) {
        // Backpressure: while the consumer is behind, or the socket full, hold the read.
        if readPaused || pausedForWritability {
            readPending = true
        } else {
            context.read()
        }
    }

    /// Starts the close handshake with `frame`, waiting `timeout` (default: the configured close
    /// timeout) for the peer's answer; returns how the connection ended once TCP closed.
    public func close(_ frame: CloseFrame, timeout: TimeAmount? = nil) -> EventLoopFuture<CloseOutcome> {
        guard let context else { return closeOutcome }
        machine.closeRequested(frame, timeout: timeout)
        runActions(context: context)
        flushIfNeeded(context: context)
        return closeOutcome
    }

    /// Closes the TCP connection at once, without a close handshake.
    public func abort() {
        context?.close(promise: nil)
    }

    // MARK: - Backpressure

    func resumeReading() {
        readPaused = false
        if readPending, !pausedForWritability, let context {
            readPending = false
            context.read()
        }
    }

    private func deliverReceived() {
        guard !received.isEmpty else { return }
        let batch = received
        received.removeAll(keepingCapacity: true)
        guard let source else { return }
        switch source.yield(contentsOf: batch) {
        case .stopProducing: readPaused = true
        case .produceMore, .dropped: break
        }
    }

    // MARK: - Executing the state machine's actions

    func runActions(context: ChannelHandlerContext) {
        while let action = machine.nextAction() {
            switch action {
            case .deliver(let message):
                trafficObserver?.received(bytes: message.data.readableBytes, endsMessage: true)
                if let inboundCallback { inboundCallback(.message(message)) } else { received.append(.message(message)) }
            case .deliverFragment(let fragment):
                trafficObserver?.received(bytes: fragment.data.readableBytes, endsMessage: fragment.isFinal)
                if let inboundCallback { inboundCallback(.fragment(fragment)) } else { received.append(.fragment(fragment)) }
            case .write(let bytes):
                writeBatch(context: context)
                context.write(wrapOutboundOut(bytes), promise: nil)
                needsFlush = true
            case .pongReceived(_, let answeredPings):
                if answeredPings > 0 {
                    let answered = pongPromises.prefix(answeredPings)
                    pongPromises.removeFirst(answeredPings)
                    for promise in answered { promise.succeed() }
                }
            case .shutdownOutput:
                writeBatch(context: context)
                context.flush()
                needsFlush = false
                context.close(mode: .output, promise: nil)
            case .closeConnection:
                // Close after everything written so far has reached the socket.
                let written = context.eventLoop.makePromise(of: Void.self)
                writeBatch(context: context)
                context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: written)
                needsFlush = false
                let channel = context.channel
                written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            case .abortConnection:
                logger.info("no pong to a keepalive ping; closing the connection as dead")
                context.close(promise: nil)
            case .scheduleCloseTimeout(let delay):
                closeTimeout?.cancel()
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                closeTimeout = context.eventLoop.scheduleTask(in: delay) {
                    loopBound.value.closeTimeoutFired()
                }
            case .scheduleIdleCheck(let deadline):
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                timersToSchedule().idleCheck = context.eventLoop.scheduleTask(deadline: deadline) {
                    loopBound.value.idleCheckDue()
                }
            case .scheduleKeepalivePing(let delay):
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                timersToSchedule().keepalivePing = context.eventLoop.scheduleTask(in: delay) {
                    loopBound.value.keepalivePingDue()
                }
            case .schedulePongDeadline(let delay):
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                timersToSchedule().pongDeadline = context.eventLoop.scheduleTask(in: delay) {
                    loopBound.value.pongDeadlinePassed()
                }
            case .cancelPongDeadline:
                scheduledTimers?.pongDeadline = nil
            }
        }
        if !isReading {
            deliverReceived()
        }
        refuseOutbound()
    }

    /// Where scheduled idle checks and keepalive tasks are kept, made on first use: a connection
    /// without an idle timeout or keepalive never makes it.
    private func timersToSchedule() -> ScheduledTimers {
        if let scheduledTimers { return scheduledTimers }
        let made = ScheduledTimers()
        scheduledTimers = made
        return made
    }
}
