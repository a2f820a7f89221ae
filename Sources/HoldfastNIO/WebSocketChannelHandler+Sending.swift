import HoldfastCore
import NIOCore

// MARK: - Sending (on the event loop)

/// What the application sends, handed to the machine, which encodes, holds or refuses it; the
/// handler keeps the promises and the writability waiters.
extension WebSocketChannelHandler {
    /// Sends `message` from the event loop without a future: it is written at once and flushed
    /// with the rest of the current read or event-loop tick. While the socket is not writable,
    /// reading pauses, so a peer that does not read cannot make its echoes pile up.
    /// - Throws: why it cannot be sent.
    public func write(_ message: WebSocketMessage) throws(WebSocketError) {
        guard let context else {
            throw machine.sendRefusal(messageSize: message.data.readableBytes) ?? .connectionClosed(nil)
        }
        switch encode(message, context: context) {
        case .refused(let refusal):
            throw refusal
        case .held:
            heldSends.append((message.data.readableBytes, nil))
        case .encoded:
            scheduleFlush(context: context)
            if !context.channel.isWritable { pausedForWritability = true }
        }
    }

    /// Sends `message`. The future succeeds once the message is queued and the channel is
    /// writable again, so a sender that awaits it never has more than the channel's write buffer
    /// (plus this message) outstanding.
    public func send(_ message: WebSocketMessage) -> EventLoopFuture<Void> {
        guard let context else {
            let refusal = machine.sendRefusal(messageSize: message.data.readableBytes) ?? .connectionClosed(nil)
            return eventLoop.makeFailedFuture(refusal)
        }
        switch encode(message, context: context) {
        case .refused(let refusal):
            return eventLoop.makeFailedFuture(refusal)
        case .held:
            let sent = context.eventLoop.makePromise(of: Void.self)
            heldSends.append((message.data.readableBytes, sent))
            return sent.futureResult
        case .encoded:
            return afterWrite(context: context)
        }
    }

    /// Whether the socket takes more without waiting: a producer that paces itself sends while
    /// it does and then waits on ``send(_:)``'s future. False once the connection has ended.
    public var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Hands `message` to the machine, which encodes it into the batch, holds it while a
    /// fragmented message is being sent, or refuses it.
    func encode(_ message: WebSocketMessage, context: ChannelHandlerContext)
        -> ConnectionStateMachine.SendDisposition
    {
        checkOutboundBudget(context: context)
        // Only a message that may go out now takes the event loop's spare memory.
        if machine.canSend, !machine.isSendingFragmentedMessage { startBatchIfNeeded() }
        let disposition = machine.send(message, into: &batch) { writeSeparately(&$0, $1, context: context) }
        if case .encoded = disposition {
            trafficObserver?.sent(bytes: message.data.readableBytes, endsMessage: true)
        }
        return disposition
    }

    /// Hands the next piece of a fragmented message to the machine; after the final one, the
    /// messages it held meanwhile went out with it.
    func encodeFragment(_ data: ByteBuffer, of kind: WebSocketMessage.Kind, isFinal: Bool,
                                context: ChannelHandlerContext) -> ConnectionStateMachine.FragmentDisposition {
        checkOutboundBudget(context: context)
        if machine.canSend { startBatchIfNeeded() }
        let disposition = machine.sendFragment(data, of: kind, isFinal: isFinal, into: &batch) {
            writeSeparately(&$0, $1, context: context)
        }
        guard case .encoded(let released) = disposition else { return disposition }
        trafficObserver?.sent(bytes: data.readableBytes, endsMessage: isFinal)
        if released > 0 {
            let sent = heldSends.prefix(released)
            heldSends.removeFirst(released)
            for (size, promise) in sent {
                trafficObserver?.sent(bytes: size, endsMessage: true)
                if let promise { afterWrite(context: context).cascade(to: promise) }
            }
        }
        return disposition
    }

