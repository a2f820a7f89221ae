import NIOCore

/// One WebSocket frame with its payload already unmasked.
///
/// The parser produces frames; the serializer writes them. A frame knows nothing about the
/// message it belongs to: reassembly and validation happen in ``ConnectionStateMachine``.
public struct Frame: Sendable, Hashable {
    /// Whether this is the final frame of its message (`FIN`).
    public var fin: Bool
    /// The reserved bits as they appeared on the wire.
    public var reservedBits: ReservedBits
    /// What the frame carries.
    public var opcode: Opcode
    /// The application data, unmasked.
    public var payload: ByteBuffer

    /// Creates a frame.
    /// - Parameters:
    ///   - fin: whether this is the last frame of its message; default `true` (an unfragmented message).
    ///   - reservedBits: RSV1–3; default none, as no extension is negotiated.
    ///   - opcode: the frame's opcode.
    ///   - payload: the unmasked payload.
    public init(fin: Bool = true, reservedBits: ReservedBits = [], opcode: Opcode, payload: ByteBuffer) {
        self.fin = fin
        self.reservedBits = reservedBits
        self.opcode = opcode
        self.payload = payload
    }
}
