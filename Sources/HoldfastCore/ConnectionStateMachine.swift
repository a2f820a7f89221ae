import NIOCore

/// The whole WebSocket protocol of one connection after the upgrade, with no I/O: the lifecycle
/// (open, the close handshake, closed) and every decision, with a machine per concern inside it.
///
/// Bytes, requests and timer events go in (``bytesReceived(_:)``, ``closeRequested(_:timeout:)``,
/// ``send(_:into:separately:)``, ``closeTimeoutFired()``, ``idleCheckDue(now:readingPaused:writesStalledSince:)``,
/// ``keepalivePingDue()``, ``pongDeadlinePassed()``, ``channelInactive()``); commands come out of
/// ``nextAction()`` for the I/O layer to carry out. Received bytes become messages in an
/// `InboundMessageAssembler`; what is sent becomes frames in an `OutboundFramer`; the idle
/// timeout and keepalive pings are an `IdleTimeoutStateMachine` and a
/// `KeepaliveStateMachine`. Every close-code decision is made here: a violation found by the
/// parser, by UTF-8 validation or by close-frame validation fails the connection with the code
/// RFC 6455 names for it. The machine never reads a clock: events that need the time carry it.
public struct ConnectionStateMachine {
    /// A command for the I/O layer, in the order the machine emits them.
    public enum Action: Sendable, Hashable {
        /// Hand a complete message to the application.
        case deliver(WebSocketMessage)
        /// Hand a fragment to the application (``WebSocketConfiguration/ReceiveMode/fragments(maxMessageSize:)``).
        case deliverFragment(WebSocketFragment)
        /// Write these bytes (a pong, a ping or a close frame); flush at the end of the current batch.
        case write(ByteBuffer)
        /// A pong arrived with this payload; it answers the oldest `answeringPings` of the pings
        /// sent with ``encodePing(payload:)`` that still wait (RFC 6455 §5.5.3: an endpoint may
        /// answer only the latest of several pings, so a pong answers every earlier one too).
        case pongReceived(ByteBuffer, answeringPings: Int)
        /// Half-close TCP after the writes before it: the server failing a connection keeps
        /// reading (and discarding) so the peer's last bytes do not turn the close into a reset.
        case shutdownOutput
        /// Close the TCP connection after the writes before it.
        case closeConnection
        /// Close the TCP connection at once, without a close handshake: the peer is taken for dead.
        case abortConnection
        /// Call ``closeTimeoutFired()`` after this long unless the connection has closed by then.
        case scheduleCloseTimeout(TimeAmount)
        /// Call ``idleCheckDue(now:readingPaused:writesStalledSince:)`` at this time, instead of any earlier check.
        case scheduleIdleCheck(at: NIODeadline)
        /// Call ``keepalivePingDue()`` after this long.
        case scheduleKeepalivePing(in: TimeAmount)
        /// Call ``pongDeadlinePassed()`` after this long, unless ``cancelPongDeadline`` comes first.
        case schedulePongDeadline(in: TimeAmount)
        /// The keepalive ping was answered: the deadline scheduled for its pong is void.
        case cancelPongDeadline
    }

    /// What became of a message the application sent (``send(_:into:separately:)``).
    public enum SendDisposition: Sendable, Hashable {
        /// Its frames are in the output.
        case encoded
        /// It waits for the final fragment of the message being sent fragment by fragment (RFC
        /// 6455 §5.4: fragments of two messages must not interleave) and follows it.
        case held
        /// It cannot be sent, for this reason.
        case refused(WebSocketError)
    }

    /// What became of a fragment the application sent (``sendFragment(_:of:isFinal:into:separately:)``).
    public enum FragmentDisposition: Sendable, Hashable {
        /// Its frames are in the output, followed — after a final fragment — by those of the
        /// oldest `releasedHeldMessages` messages that were ``SendDisposition/held``.
        case encoded(releasedHeldMessages: Int)
        /// It cannot be sent, for this reason.
        case refused(WebSocketError)
    }