    /// Before more is sent to a peer that is not reading (the socket is not writable), tells the
    /// machine what waits for it — the channel's buffered bytes and the batch — so that it
    /// closes a connection over its outbound budget (1013) rather than let the backlog grow.
    /// A writable socket costs one check.
    func checkOutboundBudget(context: ChannelHandlerContext) {
        guard machine.hasOutboundBudget, !context.channel.isWritable else { return }
        let buffered = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        let wasOpen = machine.canSend
        machine.outboundBacklogMeasured(buffered + batch.readableBytes)
        guard wasOpen, !machine.canSend else { return }
        logger.info("closing a connection that reads too slowly", metadata: ["backlog": "\(buffered + batch.readableBytes)"])
        trafficObserver?.backlogExceeded()
        runActions(context: context)
        flushIfNeeded(context: context)
    }

    /// Writes everything tasks queued since the last drain, then flushes once.
    func drainOutbound() {
        guard let outbound else { return }
        let items = outbound.takeAll()
        guard let context else { return }
        for item in items {
            // RFC 6455 §5.5.1: nothing after a close frame; what was queued meanwhile is dropped.
            guard machine.canSend else { break }
            switch item {
            case .message(let message):
                if case .held = encode(message, context: context) { heldSends.append((message.data.readableBytes, nil)) }
            case .fragment(let data, let kind, let isFinal):
                _ = encodeFragment(data, of: kind, isFinal: isFinal, context: context)
            }
        }
        needsFlush = true
        flushIfNeeded(context: context)
        outbound.setWritable(context.channel.isWritable)
    }

    /// Once the close handshake has begun, tells senders why nothing more goes out.
    func refuseOutbound() {
        guard !outboundRefused, !machine.canSend, let outbound else { return }
        outboundRefused = true
        outbound.refuse(machine.sendRefusal(messageSize: nil) ?? .connectionClosing)
    }

    /// Sends the next piece of a message sent fragment by fragment (see
    /// `ConnectionStateMachine/sendFragment(_:of:isFinal:into:separately:)`). Suspends like
    /// ``send(_:)`` while the channel is not writable.
    public func sendFragment(_ data: ByteBuffer, of kind: WebSocketMessage.Kind, isFinal: Bool) -> EventLoopFuture<Void> {
        guard let context else {
            return eventLoop.makeFailedFuture(machine.sendRefusal(messageSize: nil) ?? .connectionClosed(nil))
        }
        switch encodeFragment(data, of: kind, isFinal: isFinal, context: context) {
        case .refused(let refusal): return eventLoop.makeFailedFuture(refusal)
        case .encoded: return afterWrite(context: context)
        }
    }

    func afterWrite(context: ChannelHandlerContext) -> EventLoopFuture<Void> {
        scheduleFlush(context: context)
        if context.channel.isWritable { return context.eventLoop.makeSucceededVoidFuture() }
        let waiter = context.eventLoop.makePromise(of: Void.self)
        writabilityWaiters.append(waiter)
        return waiter.futureResult
    }

    /// Sends a ping with `payload` (at most 125 bytes). The future succeeds when the pong with
    /// the same payload arrives (RFC 6455 §5.5.3: an endpoint may answer only the latest ping,
    /// so a pong also answers every earlier ping still waiting).
    public func sendPing(_ payload: ByteBuffer) -> EventLoopFuture<Void> {
        guard let context else { return eventLoop.makeFailedFuture(WebSocketError.connectionClosed(nil)) }
        let frame: ByteBuffer
        switch machine.pingRequested(payload: payload) {
        case .success(let ping): frame = ping
        case .failure(let refusal): return context.eventLoop.makeFailedFuture(refusal)
        }
        writeBatch(context: context)
        context.write(wrapOutboundOut(frame), promise: nil)
        scheduleFlush(context: context)
        let pong = context.eventLoop.makePromise(of: Void.self)
        pongPromises.append(pong)
        return pong.futureResult
    }
}
