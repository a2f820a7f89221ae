import NIOCore

/// The whole WebSocket protocol of one connection after the upgrade, with no I/O.
///
/// Bytes and events go in (``bytesReceived(_:)``, ``closeRequested(_:)``, ``closeTimeoutFired()``,
/// ``channelInactive()``); commands come out of ``nextAction()`` for the I/O layer to carry out.
/// Every close-code decision is made here: a violation found by the parser, by UTF-8 validation or
/// by close-frame validation fails the connection with the code RFC 6455 names for it.
public struct ConnectionStateMachine {
    /// A command for the I/O layer, in the order the machine emits them.
    public enum Action: Sendable, Hashable {
        /// Hand a complete message to the application.
        case deliver(WebSocketMessage)
        /// Write these bytes (a pong or a close frame); flush at the end of the current batch.
        case write(ByteBuffer)
        /// A pong arrived with this payload (keepalive bookkeeping).
        case pongReceived(ByteBuffer)
        /// Half-close TCP after the writes before it: the server failing a connection keeps
        /// reading (and discarding) so the peer's last bytes do not turn the close into a reset.
        case shutdownOutput
        /// Close the TCP connection after the writes before it.
        case closeConnection
        /// Call ``closeTimeoutFired()`` after this long unless the connection has closed by then.
        case scheduleCloseTimeout(TimeAmount)
    }

    private enum State {
        /// Messages flow both ways.
        case open
        /// We sent a close frame and wait for the peer's; data still arrives and is delivered.
        case closeSent(CloseFrame)
        /// We failed the connection with this close frame; input is discarded until TCP ends.
        case failed(CloseFrame)
        /// The peer's close frame arrived and ours was sent; only the TCP close remains.
        case closeExchanged(sent: CloseFrame, received: CloseFrame)
        /// TCP is closed.
        case closed(CloseOutcome)
    }

    private struct MessageInProgress {
        var kind: WebSocketMessage.Kind
        var data: ByteBuffer
    }

    /// Which end this machine is.
    public let role: Role
    /// The limits and timeouts in force.
    public let configuration: WebSocketConfiguration

    private var state: State = .open
    private var parser: FrameParser
    private var inbound = ByteBuffer()
    private var pending = CircularBuffer<Action>(initialCapacity: 4)
    private var message: MessageInProgress?
    private var textValidator = UTF8Validator()
    /// Bytes of the frame now arriving that were validated as UTF-8 before the frame completed.
    private var validatedBytesOfPartialFrame = 0
    private var randomSource: any RandomNumberGenerator

    /// Creates the machine for one upgraded connection.
    /// - Parameters:
    ///   - role: server or client; decides the masking rules and who closes TCP first.
    ///   - configuration: limits and timeouts.
    ///   - randomSource: where a client's masking keys come from; the system's generator by default.
    public init(role: Role, configuration: WebSocketConfiguration = .init(),
                randomSource: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.role = role
        self.configuration = configuration
        self.parser = FrameParser(role: role, maxFrameSize: configuration.effectiveMaxFrameSize,
                                  maxMessageSize: configuration.maxMessageSize)
        self.randomSource = randomSource
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

    /// The application (or a shutting-down server) closes the connection with `frame`.
    /// Ignored unless the connection is open. A code that may not appear on the wire (1004–1006,
    /// 1015, unassigned or out of range) is left out: the close frame goes with an empty body.
    /// Drain ``nextAction()`` afterwards.
    public mutating func closeRequested(_ frame: CloseFrame) {
        guard case .open = state else { return }
        var frame = frame
        if let code = frame.code, !code.isAllowedOnWire { frame = CloseFrame(code: nil) }
        state = .closeSent(frame)
        pending.append(.write(encodeControl(.connectionClose, payload: frame.encoded())))
        pending.append(.scheduleCloseTimeout(configuration.closeTimeout))
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
        case .closeExchanged(let sent, let received):
            outcome = CloseOutcome(sent: sent, received: received)
        case .closed(let previous):
            return previous
        }
        state = .closed(outcome)
        pending.removeAll()
        inbound.clear()
        return outcome
    }