    /// The closing states are `indirect`: their frames live on the heap once a close begins, so
    /// that an open connection's machine does not carry room for two close frames.
    private enum State {
        /// Messages flow both ways.
        case open
        /// We sent a close frame and wait for the peer's; data still arrives and is delivered.
        indirect case closeSent(CloseFrame)
        /// We failed the connection with this close frame; input is discarded until TCP ends.
        indirect case failed(CloseFrame)
        /// The peer's close frame arrived and ours was sent; only the TCP close remains.
        indirect case closeExchanged(sent: CloseFrame, received: CloseFrame, peerClosedFirst: Bool)
        /// TCP is closed.
        indirect case closed(CloseOutcome)
    }

    /// A ping sent and not yet answered.
    private struct PingAwaitingPong {
        var payload: ByteBuffer
        /// Sent by the keepalive, not by the application.
        var isKeepalive: Bool
    }

    /// How long a close handshake waits for the peer's close frame. (The limits in force live in
    /// the assembler; the machine keeps no copy of the whole configuration, since every
    /// connection holds one machine for its lifetime.)
    private let closeTimeout: TimeAmount

    private var state: State = .open
    private var assembler: InboundMessageAssembler
    /// Internal, not private, for the encoders in ConnectionStateMachine+Encoding.swift.
    var framer: OutboundFramer
    private var inbound = ByteBuffer()
    /// Which end this machine is. (After `inbound`, in the byte its layout leaves free.)
    public let role: Role
    /// An empty buffer to reset `inbound` to without allocating: it shares this one's storage.
    private static let emptyBuffer = ByteBuffer()
    /// Actions queued by one event (a close takes up to three). An array, because an empty one
    /// costs no allocation: most connections never queue anything.
    private var pending: [Action] = []
    /// Pings sent and not yet answered, oldest first.
    private var pingsAwaitingPong: [PingAwaitingPong] = []
    /// The idle timeout and keepalive pings, out of line.
    private var timers: ConnectionTimers
    /// permessage-deflate as agreed in the handshake, if it was.
    public let compression: PerMessageDeflateParameters?
    /// The outbound budget (``WebSocketConfiguration/maxBacklog``) in bytes, `UInt32.max`
    /// without one (a budget is never gigabytes). Four bytes, last: they fit in what the
    /// layout's alignment leaves, so the machine's stride does not grow.
    private let maxBacklog: UInt32

    /// Creates the machine for one upgraded connection.
    /// - Parameters:
    ///   - role: server or client; decides the masking rules and who closes TCP first.
    ///   - configuration: limits, timeouts, the fragment size and keepalive pings.
    ///   - peerLimits: the limits the peer announced; default none. Frames are cut to fit its
    ///     frame limit and messages over its message limit are refused before they are sent.
    ///   - compression: permessage-deflate as agreed in the handshake; default `nil`, none. Its
    ///     level, memory level and minimum size come from `configuration.compression`.
    ///   - randomSource: where a client's masking keys come from; the system's generator by default.
    public init(role: Role, configuration: WebSocketConfiguration = .init(),
                peerLimits: AnnouncedLimits = AnnouncedLimits(maxMessageSize: nil, maxFrameSize: nil),
                compression: PerMessageDeflateParameters? = nil,
                randomSource: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.role = role
        self.closeTimeout = configuration.closeTimeout
        self.maxBacklog = configuration.maxBacklog.map { UInt32(clamping: $0) } ?? .max
        self.assembler = InboundMessageAssembler(role: role, configuration: configuration, compression: compression)
        self.framer = OutboundFramer(role: role, configuration: configuration, peerLimits: peerLimits,
                                     compression: compression, randomSource: randomSource)
        self.timers = ConnectionTimers(configuration: configuration)
        self.compression = compression
    }

    // MARK: - Events

    /// Bytes arrived from the peer. Drain ``nextAction()`` afterwards.
    public mutating func bytesReceived(_ bytes: ByteBuffer) {
        if inbound.readableBytes == 0 {
            inbound = bytes
        } else {
            var bytes = bytes
            inbound.writeBuffer(&bytes)
        }
    }

