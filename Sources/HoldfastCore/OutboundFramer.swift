import NIOCore

/// Turns what the application sends into frames: compresses, fragments, masks (a client), and
/// keeps a message sent fragment by fragment whole on the wire — RFC 6455 §5.4: "the fragments
/// of one message MUST NOT be interleaved between the fragments of another message" — by holding
/// back the messages sent meanwhile until its final fragment.
///
/// It knows nothing of the close handshake; ``ConnectionStateMachine`` asks it for frames only
/// while sending is allowed.
struct OutboundFramer {
    /// Where encoded frames go (see ``ConnectionStateMachine/SeparateWrite``).
    typealias SeparateWrite = ConnectionStateMachine.SeparateWrite

    /// Whether a message is being sent fragment by fragment. The messages sent meanwhile wait in
    /// the state that has them, so a connection that never fragments carries no queue.
    private enum State {
        /// Any message may start.
        case idle
        /// A message of `kind` was started and not finished; `waiting` are the messages sent
        /// since, oldest first.
        case sendingFragmentedMessage(kind: WebSocketMessage.Kind, isCompressed: Bool, waiting: [WebSocketMessage])
    }

    private var state: State = .idle
    /// Where a client's masking keys come from; `nil` for a server, which never masks. Boxed, so
    /// that a server's machine does not carry an existential's worth of bytes it never uses.
    private let maskingKeys: MaskingKeySource?
    /// Compresses what is sent; `nil` without compression, or when the agreed window is one zlib
    /// cannot produce (8 bits): every message then goes uncompressed, as RFC 7692 allows.
    private let compressor: MessageCompressor?
    /// Messages shorter than this are sent uncompressed.
    private let minimumCompressedSize: Int
    /// The largest frame sent: the configured fragment size, or smaller to fit the frame limit
    /// the peer announced; `Int.max`, every message in one frame (what a `nil` fragment size
    /// means to the encoders; an `Int` is 8 bytes where an `Int?` takes 16 in the layout).
    let fragmentSize: Int
    /// The limits the peer announced in the handshake.
    let peerLimits: AnnouncedLimits

    /// Creates the framer of what `role` sends.
    init(role: Role, configuration: WebSocketConfiguration, peerLimits: AnnouncedLimits,
         compression: PerMessageDeflateParameters?, randomSource: any RandomNumberGenerator) {
        self.maskingKeys = role == .client ? MaskingKeySource(randomSource) : nil
        let settings = configuration.compression ?? PerMessageDeflateConfiguration()
        self.minimumCompressedSize = settings.minimumMessageSize
        if let compression {
            let windowBits = min(compression.ownMaxWindowBits, settings.maxWindowBits)
            self.compressor = windowBits >= 9
                ? MessageCompressor(windowBits: windowBits, level: settings.compressionLevel,
                                    memoryLevel: settings.memoryLevel,
                                    noContextTakeover: compression.ownNoContextTakeover)
                : nil
        } else {
            self.compressor = nil
        }
        switch (configuration.fragmentSize, peerLimits.maxFrameSize) {
        case (let own?, let peer?): self.fragmentSize = min(own, peer)
        case (let own, let peer): self.fragmentSize = own ?? peer ?? Int.max
        }
        self.peerLimits = peerLimits
    }

    /// Whether a message sent fragment by fragment is between its first and final fragment.
    var isSendingFragmentedMessage: Bool {
        switch state {
        case .idle: return false
        case .sendingFragmentedMessage: return true
        }
    }

    /// Encodes `message` now, or — RFC 6455 §5.4 — keeps it for after the final fragment of the
    /// fragmented message in progress. Returns whether it was encoded.
    mutating func sendOrHold(_ message: WebSocketMessage, into output: inout ByteBuffer,
                             separately: SeparateWrite) -> Bool {
        switch state {
        case .idle:
            encode(message, fragmentSize: fragmentSize, into: &output, separately: separately)
            return true
        case .sendingFragmentedMessage(let kind, let isCompressed, var waiting):
            state = .idle  // drop the state's reference so that appending does not copy the queue
            waiting.append(message)
            state = .sendingFragmentedMessage(kind: kind, isCompressed: isCompressed, waiting: waiting)
            return false
        }
    }

