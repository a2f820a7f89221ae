#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import HoldfastCore
import NIOConcurrencyHelpers
import NIOCore

/// Partial transfers as files that survive a restart: in `DIR/.holdfast-partial`, the bytes in
/// `ID.data` and a small `ID.meta` with the offer and the offset known to be on disk; a verified
/// transfer is moved to `DIR/NAME` (never over an existing file unless `overwrite`), and `ID.done`
/// records its digest until the store forgets the delivery.
///
/// The meta file is replaced atomically (write, fsync, rename) after the data file was fsynced,
/// so after a crash its offset never claims bytes the disk may not have; on opening, the data
/// file is cut back to that offset.
final class DiskTransferStorage: TransferStorage {
    /// Where files are delivered, and the partial directory in it.
    let directory: TransferDirectory
    /// The data files open for writing.
    private let openFiles = NIOLockedValueBox<[TransferID: TransferFile]>([:])

    init(directory: String, overwrite: Bool) {
        self.directory = TransferDirectory(path: directory, overwrite: overwrite)
    }

    private func dataPath(_ id: TransferID) -> String { "\(directory.partialPath)/\(id).data" }
    private func metaPath(_ id: TransferID) -> String { "\(directory.partialPath)/\(id).meta" }
    private func donePath(_ id: TransferID) -> String { "\(directory.partialPath)/\(id).done" }

    /// Creates the directories if needed and reads what a previous run left: partial transfers
    /// (their data files cut to the recorded offset), the digests of delivered ones (oldest
    /// first), and the bytes of the files in the directory.
    func load() async throws -> StoredContents {
        try await directory.create()
        let partialDirectory = directory.partialPath
        let names = try await TransferFile.offload { try listDirectory(partialDirectory) }
        var partial: [StoredPartialTransfer] = []
        var completed: [(id: TransferID, digest: TransferDigest, modified: Int)] = []
        for name in names {
            guard let dot = name.firstIndex(of: "."), let id = TransferID(hexadecimal: String(name[..<dot])) else {
                continue
            }
            switch name[dot...] {
            case ".meta":
                let text = try await readText(metaPath(id))
                guard let record = TransferMetaRecord(parsing: text), record.offer.id == id else { continue }
                let file = try await TransferFile.openForWriting(dataPath(id))
                let held = min(record.held, try await file.size())
                try await file.truncate(to: held)
                openFiles.withLockedValue { $0[id] = file }
                partial.append(StoredPartialTransfer(offer: record.offer, held: held))
            case ".done":
                let path = donePath(id)
                if let digest = TransferDigest(hexadecimal: try await readText(path)) {
                    let modified = (try? await TransferFile.offload { fileStatus(path)?.modified ?? 0 }) ?? 0
                    completed.append((id, digest, modified))
                }
            default:
                continue
            }
        }
        let delivered = completed.sorted { $0.modified < $1.modified }.map { ($0.id, $0.digest) }
        return StoredContents(partial: partial, delivered: delivered, deliveredBytes: await deliveredBytes())
    }

    func deliveredBytes() async -> Int {
        await directory.deliveredBytes()
    }

    func forgetDelivered(_ ids: [TransferID]) async {
        await TransferDirectory.remove(ids.map(donePath))
    }

    func create(_ offer: TransferOffer) async throws {
        try await directory.refuseIfTaken(offer)
        let file = try await TransferFile.openForWriting(dataPath(offer.id))
        try await file.truncate(to: 0)
        openFiles.withLockedValue { $0[offer.id] = file }
        try await writeAtomically(TransferMetaRecord(offer: offer, held: 0).text, to: metaPath(offer.id))
    }

    func write(_ data: ByteBuffer, to id: TransferID, at offset: Int) async throws {
        try await file(id).write(data, at: offset)
    }

    func synchronize(_ offer: TransferOffer, held: Int) async throws {
        try await file(offer.id).synchronize()
        try await writeAtomically(TransferMetaRecord(offer: offer, held: held).text, to: metaPath(offer.id))
    }

    func digest(of id: TransferID, size: Int) async throws -> TransferDigest {
        let file = try await file(id)
        var hasher = TransferHasher()
        var offset = 0
        while offset < size {
            let piece = try await file.read(at: offset, length: min(ReceivedTransferBytes.pieceSize, size - offset))
            guard piece.readableBytes > 0 else { break }
            hasher.update(piece)
            offset += piece.readableBytes
        }
        return hasher.finalize()
    }

    func finalize(_ offer: TransferOffer, digest: TransferDigest) async throws -> ReceivedTransfer {
        let id = offer.id
        let file = try await file(id)
        try await file.truncate(to: offer.size)
        try await file.synchronize()
        try await writeAtomically(digest.description, to: donePath(id))
        do {
            try await directory.deliver(dataPath(id), as: offer)
        } catch let refusal as TransferRefusal {
            await TransferDirectory.remove([donePath(id)])
            throw refusal
        }
        await TransferDirectory.remove([metaPath(id)])
        closeFile(id)
        return ReceivedTransfer(delivered: offer, digest: digest, at: directory.destination(of: offer.name))
    }

    func discard(_ id: TransferID) async {
        closeFile(id)
        await TransferDirectory.remove([dataPath(id), metaPath(id)])
    }

    private func file(_ id: TransferID) async throws -> TransferFile {
        if let open = openFiles.withLockedValue({ $0[id] }) { return open }
        // Not created here: a transfer discarded meanwhile must not leave an orphan data file.
        let file = try await TransferFile.openForWriting(dataPath(id), creating: false)
        return openFiles.withLockedValue { files in
            if let raced = files[id] { return raced }
            files[id] = file
            return file
        }
    }

    /// Drops the store's reference to the data file; it closes once no read or write holds it.
    private func closeFile(_ id: TransferID) {
        _ = openFiles.withLockedValue { $0.removeValue(forKey: id) }
    }

    private func readText(_ path: String) async throws -> String {
        let file = try await TransferFile.openForReading(path)
        let data = try await file.read(at: 0, length: 64 * 1024)
        return String(buffer: data)
    }

    /// Replaces `path` with `text` so that a crash leaves the old or the new content, never a mix.
    private func writeAtomically(_ text: String, to path: String) async throws {
        let temporary = path + ".tmp"
        let file = try await TransferFile.openForWriting(temporary)
        try await file.truncate(to: 0)
        try await file.write(ByteBuffer(string: text), at: 0)
        try await file.synchronize()
        try await TransferFile.offload {
            guard rename(temporary, path) == 0 else { throw IOError(errnoCode: errno, reason: "rename to \(path)") }
        }
    }
}
