import HoldfastCore
import NIOConcurrencyHelpers
import NIOCore

/// Partial transfers in a ``SharedTransferStorage`` that several nodes use, delivered into this
/// node's directory: on completion the bytes are read back from the storage in order into
/// `DIR/.holdfast-partial/ID.assembling` while they are hashed, and the verified file is moved
/// to `DIR/NAME` (never over an existing file unless `overwrite`) before the storage records
/// the delivery and deletes the bytes.
///
/// A failure of the shared storage is ``TransferStoreUnavailable``: the sender is asked to come
/// back later rather than refused, since the storage (a database) is expected to return.
final class SharedDirectoryTransferStorage: TransferStorage {
    let shared: any SharedTransferStorage
    /// Where verified transfers are delivered.
    let directory: TransferDirectory
    /// Transfers moved into the directory whose delivery the shared storage has not recorded yet
    /// (it failed meanwhile): when the sender finishes again, the file is not written twice.
    private let unrecorded = NIOLockedValueBox<[TransferID: TransferDigest]>([:])

    init(shared: any SharedTransferStorage, directory: String, overwrite: Bool) {
        self.shared = shared
        self.directory = TransferDirectory(path: directory, overwrite: overwrite)
    }

    private func assemblingPath(_ id: TransferID) -> String { "\(directory.partialPath)/\(id).assembling" }

    /// What any node stored of transfer `id`.
    func state(of id: TransferID) async throws -> SharedTransferState? {
        try await Self.reaching { try await shared.state(of: id) }
    }

    func create(_ offer: TransferOffer) async throws {
        try await directory.refuseIfTaken(offer)
        try await Self.reaching { try await shared.create(offer) }
    }

    func write(_ data: ByteBuffer, to id: TransferID, at offset: Int) async throws {
        try await Self.reaching { try await shared.write(data, to: id, at: offset) }
    }

    /// Nothing to do: each write is durable when it returns.
    func synchronize(_ offer: TransferOffer, held: Int) async throws {}

    /// Reads the transfer back from the shared storage into the file it will be delivered from,
    /// hashing it on the way: one pass, a bounded piece in memory at a time.
    func digest(of id: TransferID, size: Int) async throws -> TransferDigest {
        if let digest = unrecorded.withLockedValue({ $0[id] }) { return digest }
        let file = try await TransferFile.openForWriting(assemblingPath(id))
        try await file.truncate(to: 0)
        var hasher = TransferHasher()
        var offset = 0
        while offset < size {
            var piece = try await Self.reaching { try await shared.read(id, from: offset) }
            guard piece.readableBytes > 0 else { break }
            if piece.readableBytes > size - offset { piece = piece.getSlice(at: piece.readerIndex, length: size - offset) ?? piece }
            hasher.update(piece)
            try await file.write(piece, at: offset)
            offset += piece.readableBytes
        }
        try await file.synchronize()
        return hasher.finalize()
    }

    func finalize(_ offer: TransferOffer, digest: TransferDigest) async throws -> ReceivedTransfer {
        let id = offer.id
        if unrecorded.withLockedValue({ $0[id] }) == nil {
            try await directory.deliver(assemblingPath(id), as: offer)
            unrecorded.withLockedValue { $0[id] = digest }
        }
        try await Self.reaching { try await shared.recordDelivered(id, digest: digest) }
        _ = unrecorded.withLockedValue { $0.removeValue(forKey: id) }
        return ReceivedTransfer(delivered: offer, digest: digest, at: directory.destination(of: offer.name))
    }

    func discard(_ id: TransferID) async {
        await discard(id, unlessWrittenWithin: nil)
    }

    /// Forgets transfer `id` here; the shared storage keeps it if another node wrote to it
    /// within `idle` (the sender moved there).
    func discardIdle(_ id: TransferID, idleFor idle: Duration) async {
        await discard(id, unlessWrittenWithin: idle)
    }

    private func discard(_ id: TransferID, unlessWrittenWithin idle: Duration?) async {
        _ = unrecorded.withLockedValue { $0.removeValue(forKey: id) }
        await TransferDirectory.remove([assemblingPath(id)])
        // Unreachable now: the record stays, and the next offer finds it and goes on.
        try? await shared.discard(id, unlessWrittenWithin: idle)
    }

    func deliveredBytes() async -> Int {
        await directory.deliveredBytes()
    }

    /// Nothing to do: the shared storage keeps the records every node reads.
    func forgetDelivered(_ ids: [TransferID]) async {}

    /// Runs `body`, turning any failure but a refusal into ``TransferStoreUnavailable``.
    private static func reaching<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let refusal as TransferRefusal {
            throw refusal
        } catch {
            throw TransferStoreUnavailable(reason: "the shared transfer storage failed: \(error)")
        }
    }
}

/// The storage a store shares with other nodes could not be reached: the sender is to come back
/// later (the receiver closes with 1013 and a retry hint), not to give up.
struct TransferStoreUnavailable: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
