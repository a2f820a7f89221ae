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
    /// Forgets a partial transfer that received nothing here for `idle` (expired, or evicted for
    /// room); a shared storage keeps it if another node wrote to it meanwhile.
    func discardIdle(_ id: TransferID, idleFor idle: Duration) async
    /// The bytes of the delivered files the storage holds (0 for memory: they are the
    /// application's once delivered).
    func deliveredBytes() async -> Int
    /// Deletes the records of these deliveries (a disk store's `.done` files).
    func forgetDelivered(_ ids: [TransferID]) async
}

extension TransferStorage {
    /// A storage of one node: an idle transfer is nobody's.
    func discardIdle(_ id: TransferID, idleFor idle: Duration) async {
        await discard(id)
    }
}

/// A partial transfer a storage found when it opened (a disk store after a restart).
struct StoredPartialTransfer: Sendable {
    var offer: TransferOffer
    var held: Int
}

/// What a storage found when it opened: partial transfers, the records of deliveries (oldest
/// first), and the bytes of the delivered files.
struct StoredContents: Sendable {
    var partial: [StoredPartialTransfer]
    var delivered: [(TransferID, TransferDigest)]
    var deliveredBytes: Int
}
