import Holdfast

/// What happens during a transfer, for progress bars and logs.
public enum TransferEvent: Sendable, Hashable {
    /// The reconnecting client's state changed.
    case connection(ReconnectEvent)
    /// The receiver answered the offer: it holds `offset` bytes, so sending starts there.
    case resumed(at: Int)
    /// The receiver acknowledged more bytes.
    case progress(TransferProgress)
    /// A 1009 refused a chunk: the chunk size is now `size`.
    case chunkSizeLowered(to: Int, reason: String)
    /// The receiver is still writing this transfer from another connection (an earlier one of
    /// this sender's that it has not seen end): the offer goes again after a pause, `attempt`
    /// counting from 1.
    case waitingForOtherWriter(attempt: Int)
}

/// How far a transfer has come.
public struct TransferProgress: Sendable, Hashable {
    /// The transfer's size.
    public var size: Int
    /// Bytes the receiver has stored.
    public var acknowledged: Int
    /// Message bytes sent so far (chunk headers, offers and finish included).
    public var bytesOnWire: Int
    /// Data bytes sent more than once.
    public var retransmittedBytes: Int
    /// Data bytes per chunk in force.
    public var chunkSize: Int
}