    /// Bytes arrived from the peer at `now`, which the idle timeout counts from. `now` is
    /// evaluated only when there is an idle timeout, so a connection without one reads no clock.
    /// Drain ``nextAction()`` afterwards.
    public mutating func bytesReceived(_ bytes: ByteBuffer, at now: @autoclosure () -> NIODeadline) {
        if timers.timesReceipts { timers.bytesReceived(at: now()) }
        bytesReceived(bytes)
    }

    /// The connection is ready for traffic (the handshake's handlers are gone): the idle check
    /// and the first keepalive ping are scheduled. Drain ``nextAction()`` afterwards.
    public mutating func connectionStarted() {
        if let idle = timers.idle { pending.append(.scheduleIdleCheck(at: idle.nextCheck)) }
        if let keepalive = timers.keepalive { pending.append(.scheduleKeepalivePing(in: keepalive.interval)) }
    }

    /// The connection is to be closed once nothing arrives for `timeout`, counting from `now`.
    /// Set it before ``connectionStarted()``.
    public mutating func idleTimeoutRequested(_ timeout: TimeAmount, now: NIODeadline) {
        timers.idle = IdleTimeoutStateMachine(timeout: timeout, now: now)
    }

    /// The application (or a shutting-down server) closes the connection with `frame`.
    /// Ignored unless the connection is open. A code that may not appear on the wire (1004–1006,
    /// 1015, unassigned or out of range) is left out: the close frame goes with an empty body.
    /// Drain ``nextAction()`` afterwards.
    /// - Parameters:
    ///   - frame: the close frame to send.
    ///   - timeout: how long to wait for the answer; default the configured close timeout.
    public mutating func closeRequested(_ frame: CloseFrame, timeout: TimeAmount? = nil) {
        guard case .open = state else { return }
        var frame = frame
        if let code = frame.code, !code.isAllowedOnWire { frame = CloseFrame(code: nil) }
        state = .closeSent(frame)
        pending.append(.write(framer.encodeControl(.connectionClose, payload: frame.encoded())))
        pending.append(.scheduleCloseTimeout(timeout ?? closeTimeout))
    }

    /// Nothing arrived from the peer for `timeout` (a server's idle timeout): starts the close
    /// handshake with 1001 Going Away and the reason `nothing received for N s`. Drain
    /// ``nextAction()`` afterwards.
    public mutating func idleTimeoutElapsed(after timeout: TimeAmount) {
        closeRequested(CloseFrame(code: .goingAway, reason: "nothing received for \(timeout.readableDescription)"))
    }

    /// The idle check scheduled with ``Action/scheduleIdleCheck(at:)`` is due at `now`. Closes the
    /// connection (``idleTimeoutElapsed(after:)``) if nothing arrived for the whole timeout, else
    /// schedules the next check. While `readingPaused` (this side stopped reading), the quiet time
    /// counts from `now`. A peer that has read nothing for the whole timeout while writes waited
    /// for it (since `writesStalledSince`, when the socket stopped taking them) is closed with
    /// 1013 and the reason ``CloseFrame/readingStalledReason(after:)``. Drain ``nextAction()``
    /// afterwards.
    public mutating func idleCheckDue(now: NIODeadline, readingPaused: Bool, writesStalledSince: NIODeadline? = nil) {
        guard var idle = timers.idle, canSend else { return }
        let result = idle.checkDue(now: now, readingPaused: readingPaused, writesStalledSince: writesStalledSince)
        timers.idle = idle
        switch result {
        case .elapsed:
            idleTimeoutElapsed(after: idle.timeout)
        case .readingStalled:
            fail(.readingStalled(after: idle.timeout))
        case .checkAgain(let deadline):
            pending.append(.scheduleIdleCheck(at: deadline))
        }
    }

    /// What waits to be written to the peer measured `bytes` while the socket was not writable
    /// and more was about to be sent. Over the outbound budget
    /// (``WebSocketConfiguration/maxBacklog``) the connection is closed with 1013 Try Again Later
    /// and the reason ``CloseFrame/backlogExceededReason(limit:)``: the peer reads too slowly,
    /// and nothing more is sent to it. Drain ``nextAction()`` afterwards.
    public mutating func outboundBacklogMeasured(_ bytes: Int) {
        guard hasOutboundBudget, bytes > Int(maxBacklog), case .open = state else { return }
        // Failed, not merely closed: the peer's behaviour ends the connection, and the outcome
        // says 1013 whether or not the slow reader ever answers.
        fail(.backlogExceeded(limit: Int(maxBacklog)))
    }