    /// Encodes the next piece of a message sent fragment by fragment, in frames of at most
    /// `fragmentSize` bytes; after the final one, the messages held back meanwhile follow it (in
    /// frames of the connection's own fragment size). Returns how many of those were encoded.
    mutating func sendFragment(_ data: ByteBuffer, of kind: WebSocketMessage.Kind, isFinal: Bool,
                               fragmentSize: Int?, into output: inout ByteBuffer, separately: SeparateWrite) -> Int {
        let waiting = encodeFragment(data, of: kind, isFinal: isFinal, fragmentSize: fragmentSize, into: &output,
                                     separately: separately)
        for message in waiting {
            encode(message, fragmentSize: self.fragmentSize, into: &output, separately: separately)
        }
        return waiting.count
    }

    /// Forgets the messages held back: the connection ended before they could be sent.
    mutating func dropHeldMessages() {
        if case .sendingFragmentedMessage(let kind, let isCompressed, _) = state {
            state = .sendingFragmentedMessage(kind: kind, isCompressed: isCompressed, waiting: [])
        }
    }

    /// Appends the frames of `message` to `output`: one frame, or frames of at most
    /// `fragmentSize` bytes (see ``ConnectionStateMachine/encode(_:fragmentSize:into:separately:)``).
    mutating func encode(_ message: WebSocketMessage, fragmentSize: Int?, into output: inout ByteBuffer,
                         separately: SeparateWrite) {
        guard case .idle = state else {
            preconditionFailure("a message was encoded inside a fragmented message")
        }
        let compressed = compressor != nil && message.data.readableBytes >= minimumCompressedSize
        encodePiece(opcode: message.opcode, data: message.data, isFinal: true, compressed: compressed,
                    fragmentSize: fragmentSize, into: &output, separately: separately)
    }

    /// Appends the next fragment of a message sent piece by piece to `output`. Returns the
    /// messages that waited for it to end when `isFinal` (they are no longer held), else none.
    private mutating func encodeFragment(_ data: ByteBuffer, of kind: WebSocketMessage.Kind, isFinal: Bool,
                                         fragmentSize: Int?, into output: inout ByteBuffer,
                                         separately: SeparateWrite) -> [WebSocketMessage] {
        let opcode: Opcode
        let isCompressed: Bool
        var waiting: [WebSocketMessage]
        switch state {
        case .idle:
            opcode = kind == .text ? .text : .binary
            // The whole message is compressed or not, decided at its first fragment.
            isCompressed = compressor != nil && data.readableBytes >= minimumCompressedSize
            waiting = []
        case .sendingFragmentedMessage(let current, let compressed, let held):
            precondition(current == kind, "fragments of two messages interleaved")
            opcode = .continuation
            isCompressed = compressed
            waiting = held
        }
        if isFinal {
            state = .idle
        } else {
            state = .idle  // drop the state's reference to the queue before storing it again
            state = .sendingFragmentedMessage(kind: kind, isCompressed: isCompressed, waiting: waiting)
            waiting = []
        }
        encodePiece(opcode: opcode, data: data, isFinal: isFinal, compressed: isCompressed,
                    fragmentSize: fragmentSize, into: &output, separately: separately)
        return waiting
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

    private func encodeFrames(opcode: Opcode, data: ByteBuffer, isFinal: Bool, compressed: Bool,
                              fragmentSize: Int?, into output: inout ByteBuffer, separately: SeparateWrite) {
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

    private func encodeFrame(opcode: Opcode, reservedBits: ReservedBits, payload: ByteBuffer, fin: Bool,
                             into output: inout ByteBuffer, separately: SeparateWrite) {
        let length = payload.readableBytes
        switch maskingKeys {
        case let maskingKeys?:
            // RFC 6455 §5.3: a client masks every frame with a fresh key.
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

    /// A control frame (ping, pong, close) in a buffer of its own.
    func encodeControl(_ opcode: Opcode, payload: ByteBuffer) -> ByteBuffer {
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
