/// What a sender says about a transfer before its chunks, on every new connection: the receiver
/// answers with the offset it already holds.
public struct TransferOffer: Sendable, Hashable {
    /// The transfer's id.
    public var id: TransferID
    /// The total size in bytes.
    public var size: Int
    /// The SHA-256 of the whole transfer, when the sender knows it before sending (bytes or a
    /// file); a stream's digest comes with the finish message instead.
    public var digest: TransferDigest?
    /// The name the sender gives it (a plain file name; see ``TransferName``).
    public var name: String

    /// Creates an offer.
    public init(id: TransferID, size: Int, digest: TransferDigest?, name: String) {
        self.id = id
        self.size = size
        self.digest = digest
        self.name = name
    }
}