    /// Whether the outbound budget is worth measuring: there is one.
    public var hasOutboundBudget: Bool { maxBacklog != .max }

    /// The keepalive ping scheduled with ``Action/scheduleKeepalivePing(in:)`` is due: it is
    /// written, and its pong's deadline scheduled, unless the close handshake began. Drain
    /// ``nextAction()`` afterwards.
    public mutating func keepalivePingDue() {
        guard var keepalive = timers.keepalive, keepalive.pingDue(canSend: canSend) else { return }
        timers.keepalive = keepalive
        pingsAwaitingPong.append(PingAwaitingPong(payload: ByteBuffer(), isKeepalive: true))
        pending.append(.schedulePongDeadline(in: keepalive.pongTimeout))
        pending.append(.write(framer.encodeControl(.ping, payload: ByteBuffer())))
    }

    /// The deadline scheduled with ``Action/schedulePongDeadline(in:)`` passed without the
    /// keepalive ping's pong: the peer is taken for dead and TCP closed at once (the application
    /// sees 1006). Drain ``nextAction()`` afterwards.
    public mutating func pongDeadlinePassed() {
        guard var keepalive = timers.keepalive, keepalive.pongDeadlinePassed() else { return }
        timers.keepalive = keepalive
        pending.append(.abortConnection)
    }

    /// The close timeout scheduled earlier expired. Drain ``nextAction()`` afterwards.
    public mutating func closeTimeoutFired() {
        if case .closed = state { return }
        pending.append(.closeConnection)
    }

    /// The TCP connection ended. Returns how the WebSocket connection ended; calling it again
    /// returns the same outcome.
    public mutating func channelInactive() -> CloseOutcome {
        let outcome: CloseOutcome
        switch state {
        case .open:
            outcome = CloseOutcome(sent: nil, received: nil)
        case .closeSent(let sent):
            outcome = CloseOutcome(sent: sent, received: nil)
        case .failed(let sent):
            outcome = CloseOutcome(sent: sent, received: nil, failedByUs: true)
        case .closeExchanged(let sent, let received, let peerClosedFirst):
            outcome = CloseOutcome(sent: sent, received: received, peerClosedFirst: peerClosedFirst)
        case .closed(let previous):
            return previous
        }
        state = .closed(outcome)
        pending.removeAll()
        pingsAwaitingPong.removeAll()
        framer.dropHeldMessages()
        if var keepalive = timers.keepalive {
            keepalive.stop()
            timers.keepalive = keepalive
        }
        inbound = Self.emptyBuffer
        return outcome
    }

    // MARK: - State

    /// Whether the application may still send data (RFC 6455 §5.5.1: not after a close frame).
    public var canSend: Bool {
        if case .open = state { return true }
        return false
    }

    /// Received bytes held in memory: unparsed input, the incomplete frame, and the message being
    /// reassembled. Bounded by the limits, whatever the peer declares.
    public var bufferedBytes: Int {
        inbound.readableBytes + assembler.bufferedBytes
    }

    /// The close frame the peer sent, once it has.
    public var receivedCloseFrame: CloseFrame? {
        switch state {
        case .closeExchanged(_, let received, _): return received
        case .closed(let outcome): return outcome.received
        case .open, .closeSent, .failed: return nil
        }
    }

    /// Whether a message sent fragment by fragment is between its first and final fragment; no
    /// other message may start until it ends (RFC 6455 §5.4).
    public var isSendingFragmentedMessage: Bool { framer.isSendingFragmentedMessage }

    /// How the connection ended, once TCP has closed (what ``channelInactive()`` returned).
    public var closeOutcome: CloseOutcome? {
        if case .closed(let outcome) = state { return outcome }
        return nil
    }

