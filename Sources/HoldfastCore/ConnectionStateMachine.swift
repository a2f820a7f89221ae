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
        /// Hand a fragment to the application (``WebSocketConfiguration/ReceiveMode/fragments(maxMessageSize:)``).
        case deliverFragment(WebSocketFragment)
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
        indirect case closeExchanged(sent: CloseFrame, received: CloseFrame)
        /// TCP is closed.
        indirect case closed(CloseOutcome)
    }

    private struct MessageInProgress {
        var kind: WebSocketMessage.Kind
        /// The reassembled data; stays empty when fragments are delivered as they arrive.
        var data: ByteBuffer
        /// Payload bytes received so far, counted against the message limit.
        var receivedBytes: Int
        /// Whether the message is compressed (RSV1 on its first frame, RFC 7692 §6.1).
        var isCompressed = false
        /// Bytes inflated so far from a compressed message, counted against the message limit.
        var inflatedBytes = 0
    }

    /// Which end this machine is.
    public let role: Role
    /// How long a close handshake waits for the peer's close frame. (The limits in force live in
    /// the parser; the machine keeps no copy of the whole configuration, since every
    /// connection holds one machine for its lifetime.)
    private let closeTimeout: TimeAmount

    private var state: State = .open
    private var parser: FrameParser
    private var inbound = ByteBuffer()
    /// An empty buffer to reset `inbound` to without allocating: it shares this one's storage.
    private static let emptyBuffer = ByteBuffer()
    /// Actions queued by one event (a close takes up to three). An array, because an empty one
    /// costs no allocation: most connections never queue anything.
    private var pending: [Action] = []
    private var message: MessageInProgress?
    private var textValidator = UTF8Validator()
    /// Bytes of the frame now arriving that were validated as UTF-8 before the frame completed.
    private var validatedBytesOfPartialFrame = 0
    /// Where a client's masking keys come from; `nil` for a server, which never masks. Boxed, so
    /// that a server's machine does not carry an existential's worth of bytes it never uses.
    private let maskingKeys: MaskingKeySource?
    /// The kind of the fragmented message being sent, between its first and its final fragment.
    private var outboundMessageKind: WebSocketMessage.Kind?
    /// Whether the fragmented message being sent is compressed.
    private var outboundMessageIsCompressed = false
    private let deliversFragments: Bool
    /// permessage-deflate as agreed in the handshake, if it was.
    public let compression: PerMessageDeflateParameters?
    /// Compresses what is sent; `nil` without compression, or when the agreed window is one zlib
    /// cannot produce (8 bits): every message then goes uncompressed, as RFC 7692 allows.
    private let compressor: MessageCompressor?
    /// Messages shorter than this are sent uncompressed.
    private let minimumCompressedSize: Int
    /// Inflates compressed messages received; `nil` without compression.
    private let decompressor: MessageDecompressor?

    /// Creates the machine for one upgraded connection.
    /// - Parameters:
    ///   - role: server or client; decides the masking rules and who closes TCP first.
    ///   - configuration: limits and timeouts.
    ///   - compression: permessage-deflate as agreed in the handshake; default `nil`, none. Its
    ///     level, memory level and minimum size come from `configuration.compression`.
    ///   - randomSource: where a client's masking keys come from; the system's generator by default.
    public init(role: Role, configuration: WebSocketConfiguration = .init(),
                compression: PerMessageDeflateParameters? = nil,
                randomSource: any RandomNumberGenerator = SystemRandomNumberGenerator()) {
        self.role = role
        self.closeTimeout = configuration.closeTimeout
        self.parser = FrameParser(role: role, maxFrameSize: configuration.effectiveMaxFrameSize,
                                  maxMessageSize: configuration.effectiveMaxMessageSize)
        self.maskingKeys = role == .client ? MaskingKeySource(randomSource) : nil
        self.compression = compression
        let settings = configuration.compression ?? PerMessageDeflateConfiguration()
        self.minimumCompressedSize = settings.minimumMessageSize
        if let compression {
            // RFC 7692 §6: the extension gives RSV1 its meaning.
            parser.allowedReservedBits = .rsv1
            let windowBits = min(compression.ownMaxWindowBits, settings.maxWindowBits)
            self.compressor = windowBits >= 9
                ? MessageCompressor(windowBits: windowBits, level: settings.compressionLevel,
                                    memoryLevel: settings.memoryLevel,
                                    noContextTakeover: compression.ownNoContextTakeover)
                : nil
            self.decompressor = MessageDecompressor(windowBits: compression.peerMaxWindowBits,
                                                    noContextTakeover: compression.peerNoContextTakeover)
        } else {
            self.compressor = nil
            self.decompressor = nil
        }
        if case .fragments = configuration.receiveMode {
            self.deliversFragments = true
        } else {
            self.deliversFragments = false
        }
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
    /// - Parameters:
    ///   - frame: the close frame to send.
    ///   - timeout: how long to wait for the answer; default the configured close timeout.
    public mutating func closeRequested(_ frame: CloseFrame, timeout: TimeAmount? = nil) {
        guard case .open = state else { return }
        var frame = frame
        if let code = frame.code, !code.isAllowedOnWire { frame = CloseFrame(code: nil) }
        state = .closeSent(frame)
        pending.append(.write(encodeControl(.connectionClose, payload: frame.encoded())))
        pending.append(.scheduleCloseTimeout(timeout ?? closeTimeout))
    }

    /// Nothing arrived from the peer for `timeout` (a server's idle timeout): starts the close
    /// handshake with 1001 Going Away and the reason `nothing received for N s`. Drain
    /// ``nextAction()`` afterwards.
    public mutating func idleTimeoutElapsed(after timeout: TimeAmount) {
        closeRequested(CloseFrame(code: .goingAway, reason: "nothing received for \(timeout.readableDescription)"))
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
        inbound = Self.emptyBuffer
        return outcome
    }

    /// Whether the application may still send data (RFC 6455 §5.5.1: not after a close frame).
    public var canSend: Bool {
        if case .open = state { return true }
        return false
    }

    /// Received bytes held in memory: unparsed input, the incomplete frame, and the message being
    /// reassembled. Bounded by the limits, whatever the peer declares.
    public var bufferedBytes: Int {
        inbound.readableBytes + (parser.payloadInProgress?.received.readableBytes ?? 0)
            + (message?.data.readableBytes ?? 0)
    }

    /// The close frame the peer sent, once it has.
    public var receivedCloseFrame: CloseFrame? {
        switch state {
        case .closeExchanged(_, let received): return received
        case .closed(let outcome): return outcome.received
        case .open, .closeSent, .failed: return nil
        }
    }

    /// Whether a message sent fragment by fragment is between its first and final fragment; no
    /// other message may start until it ends (RFC 6455 §5.4).
    public var isSendingFragmentedMessage: Bool { outboundMessageKind != nil }

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
            let frame: Frame?
            do {
                frame = try parser.nextFrame(from: &inbound, messageBytesSoFar: message?.receivedBytes ?? 0,
                                             messageIsCompressed: message?.isCompressed ?? false)
            } catch {
                fail(error)
                return popPending()
            }
            guard let frame else {
                // All input is consumed; drop the read buffer so an idle connection holds none.
                inbound = Self.emptyBuffer
                validatePartialText()
                return popPending()
            }
            if let action = process(frame) { return action }
            if let action = popPending() { return action }
        }
        inbound = Self.emptyBuffer
        return nil
    }

    private mutating func popPending() -> Action? {
        pending.isEmpty ? nil : pending.removeFirst()
    }

    // MARK: - Sending

    /// Where encoded frames go: most are appended to one output buffer, so that everything sent
    /// in a batch costs one buffer; a server's large payload is written as it is, uncopied.
    public typealias SeparateWrite = (_ output: inout ByteBuffer, _ payload: ByteBuffer) -> Void

    /// Appends the frames of `message` to `output`: one frame, or frames of at most
    /// `fragmentSize` bytes. A server's payload too large to copy is handed to `separately`
    /// with `output` holding everything before it (its header last): write `output`, then the
    /// payload, and continue with an emptied `output`.
    ///
    /// - Precondition: ``canSend`` and not ``isSendingFragmentedMessage``.
    public mutating func encode(_ message: WebSocketMessage, fragmentSize: Int? = nil, into output: inout ByteBuffer,
                                separately: SeparateWrite) {
        precondition(canSend, "a message was encoded after the close handshake began")
        precondition(outboundMessageKind == nil, "a message was encoded inside a fragmented message")
        let compressed = compressor != nil && message.data.readableBytes >= minimumCompressedSize
        encodePiece(opcode: message.opcode, data: message.data, isFinal: true, compressed: compressed,
                    fragmentSize: fragmentSize, into: &output, separately: separately)
    }

    /// Encodes `message` (see ``encode(_:fragmentSize:into:separately:)``), handing each buffer
    /// to write to `write` in order.
    public mutating func encode(_ message: WebSocketMessage, fragmentSize: Int? = nil,
                                write: (ByteBuffer) -> Void) {
        Self.handingOver(to: write) { output, separately in
            encode(message, fragmentSize: fragmentSize, into: &output, separately: separately)
        }
    }

    /// Runs an `into:separately:` encoder and hands every buffer it produces to `write`, in order.
    private static func handingOver(to write: (ByteBuffer) -> Void,
                                    _ encode: (inout ByteBuffer, SeparateWrite) -> Void) {
        var buffers: [ByteBuffer] = []
        var output = ByteBuffer()
        encode(&output) { output, payload in
            buffers.append(output)
            buffers.append(payload)
            output = ByteBuffer()
        }
        if output.readableBytes > 0 { buffers.append(output) }
        buffers.forEach(write)
    }

    /// Appends the next fragment of a message sent piece by piece to `output` (see
    /// ``encode(_:fragmentSize:into:separately:)``): the first call starts a message of `kind`,
    /// later ones continue it, and the one with `isFinal` ends it. A piece longer than
    /// `fragmentSize` is split further.
    ///
    /// - Precondition: ``canSend``, and `kind` is the kind of the message in progress, if any.
    public mutating func encodeFragment(_ data: ByteBuffer, of kind: WebSocketMessage.Kind, isFinal: Bool,
                                        fragmentSize: Int? = nil, into output: inout ByteBuffer,
                                        separately: SeparateWrite) {
        precondition(canSend, "a fragment was encoded after the close handshake began")
        precondition(outboundMessageKind == nil || outboundMessageKind == kind, "fragments of two messages interleaved")
        let opcode: Opcode
        if outboundMessageKind == nil {
            opcode = kind == .text ? .text : .binary
            // The whole message is compressed or not, decided at its first fragment.
            outboundMessageIsCompressed = compressor != nil && data.readableBytes >= minimumCompressedSize
        } else {
            opcode = .continuation
        }
        outboundMessageKind = isFinal ? nil : kind
        encodePiece(opcode: opcode, data: data, isFinal: isFinal, compressed: outboundMessageIsCompressed,
                    fragmentSize: fragmentSize, into: &output, separately: separately)
    }

    /// Encodes the next fragment (see ``encodeFragment(_:of:isFinal:fragmentSize:into:separately:)``),
    /// handing each buffer to write to `write` in order.
    public mutating func encodeFragment(_ data: ByteBuffer, of kind: WebSocketMessage.Kind, isFinal: Bool,
                                        fragmentSize: Int? = nil, write: (ByteBuffer) -> Void) {
        Self.handingOver(to: write) { output, separately in
            encodeFragment(data, of: kind, isFinal: isFinal, fragmentSize: fragmentSize, into: &output,
                           separately: separately)
        }
    }

    /// Encodes a message, or one piece of a message sent fragment by fragment, compressed or not.
    ///
    /// Compressed with a fragment size, the data is compressed in slices of the fragment size,
    /// so that no frame inflates to more than that: a peer that streams fragments then holds one
    /// frame's worth at a time, inflated too. A slice almost always compresses into one frame;
    /// incompressible data, a few bytes longer once deflated, spills into a second. Below 1 KiB
    /// per slice deflate's overhead would outweigh its gain, so the message is compressed whole
    /// and the compressed stream cut into frames instead.
    private mutating func encodePiece(opcode: Opcode, data: ByteBuffer, isFinal: Bool, compressed: Bool,
                                      fragmentSize: Int?, into output: inout ByteBuffer,
                                      separately: SeparateWrite) {
        guard compressed, let compressor else {
            encodeFrames(opcode: opcode, data: data, isFinal: isFinal, compressed: false, fragmentSize: fragmentSize,
                         into: &output, separately: separately)
            return
        }
        let slice = fragmentSize ?? Int.max
        guard slice >= 1024 else {
            encodeFrames(opcode: opcode, data: compressor.compress(data, isFinal: isFinal), isFinal: isFinal,
                         compressed: true, fragmentSize: fragmentSize, into: &output, separately: separately)
            return
        }
        var remaining = data
        var opcode = opcode
        repeat {
            let piece = remaining.readSlice(length: min(slice, remaining.readableBytes)) ?? ByteBuffer()
            let last = isFinal && remaining.readableBytes == 0
            encodeFrames(opcode: opcode, data: compressor.compress(piece, isFinal: last), isFinal: last,
                         compressed: true, fragmentSize: fragmentSize, into: &output, separately: separately)
            opcode = .continuation
        } while remaining.readableBytes > 0
    }

    private mutating func encodeFrames(opcode: Opcode, data: ByteBuffer, isFinal: Bool, compressed: Bool,
                                       fragmentSize: Int?, into output: inout ByteBuffer,
                                       separately: SeparateWrite) {
        let size = max(1, fragmentSize ?? Int.max)
        var remaining = data
        var opcode = opcode
        repeat {
            let payload = remaining.readSlice(length: min(size, remaining.readableBytes)) ?? ByteBuffer()
            // RFC 7692 §6.1: RSV1 marks the first frame of a compressed message only.
            let reservedBits: ReservedBits = compressed && opcode != .continuation ? .rsv1 : []
            encodeFrame(opcode: opcode, reservedBits: reservedBits, payload: payload,
                        fin: isFinal && remaining.readableBytes == 0, into: &output, separately: separately)
            opcode = .continuation
        } while remaining.readableBytes > 0
    }

    private mutating func encodeFrame(opcode: Opcode, reservedBits: ReservedBits, payload: ByteBuffer, fin: Bool,
                                      into output: inout ByteBuffer, separately: SeparateWrite) {
        let length = payload.readableBytes
        switch maskingKeys {
        case let maskingKeys?:
            // A client masks every frame with a fresh key (RFC 6455 §5.3).
            FrameSerializer.write(Frame(fin: fin, reservedBits: reservedBits, opcode: opcode, payload: payload),
                                  maskingKey: maskingKeys.next(), into: &output)
        case nil:
            let coalesce = length <= Self.coalescingLimit
            output.reserveCapacity(minimumWritableBytes: FrameSerializer.headerLength(payloadLength: length, masked: false)
                                   + (coalesce ? length : 0))
            FrameSerializer.writeHeader(fin: fin, reservedBits: reservedBits, opcode: opcode, payloadLength: length,
                                        maskingKey: nil, into: &output)
            if coalesce {
                output.writeImmutableBuffer(payload)
            } else {
                separately(&output, payload)
            }
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
        // The parser lets RSV1 through only with permessage-deflate, which gives it a meaning on
        // the first frame of a message alone (RFC 7692 §6.1).
        if !frame.reservedBits.isEmpty, frame.opcode != .text, frame.opcode != .binary {
            return failing(.protocolError("RSV1 set on a \(frame.opcode.isControl ? "control" : "continuation") frame"))
        }
        switch frame.opcode {
        case .text, .binary:
            guard message == nil else {
                return failing(.protocolError("new data frame while a fragmented message is in progress"))
            }
            let kind: WebSocketMessage.Kind = frame.opcode == .text ? .text : .binary
            if frame.reservedBits.contains(.rsv1) {
                return inflate(frame, into: MessageInProgress(kind: kind, data: ByteBuffer(), receivedBytes: 0,
                                                              isCompressed: true), isFirst: true)
            }
            if kind == .text {
                if validatedBytesOfPartialFrame == 0 { textValidator = UTF8Validator() }
                if let failure = validateText(frame.payload, final: frame.fin) { return failing(failure) }
            }
            if !frame.fin {
                message = MessageInProgress(kind: kind, data: deliversFragments ? ByteBuffer() : frame.payload,
                                            receivedBytes: frame.payload.readableBytes)
            }
            if deliversFragments {
                return .deliverFragment(WebSocketFragment(kind: kind, data: frame.payload, isFirst: true,
                                                          isFinal: frame.fin))
            }
            return frame.fin ? .deliver(WebSocketMessage(kind: kind, data: frame.payload)) : nil
        case .continuation:
            guard var current = message else {
                return failing(.protocolError("continuation frame without a message to continue"))
            }
            if current.isCompressed {
                message = nil  // release the stored buffer so appending does not copy it
                return inflate(frame, into: consume current, isFirst: false)
            }
            if current.kind == .text, let failure = validateText(frame.payload, final: frame.fin) {
                return failing(failure)
            }
            message = nil  // release the stored buffer so appending does not copy it
            current.receivedBytes += frame.payload.readableBytes
            if deliversFragments {
                if !frame.fin { message = current }
                return .deliverFragment(WebSocketFragment(kind: current.kind, data: frame.payload, isFirst: false,
                                                          isFinal: frame.fin))
            }
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

    /// Inflates one frame of a compressed message (RFC 7692 §7.2.2) into `current` — or into a
    /// fragment of its own when fragments are delivered — within the message limit, and
    /// validates inflated text as it comes.
    private mutating func inflate(_ frame: Frame, into current: consuming MessageInProgress, isFirst: Bool) -> Action? {
        guard let decompressor else { preconditionFailure("RSV1 passed the parser without permessage-deflate") }
        current.receivedBytes += frame.payload.readableBytes
        var output = deliversFragments ? ByteBuffer() : current.data
        current.data = ByteBuffer()  // so that `output` is the only reference and grows in place
        let before = output.readableBytes
        let limit = parser.maxMessageSize
        let messageAllowance = limit == Int.max ? Int.max : limit - current.inflatedBytes
        // Streamed fragments keep memory within one frame, inflated as well as on the wire.
        let frameLimit = parser.maxFrameSize
        let (allowance, tooBig): (Int, WebSocketProtocolError) = deliversFragments && frameLimit < messageAllowance
            ? (frameLimit, .frameTooBig(limit: frameLimit))
            : (messageAllowance, .messageTooBig(limit: limit))
        do {
            try decompressor.decompress(frame.payload, isFinal: frame.fin, into: &output, allowance: allowance,
                                        tooBig: tooBig)
        } catch {
            return failing(error)
        }
        current.inflatedBytes += output.readableBytes - before
        if current.kind == .text {
            if isFirst { textValidator = UTF8Validator() }
            if let failure = validateText(output, from: before, final: frame.fin) { return failing(failure) }
        }
        if deliversFragments {
            if !frame.fin { message = current }
            return .deliverFragment(WebSocketFragment(kind: current.kind, data: output, isFirst: isFirst,
                                                      isFinal: frame.fin))
        }
        if frame.fin { return .deliver(WebSocketMessage(kind: current.kind, data: output)) }
        current.data = output
        message = current
        return nil
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

    /// Validates one text frame's payload, skipping what was validated while it arrived.
    private mutating func validateText(_ payload: ByteBuffer, final: Bool) -> WebSocketProtocolError? {
        let skip = validatedBytesOfPartialFrame
        validatedBytesOfPartialFrame = 0
        return validateText(payload, from: skip, final: final)
    }

    /// Validates the bytes of `payload` from `offset` on, continuing the message's validation;
    /// `final` also requires the message to end on a character boundary.
    private mutating func validateText(_ payload: ByteBuffer, from offset: Int, final: Bool) -> WebSocketProtocolError? {
        let valid = payload.withUnsafeReadableBytes { bytes in
            textValidator.validate(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        }
        guard valid else { return .invalidPayload("text message is not valid UTF-8") }
        if final, !textValidator.isComplete { return .invalidPayload("text message ends inside a UTF-8 sequence") }
        return nil
    }

    /// RFC 6455 §8.1: invalid text fails the connection as soon as it is seen, even mid-frame.
    private mutating func validatePartialText() {
        guard let (opcode, reservedBits, received) = parser.payloadInProgress else { return }
        // A compressed message is validated once inflated, frame by frame.
        guard reservedBits.isEmpty, message?.isCompressed != true else { return }
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
        return popPending()
    }

    /// RFC 6455 §7.1.7, "Fail the WebSocket Connection": send a close frame with the error's code
    /// (unless one was sent already), then end TCP and discard whatever else arrives.
    private mutating func fail(_ error: WebSocketProtocolError) {
        inbound = Self.emptyBuffer
        message = nil
        switch state {
        case .open:
            let frame = CloseFrame(code: error.code, reason: error.reason)
            state = .failed(frame)
            pending.append(.write(encodeControl(.connectionClose, payload: frame.encoded())))
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

    private mutating func encodeControl(_ opcode: Opcode, payload: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(FrameSerializer.headerLength(payloadLength: payload.readableBytes, masked: true)
                               + payload.readableBytes)
        let key = maskingKeys?.next()
        FrameSerializer.write(Frame(opcode: opcode, payload: payload), maskingKey: key, into: &buffer)
        return buffer
    }
}

/// A client's source of masking keys: a random number generator in a box, which the machine's
/// copies share.
private final class MaskingKeySource {
    private var generator: any RandomNumberGenerator

    init(_ generator: any RandomNumberGenerator) {
        self.generator = generator
    }

    /// A fresh key for the next frame.
    func next() -> MaskingKey {
        MaskingKey.random(using: &generator)
    }
}
