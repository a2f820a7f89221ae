import NIOCore
import NIOPosix

/// The output memory that the connections of one event-loop thread share for their batches.
///
/// A connection encodes what it sends during a read (or an event-loop tick) into one buffer and
/// writes that buffer to its channel. Once the socket has taken the bytes, the buffer's memory is
/// free again: it is kept here, and the next batch on the same thread, from any connection, is
/// written into it without an allocation. If the socket could not take everything, the channel
/// still holds the memory, and the next batch gets new memory instead (the buffer's
/// copy-on-write). No connection holds output memory between batches, so an idle connection
/// costs nothing here; each thread keeps at most one buffer of at most ``largestKept`` bytes.
enum SpareOutputBuffer {
    /// A buffer that grew past this is not kept: one large batch must not pin memory.
    static let largestKept = 64 * 1024

    /// One thread's spare buffer. Only ever touched by the thread it belongs to (it is reached
    /// through a thread-specific variable), hence unchecked.
    private final class Slot: @unchecked Sendable {
        var buffer: ByteBuffer?
    }

    private static let slots = ThreadSpecificVariable<Slot>()

    /// An empty buffer to encode a batch into: this thread's spare memory when there is some.
    static func take() -> ByteBuffer {
        guard let slot = slots.currentValue, var buffer = slot.buffer else { return ByteBuffer() }
        slot.buffer = nil
        // Reuses the memory when nothing else holds it; otherwise allocates, without copying.
        buffer.clear(minimumCapacity: 0)
        return buffer
    }

    /// Keeps `buffer`'s memory for this thread's next batch; call it once the buffer has been
    /// written to its channel.
    static func giveBack(_ buffer: ByteBuffer) {
        guard buffer.capacity <= largestKept else { return }
        if let slot = slots.currentValue {
            slot.buffer = buffer
        } else {
            let slot = Slot()
            slot.buffer = buffer
            slots.currentValue = slot
        }
    }
}