    /// Whether the connection has fully ended.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// The limits the peer announced in the handshake.
    public var peerLimits: AnnouncedLimits { framer.peerLimits }

    /// Why nothing more can be sent, or why a message of `messageSize` bytes would be refused;
    /// `nil` when it may be sent. A peer that closed with 1009 refused something sent to it: the
    /// error says so, with the limit its reason names.
    public func sendRefusal(messageSize: Int?) -> WebSocketError? {
        guard canSend else {
            if let received = receivedCloseFrame, received.code == .messageTooBig {
                return .messageTooBig(limit: received.namedLimit ?? peerLimits.maxMessageSize, reason: received.reason)
            }
            return isClosed ? .connectionClosed(closeOutcome) : .connectionClosing
        }
        guard let messageSize else { return nil }
        return peerLimits.refusal(ofMessageSize: messageSize)
    }

    // MARK: - Actions

    /// The next command for the I/O layer, or `nil` when all received bytes are processed.
    public mutating func nextAction() -> Action? {
        if let action = popPending() { return action }
        while inbound.readableBytes > 0 {
            switch state {
            case .open, .closeSent:
                break
            case .failed, .closeExchanged, .closed:
                // RFC 6455 §5.5.1 / §7.1.7: nothing after the close handshake or a failure is processed.
                inbound = Self.emptyBuffer
                return nil
            }
            guard let event = assembler.nextEvent(from: &inbound) else { break }
            if let action = handle(event) { return action }
            if let action = popPending() { return action }
        }
        // All input is consumed; drop the read buffer so an idle connection holds none.
        inbound = Self.emptyBuffer
        return nil
    }

    private mutating func popPending() -> Action? {
        pending.isEmpty ? nil : pending.removeFirst()
    }

    // MARK: - Sending (the lower-level encoders are in ConnectionStateMachine+Encoding.swift)

    /// Sends `message` with the connection's fragment size: encodes it into `output` (see
    /// ``encode(_:fragmentSize:into:separately:)``), holds it while a message sent fragment by
    /// fragment is in progress, or refuses it (see ``sendRefusal(messageSize:)``).
    public mutating func send(_ message: WebSocketMessage, into output: inout ByteBuffer,
                              separately: SeparateWrite) -> SendDisposition {
        if let refusal = sendRefusal(messageSize: message.data.readableBytes) { return .refused(refusal) }
        return framer.sendOrHold(message, into: &output, separately: separately) ? .encoded : .held
    }

    /// Sends the next piece of a message sent fragment by fragment with the connection's fragment
    /// size (see ``encodeFragment(_:of:isFinal:fragmentSize:into:separately:)``), or refuses it
    /// once the close handshake began. After the final piece, the messages held meanwhile follow.
    public mutating func sendFragment(_ data: ByteBuffer, of kind: WebSocketMessage.Kind, isFinal: Bool,
                                      into output: inout ByteBuffer, separately: SeparateWrite) -> FragmentDisposition {
        if let refusal = sendRefusal(messageSize: nil) { return .refused(refusal) }
        let released = framer.sendFragment(data, of: kind, isFinal: isFinal, fragmentSize: framer.fragmentSize,
                                           into: &output, separately: separately)
        return .encoded(releasedHeldMessages: released)
    }

    /// A ping frame with `payload` (at most 125 bytes), or `nil` once the close handshake began.
    /// The ping then waits for its pong: ``Action/pongReceived(_:answeringPings:)`` counts it.
    public mutating func encodePing(payload: ByteBuffer = ByteBuffer()) -> ByteBuffer? {
        try? pingRequested(payload: payload).get()
    }

    /// The application sends a ping with `payload`: the frame to write, after which the ping
    /// waits for its pong (``Action/pongReceived(_:answeringPings:)`` counts it), or why it
    /// cannot be sent — RFC 6455 §5.5: "All control frames MUST have a payload length of 125
    /// bytes or less"; §5.5.1: nothing but a pong after a close frame.
    public mutating func pingRequested(payload: ByteBuffer) -> Result<ByteBuffer, WebSocketError> {
        guard payload.readableBytes <= 125 else { return .failure(.controlPayloadTooLong(payload.readableBytes)) }
        guard canSend else { return .failure(.connectionClosing) }
        pingsAwaitingPong.append(PingAwaitingPong(payload: payload, isKeepalive: false))
        return .success(framer.encodeControl(.ping, payload: payload))
    }

