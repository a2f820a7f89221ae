import HoldfastCore
import NIOCore

/// Where several receivers — nodes behind one load balancer — keep partial transfers and the
/// records of deliveries together, so that a sender cut off from one node (its restart's 1001)
/// resumes on another from the last byte acknowledged.
///
/// A ``TransferStore/shared(_:directory:limits:overwrite:clock:)`` over it asks the storage,
/// whenever a transfer is offered, what any node stored of it, and takes that over its own
/// memory; it writes every chunk through the storage before acknowledging it, and delivers a
/// verified transfer into the node's own directory. The storage only keeps bytes and records:
/// limits, writers and names stay with each node's store.
///
/// Every method may throw when the storage cannot be reached: the receiver then closes the
/// connection with 1013 (try again later) and a retry hint, and the sender reconnects — to this
/// node or another — and offers the transfer again. Implemented by `PostgresTransferStorage` in
/// `HoldfastPostgres`.
public protocol SharedTransferStorage: Sendable {
    /// What is stored of transfer `id`, by any node: `nil` when nothing is (never offered,
    /// expired, discarded, or its delivery record forgotten).
    func state(of id: TransferID) async throws -> SharedTransferState?

    /// Records `offer` as a partial transfer holding no bytes. A transfer already stored under
    /// its id is kept as it is (another node created it first).
    func create(_ offer: TransferOffer) async throws

    /// Stores `data`, which starts at byte `offset` of transfer `id`, durably before it returns
    /// (a chunk is acknowledged only after that). The bytes held count from the start and never
    /// go back: bytes of `data` below them are already held and skipped, so writing the same
    /// chunk again is harmless.
    /// - Throws: when the transfer is not stored, when `offset` is past the bytes held (the
    ///   store writes only what continues them), or when the storage cannot be reached.
    func write(_ data: ByteBuffer, to id: TransferID, at offset: Int) async throws

    /// A piece of the bytes stored for `id`, in order, starting at `offset`: 0, or the end of the
    /// piece read before. Each piece is bounded (a few MiB), so that reading a transfer back
    /// never holds it whole; an empty piece means there is nothing past `offset`.
    func read(_ id: TransferID, from offset: Int) async throws -> ByteBuffer

    /// Records transfer `id` as delivered with `digest` and deletes its bytes, in one step, so
    /// that a sender that offers it again to any node is told it arrived.
    func recordDelivered(_ id: TransferID, digest: TransferDigest) async throws

    /// Deletes partial transfer `id` and its bytes — unless a node wrote to it within
    /// `writtenWithin`, when given: one node's idle transfer may be another's busy one.
    func discard(_ id: TransferID, unlessWrittenWithin writtenWithin: Duration?) async throws
}

/// What a ``SharedTransferStorage`` holds of one transfer.
public enum SharedTransferState: Sendable, Hashable {
    /// A partial transfer, as offered, with the bytes held from the start.
    case partial(TransferOffer, held: Int)
    /// A delivered transfer and the digest it was verified with.
    case delivered(TransferDigest)
}
