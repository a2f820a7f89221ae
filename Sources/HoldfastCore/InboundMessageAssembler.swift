import NIOCore

/// Turns received bytes into messages: parses frames, reassembles fragmented messages, validates
/// text as UTF-8 and inflates compressed messages, all within the limits of the configuration.
///
/// It knows nothing of the close handshake: it reports pings, pongs and close frames as they
/// arrive, and every violation as the ``WebSocketProtocolError`` to fail the connection with;
/// ``ConnectionStateMachine`` decides what each means in the connection's state.
struct InboundMessageAssembler {
    /// What the received bytes amounted to.
    enum Event: Hashable {
        /// A complete message.
        case message(WebSocketMessage)
        /// A fragment, when fragments are delivered as they arrive.
        case fragment(WebSocketFragment)
        /// A ping with this payload.
        case ping(ByteBuffer)
        /// A pong with this payload.
        case pong(ByteBuffer)
        /// A valid close frame.
        case close(CloseFrame)
        /// The peer broke the protocol or a limit: fail the connection with this.
        case failure(WebSocketProtocolError)
    }

    private struct MessageInProgress {
        var kind: WebSocketMessage.Kind
        /// The reassembled data; stays empty when fragments are delivered as they arrive.
        var data: ByteBuffer
        /// Whether the message is compressed (RSV1 on its first frame, RFC 7692 §6.1).
        var isCompressed = false
        /// Bytes inflated so far from a compressed message, counted against the message limit.
        var inflatedBytes = 0
    }

    /// Parses frames and refuses those over the limits from their headers.
    private var parser: FrameParser
    private var message: MessageInProgress?
    // The small fields follow the optional message, in the room its last byte leaves.
    private var textValidator = UTF8Validator()
    private let deliversFragments: Bool
    /// Bytes of the frame now arriving that were validated as UTF-8 before the frame completed.
    private var validatedBytesOfPartialFrame = 0
    /// Inflates compressed messages received; `nil` without compression.
    private let decompressor: MessageDecompressor?

    /// Creates the assembler for what `role` receives.
    init(role: Role, configuration: WebSocketConfiguration, compression: PerMessageDeflateParameters?) {
        self.parser = FrameParser(role: role, maxFrameSize: configuration.effectiveMaxFrameSize,
                                  maxMessageSize: configuration.effectiveMaxMessageSize)
        if let compression {
            // RFC 7692 §6: the extension gives RSV1 its meaning.
            parser.allowedReservedBits = .rsv1
            self.decompressor = MessageDecompressor(windowBits: compression.peerMaxWindowBits,
                                                    noContextTakeover: compression.peerNoContextTakeover)
        } else {
            self.decompressor = nil
        }
        if case .fragments = configuration.receiveMode {
            self.deliversFragments = true
        } else {
            self.deliversFragments = false
        }
    }

    /// Received bytes held here: the incomplete frame and the message being reassembled.
    var bufferedBytes: Int {
        (parser.payloadInProgress?.received.readableBytes ?? 0) + (message?.data.readableBytes ?? 0)
    }

    /// Consumes frames from `input` until one amounts to an event; `nil` once `input` is used up.
    mutating func nextEvent(from input: inout ByteBuffer) -> Event? {
        while input.readableBytes > 0 {
            let frame: Frame?
            do {
                frame = try parser.nextFrame(from: &input)
            } catch {
                return .failure(error)
            }
            guard let frame else {
                // RFC 6455 §8.1: invalid text fails the connection as soon as it is seen, even mid-frame.
                if let failure = validatePartialText() { return .failure(failure) }
                return nil
            }
            if let event = process(frame) { return event }
        }
        return nil
    }

    /// Forgets the message in progress: the connection failed, nothing more is assembled.
    mutating func discardMessage() {
        message = nil
    }