    // MARK: - Received frames

    private mutating func handle(_ event: InboundMessageAssembler.Event) -> Action? {
        switch event {
        case .message(let message):
            return .deliver(message)
        case .fragment(let fragment):
            return .deliverFragment(fragment)
        case .ping(let payload):
            // RFC 6455 §5.5.2: answer with a pong carrying the same payload "unless it already received
            // a Close frame" — so also after sending ours, which §5.5.1 stops only data frames after.
            switch state {
            case .open, .closeSent: return .write(framer.encodeControl(.pong, payload: payload))
            case .failed, .closeExchanged, .closed: return nil
            }
        case .pong(let payload):
            return pongReceived(payload)
        case .close(let received):
            return closeFrameReceived(received)
        case .failure(let error):
            fail(error)
            return popPending()
        }
    }

    /// RFC 6455 §5.5.3: a pong answers the ping with its payload, and — since an endpoint may
    /// answer only the latest of several pings — every ping sent before that one.
    private mutating func pongReceived(_ payload: ByteBuffer) -> Action {
        var answeredPings = 0
        var answersKeepalive = false
        if let index = pingsAwaitingPong.firstIndex(where: { $0.payload == payload }) {
            for ping in pingsAwaitingPong[...index] {
                if ping.isKeepalive { answersKeepalive = true } else { answeredPings += 1 }
            }
            pingsAwaitingPong.removeFirst(index + 1)
        }
        if answersKeepalive, var keepalive = timers.keepalive, keepalive.pongReceived() {
            timers.keepalive = keepalive
            // Answered: the next ping goes one interval after the answer.
            pending.append(.cancelPongDeadline)
            pending.append(.scheduleKeepalivePing(in: keepalive.interval))
        }
        return .pongReceived(payload, answeringPings: answeredPings)
    }

    private mutating func closeFrameReceived(_ received: CloseFrame) -> Action? {
        switch state {
        case .open:
            // RFC 6455 §5.5.1: answer with a close frame, echoing the code.
            let answer = CloseFrame(code: received.code)
            state = .closeExchanged(sent: answer, received: received, peerClosedFirst: true)
            pending.append(.write(framer.encodeControl(.connectionClose, payload: answer.encoded())))
            appendEndOfHandshake()
        case .closeSent(let sent):
            state = .closeExchanged(sent: sent, received: received, peerClosedFirst: false)
            // A client already has its close timeout running; it now waits for the server's TCP close.
            if role == .server { pending.append(.closeConnection) }
        case .failed, .closeExchanged, .closed:
            break
        }
        inbound = Self.emptyBuffer
        return popPending()
    }

    /// RFC 6455 §7.1.1: the server closes TCP first; a client waits for it, within the timeout.
    private mutating func appendEndOfHandshake() {
        switch role {
        case .server: pending.append(.closeConnection)
        case .client: pending.append(.scheduleCloseTimeout(closeTimeout))
        }
    }

    /// RFC 6455 §7.1.7, "Fail the WebSocket Connection": send a close frame with the error's code
    /// (unless one was sent already), then end TCP and discard whatever else arrives.
    private mutating func fail(_ error: WebSocketProtocolError) {
        inbound = Self.emptyBuffer
        assembler.discardMessage()
        switch state {
        case .open:
            let frame = CloseFrame(code: error.code, reason: error.reason)
            state = .failed(frame)
            pending.append(.write(framer.encodeControl(.connectionClose, payload: frame.encoded())))
            if role == .server { pending.append(.shutdownOutput) }
            pending.append(.scheduleCloseTimeout(closeTimeout))
        case .closeSent(let sent):
            // Our close frame is already out; the peer broke the protocol while answering it.
            state = .failed(sent)
            pending.append(.closeConnection)
        case .failed, .closeExchanged, .closed:
            break
        }
    }
}
