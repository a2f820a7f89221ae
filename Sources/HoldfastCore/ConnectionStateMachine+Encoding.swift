import NIOCore

/// Encoding what the application sends, with a fragment size given per call: what
/// ``ConnectionStateMachine/send(_:into:separately:)`` and
/// ``ConnectionStateMachine/sendFragment(_:of:isFinal:into:separately:)`` do with the connection's
/// own, without their decisions (the caller checks ``ConnectionStateMachine/canSend``).
extension ConnectionStateMachine {
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
        framer.encode(message, fragmentSize: fragmentSize, into: &output, separately: separately)
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
    /// Messages held back by ``send(_:into:separately:)`` while the fragmented message was in
    /// progress follow its final fragment.
    ///
    /// - Precondition: ``canSend``, and `kind` is the kind of the message in progress, if any.
    public mutating func encodeFragment(_ data: ByteBuffer, of kind: WebSocketMessage.Kind, isFinal: Bool,
                                        fragmentSize: Int? = nil, into output: inout ByteBuffer,
                                        separately: SeparateWrite) {
        precondition(canSend, "a fragment was encoded after the close handshake began")
        _ = framer.sendFragment(data, of: kind, isFinal: isFinal, fragmentSize: fragmentSize, into: &output,
                                separately: separately)
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
}