    private mutating func process(_ frame: Frame) -> Event? {
        // The parser lets RSV1 through only with permessage-deflate, which gives it a meaning on
        // the first frame of a message alone (RFC 7692 §6.1).
        if !frame.reservedBits.isEmpty, frame.opcode != .text, frame.opcode != .binary {
            return .failure(.protocolError("RSV1 set on a \(frame.opcode.isControl ? "control" : "continuation") frame"))
        }
        switch frame.opcode {
        case .text, .binary:
            guard message == nil else {
                return .failure(.protocolError("new data frame while a fragmented message is in progress"))
            }
            let kind: WebSocketMessage.Kind = frame.opcode == .text ? .text : .binary
            if frame.reservedBits.contains(.rsv1) {
                return inflate(frame, into: MessageInProgress(kind: kind, data: ByteBuffer(), isCompressed: true),
                               isFirst: true)
            }
            if kind == .text {
                if validatedBytesOfPartialFrame == 0 { textValidator = UTF8Validator() }
                if let failure = validateText(frame.payload, final: frame.fin) { return .failure(failure) }
            }
            if !frame.fin {
                message = MessageInProgress(kind: kind, data: deliversFragments ? ByteBuffer() : frame.payload)
            }
            if deliversFragments {
                return .fragment(WebSocketFragment(kind: kind, data: frame.payload, isFirst: true, isFinal: frame.fin))
            }
            return frame.fin ? .message(WebSocketMessage(kind: kind, data: frame.payload)) : nil
        case .continuation:
            guard var current = message else {
                return .failure(.protocolError("continuation frame without a message to continue"))
            }
            if current.isCompressed {
                message = nil  // release the stored buffer so appending does not copy it
                return inflate(frame, into: consume current, isFirst: false)
            }
            if current.kind == .text, let failure = validateText(frame.payload, final: frame.fin) {
                return .failure(failure)
            }
            message = nil  // release the stored buffer so appending does not copy it
            if deliversFragments {
                if !frame.fin { message = current }
                return .fragment(WebSocketFragment(kind: current.kind, data: frame.payload, isFirst: false,
                                                   isFinal: frame.fin))
            }
            var payload = frame.payload
            current.data.writeBuffer(&payload)
            if frame.fin { return .message(WebSocketMessage(kind: current.kind, data: current.data)) }
            message = current
            return nil
        case .ping:
            return .ping(frame.payload)
        case .pong:
            return .pong(frame.payload)
        case .connectionClose:
            do {
                return .close(try CloseFrame(parsing: frame.payload))
            } catch {
                return .failure(error)
            }
        }
    }

    /// Inflates one frame of a compressed message (RFC 7692 §7.2.2) into `current` — or into a
    /// fragment of its own when fragments are delivered — within the message limit, and
    /// validates inflated text as it comes.
    private mutating func inflate(_ frame: Frame, into current: consuming MessageInProgress, isFirst: Bool) -> Event? {
        guard let decompressor else { preconditionFailure("RSV1 passed the parser without permessage-deflate") }
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
            return .failure(error)
        }
        current.inflatedBytes += output.readableBytes - before
        if current.kind == .text {
            if isFirst { textValidator = UTF8Validator() }
            if let failure = validateText(output, from: before, final: frame.fin) { return .failure(failure) }
        }
        if deliversFragments {
            if !frame.fin { message = current }
            return .fragment(WebSocketFragment(kind: current.kind, data: output, isFirst: isFirst, isFinal: frame.fin))
        }
        if frame.fin { return .message(WebSocketMessage(kind: current.kind, data: output)) }
        current.data = output
        message = current
        return nil
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

    /// Validates what arrived of an uncompressed text frame whose payload is incomplete.
    private mutating func validatePartialText() -> WebSocketProtocolError? {
        guard let (opcode, reservedBits, received) = parser.payloadInProgress else { return nil }
        // A compressed message is validated once inflated, frame by frame.
        guard reservedBits.isEmpty, message?.isCompressed != true else { return nil }
        let isText = opcode == .text || (opcode == .continuation && message?.kind == .text)
        guard isText, received.readableBytes > validatedBytesOfPartialFrame else { return nil }
        if opcode == .text, validatedBytesOfPartialFrame == 0 { textValidator = UTF8Validator() }
        let start = validatedBytesOfPartialFrame
        validatedBytesOfPartialFrame = received.readableBytes
        let valid = received.withUnsafeReadableBytes { bytes in
            textValidator.validate(UnsafeRawBufferPointer(rebasing: bytes[start...]))
        }
        return valid ? nil : .invalidPayload("text message is not valid UTF-8")
    }
}