    /// Whether the application may still send data (RFC 6455 §5.5.1: not after a close frame).
    public var canSend: Bool {
        if case .open = state { return true }
        return false
    }

    /// Whether the connection has fully ended.
    public var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    // MARK: - Actions

    /// The next command for the I/O layer, or `nil` when all received bytes are processed.
    public mutating func nextAction() -> Action? {
        if let action = pending.popFirst() { return action }
        while inbound.readableBytes > 0 {
            switch state {
            case .open, .closeSent:
                break
            case .failed, .closeExchanged, .closed:
                // RFC 6455 §5.5.1 / §7.1.7: nothing after the close handshake or a failure is processed.
                inbound.clear()
                return nil
            }
            let frame: Frame?
            do {
                frame = try parser.nextFrame(from: &inbound, messageBytesSoFar: message?.data.readableBytes ?? 0)
            } catch {
                fail(error)
                return pending.popFirst()
            }
            guard let frame else {
                validatePartialText()
                return pending.popFirst()
            }
            if let action = process(frame) { return action }
            if let action = pending.popFirst() { return action }
        }
        return nil
    }

    // MARK: - Sending

    /// Appends the frame for `message` to `output` and returns its payload when that should be
    /// written as a separate buffer: a server's large payload goes out as it is, without a copy.
    /// Returns `nil` from `canSend == false` callers' point of view only through ``canSend``.
    ///
    /// - Precondition: ``canSend``.
    public mutating func encode(_ message: WebSocketMessage, into output: inout ByteBuffer) -> ByteBuffer? {
        precondition(canSend, "a message was encoded after the close handshake began")
        let length = message.data.readableBytes
        switch role {
        case .client:
            let frame = Frame(opcode: message.opcode, payload: message.data)
            FrameSerializer.write(frame, maskingKey: MaskingKey.random(using: &randomSource), into: &output)
            return nil
        case .server:
            FrameSerializer.writeHeader(fin: true, opcode: message.opcode, payloadLength: length, maskingKey: nil,
                                        into: &output)
            if length <= Self.coalescingLimit {
                output.writeImmutableBuffer(message.data)
                return nil
            }
            return message.data
        }
    }

    /// Payloads up to this size are copied next to their header; larger ones are written as they
    /// are, so that a copy never costs more than a separate write would.
    static let coalescingLimit = 4096

    /// A ping frame with `payload` (at most 125 bytes), or `nil` once the close handshake began.
    public mutating func encodePing(payload: ByteBuffer = ByteBuffer()) -> ByteBuffer? {
        guard canSend, payload.readableBytes <= 125 else { return nil }
        return encodeControl(.ping, payload: payload)
    }

    // MARK: - Frame processing

    private mutating func process(_ frame: Frame) -> Action? {
        switch frame.opcode {
        case .text, .binary:
            guard message == nil else {
                return failing(.protocolError("new data frame while a fragmented message is in progress"))
            }
            let kind: WebSocketMessage.Kind = frame.opcode == .text ? .text : .binary
            if kind == .text {
                if validatedBytesOfPartialFrame == 0 { textValidator = UTF8Validator() }
                if let failure = validateText(frame.payload, final: frame.fin) { return failing(failure) }
            }
            if frame.fin { return .deliver(WebSocketMessage(kind: kind, data: frame.payload)) }
            message = MessageInProgress(kind: kind, data: frame.payload)
            return nil
        case .continuation:
            guard var current = message else {
                return failing(.protocolError("continuation frame without a message to continue"))
            }
            if current.kind == .text, let failure = validateText(frame.payload, final: frame.fin) {
                return failing(failure)
            }
            message = nil  // release the stored buffer so appending does not copy it
            var payload = frame.payload
            current.data.writeBuffer(&payload)
            if frame.fin { return .deliver(WebSocketMessage(kind: current.kind, data: current.data)) }
            message = current
            return nil
        case .ping:
            // RFC 6455 §5.5.2: answer with a pong carrying the same payload "unless it already received
            // a Close frame" — so also after sending ours, which §5.5.1 stops only data frames after.
            switch state {
            case .open, .closeSent: return .write(encodeControl(.pong, payload: frame.payload))
            case .failed, .closeExchanged, .closed: return nil
            }
        case .pong:
            return .pongReceived(frame.payload)
        case .connectionClose:
            let received: CloseFrame
            do {
                received = try CloseFrame(parsing: frame.payload)
            } catch {
                return failing(error)
            }
            return closeFrameReceived(received)
        }
    }

