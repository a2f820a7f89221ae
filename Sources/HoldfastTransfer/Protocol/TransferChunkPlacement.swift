/// Where a received chunk goes, given what the receiver already holds: the receiver writes each
/// byte once, in order, and never past the transfer's end.
public enum TransferChunkPlacement: Sendable, Hashable {
    /// Write the chunk's bytes from `skipping` on (the ones before are held already) at the held
    /// offset.
    case write(skipping: Int)
    /// Every byte of the chunk is held already: a resend after a reconnect.
    case duplicate
    /// The chunk starts past the held offset: bytes are missing; the sender should resume from
    /// `expected`.
    case gap(expected: Int)
    /// The chunk ends past the transfer's size.
    case outOfRange

    /// Places a chunk of `length` bytes at `offset` in a transfer of `size` bytes of which the
    /// first `held` are stored.
    public init(offset: Int, length: Int, held: Int, size: Int) {
        if offset > size || length > size - offset {
            self = .outOfRange
        } else if offset > held {
            self = .gap(expected: held)
        } else if offset + length <= held {
            self = .duplicate
        } else {
            self = .write(skipping: held - offset)
        }
    }
}
