import NIOCore

/// Output memory that the connections of one event loop share for their batches.
///
/// A connection encodes what it sends during a read (or an event-loop tick) into one buffer and
/// writes that buffer to its channel. Once the socket has taken the bytes, the buffer's memory is
/// free again: it is kept here, and the next batch on the same event loop, from any connection,
/// is written into it without an allocation. If the socket could not take everything, the
/// channel still holds the memory, and the next batch gets new memory instead (the buffer's
/// copy-on-write). No connection holds output memory between batches, so an idle connection
/// costs nothing here; each event loop keeps at most one buffer of at most ``largestKept`` bytes.
///
/// Give every connection of an event loop the same instance
/// (``WebSocketChannelHandler/spareOutput``, ``ServerHandshakeSettings/spareOutput``), and use it
/// only on that event loop: it has no lock, hence `@unchecked Sendable`.
public final class SpareOutputBuffer: @unchecked Sendable {
    /// A buffer that grew past this is not kept: one large batch must not pin memory.
    public static let largestKept = 64 * 1024

    private var buffer: ByteBuffer?

    /// Creates an empty one, for the connections of one event loop.
    public init() {}

    /// An empty buffer to encode a batch into: the spare memory when there is some.
    func take() -> ByteBuffer {
        guard var buffer else { return ByteBuffer() }
        self.buffer = nil
        // Reuses the memory when nothing else holds it; otherwise allocates, without copying.
        buffer.clear(minimumCapacity: 0)
        return buffer
    }

    /// Keeps `buffer`'s memory for the next batch; call it once the buffer has been written to
    /// its channel.
    func giveBack(_ buffer: ByteBuffer) {
        guard buffer.capacity <= Self.largestKept else { return }
        self.buffer = buffer
    }
}