    private mutating func closeFrameReceived(_ received: CloseFrame) -> Action? {
        switch state {
        case .open:
            // RFC 6455 §5.5.1: answer with a close frame, echoing the code.
            let answer = CloseFrame(code: received.code)
            state = .closeExchanged(sent: answer, received: received)
            pending.append(.write(encodeControl(.connectionClose, payload: answer.encoded())))
            appendEndOfHandshake()
        case .closeSent(let sent):
            state = .closeExchanged(sent: sent, received: received)
            // A client already has its close timeout running; it now waits for the server's TCP close.
            if role == .server { pending.append(.closeConnection) }
        case .failed, .closeExchanged, .closed:
            break
        }
        inbound.clear()
        return pending.popFirst()
    }

    /// RFC 6455 §7.1.1: the server closes TCP first; a client waits for it, within the timeout.
    private mutating func appendEndOfHandshake() {
        switch role {
        case .server: pending.append(.closeConnection)
        case .client: pending.append(.scheduleCloseTimeout(configuration.closeTimeout))
        }
    }

    /// Validates one text frame's payload, skipping what was validated while it arrived.
    private mutating func validateText(_ payload: ByteBuffer, final: Bool) -> WebSocketProtocolError? {
        let skip = validatedBytesOfPartialFrame
        validatedBytesOfPartialFrame = 0
        let valid = payload.withUnsafeReadableBytes { bytes in
            textValidator.validate(UnsafeRawBufferPointer(rebasing: bytes[skip...]))
        }
        guard valid else { return .invalidPayload("text message is not valid UTF-8") }
        if final, !textValidator.isComplete { return .invalidPayload("text message ends inside a UTF-8 sequence") }
        return nil
    }

    /// RFC 6455 §8.1: invalid text fails the connection as soon as it is seen, even mid-frame.
    private mutating func validatePartialText() {
        guard let (opcode, received) = parser.payloadInProgress else { return }
        let isText = opcode == .text || (opcode == .continuation && message?.kind == .text)
        guard isText, received.readableBytes > validatedBytesOfPartialFrame else { return }
        if opcode == .text, validatedBytesOfPartialFrame == 0 { textValidator = UTF8Validator() }
        let start = validatedBytesOfPartialFrame
        validatedBytesOfPartialFrame = received.readableBytes
        let valid = received.withUnsafeReadableBytes { bytes in
            textValidator.validate(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        }
        if !valid { fail(.invalidPayload("text message is not valid UTF-8")) }
    }

    private mutating func failing(_ error: WebSocketProtocolError) -> Action? {
        fail(error)
        return pending.popFirst()
    }

    /// RFC 6455 §7.1.7, "Fail the WebSocket Connection": send a close frame with the error's code
    /// (unless one was sent already), then end TCP and discard whatever else arrives.
    private mutating func fail(_ error: WebSocketProtocolError) {
        inbound.clear()
        message = nil
        switch state {
        case .open:
            let frame = CloseFrame(code: error.code, reason: error.reason)
            state = .failed(frame)
            pending.append(.write(encodeControl(.connectionClose, payload: frame.encoded())))
            if role == .server { pending.append(.shutdownOutput) }
            pending.append(.scheduleCloseTimeout(configuration.closeTimeout))
        case .closeSent(let sent):
            // Our close frame is already out; the peer broke the protocol while answering it.
            state = .failed(sent)
            pending.append(.closeConnection)
        case .failed, .closeExchanged, .closed:
            break
        }
    }

    private mutating func encodeControl(_ opcode: Opcode, payload: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(FrameSerializer.headerLength(payloadLength: payload.readableBytes, masked: true)
                               + payload.readableBytes)
        let key: MaskingKey? = role == .client ? MaskingKey.random(using: &randomSource) : nil
        FrameSerializer.write(Frame(opcode: opcode, payload: payload), maskingKey: key, into: &buffer)
        return buffer
    }
}
