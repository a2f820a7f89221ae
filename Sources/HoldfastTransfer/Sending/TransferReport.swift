import Holdfast
import HoldfastCore

/// What a completed transfer cost.
public struct TransferReport: Sendable, Hashable {
    /// One connection's share of the transfer.
    public struct Session: Sendable, Hashable {
        /// Where the receiver said to resume.
        public var resumedAt: Int
        /// Data bytes sent on this connection.
        public var dataBytes: Int
        /// Of those, bytes sent before (on an earlier connection).
        public var retransmittedBytes: Int
    }

    /// The transfer's id.
    public var id: TransferID
    /// Its size.
    public var size: Int
    /// The digest the receiver confirmed.
    public var digest: TransferDigest
    /// Every message byte sent: chunk headers, offers and finishes included (not the WebSocket
    /// framing).
    public var bytesOnWire: Int
    /// Data bytes sent more than once.
    public var retransmittedBytes: Int
    /// The chunk size in force at the end.
    public var finalChunkSize: Int
    /// The connections the transfer used, in order.
    public var sessions: [Session]
}
