import HoldfastCore
import NIOCore

/// Where a ``TransferStore`` puts the bytes of partial transfers: memory or files. The store
/// keeps the bookkeeping (what is held, the limits); a storage only moves bytes.
protocol TransferStorage: Sendable {
    /// Makes room for a new transfer.
    func create(_ offer: TransferOffer) async throws
    /// Writes `data` at `offset` of transfer `id`; the bytes are identical whenever the same offset
    /// is written again (the same transfer from two connections), so a rewrite is harmless.
    func write(_ data: ByteBuffer, to id: TransferID, at offset: Int) async throws
    /// Makes the first `held` bytes durable, and records that they are.
    func synchronize(_ offer: TransferOffer, held: Int) async throws
    /// The SHA-256 of the `size` bytes stored for `id`, read back from the storage.
    func digest(of id: TransferID, size: Int) async throws -> TransferDigest
    /// Turns a verified transfer into its final form and records it as delivered.
    func finalize(_ offer: TransferOffer, digest: TransferDigest) async throws -> ReceivedTransfer
    /// Forgets a partial transfer and its bytes.
    func discard(_ id: TransferID) async
}

/// A partial transfer a storage found when it opened (a disk store after a restart).
struct StoredPartialTransfer: Sendable {
    var offer: TransferOffer
    var held: Int
}
