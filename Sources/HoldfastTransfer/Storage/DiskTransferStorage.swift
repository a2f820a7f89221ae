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
    let directory: String
    let partialDirectory: String
    /// Whether a delivered transfer replaces a file of the same name.
    let overwrite: Bool
    /// The data files open for writing.
    private let openFiles = NIOLockedValueBox<[TransferID: TransferFile]>([:])

    init(directory: String, overwrite: Bool) {
        self.directory = directory
        self.partialDirectory = directory + "/.holdfast-partial"
        self.overwrite = overwrite
    }

    private func dataPath(_ id: TransferID) -> String { "\(partialDirectory)/\(id).data" }
    private func metaPath(_ id: TransferID) -> String { "\(partialDirectory)/\(id).meta" }
    private func donePath(_ id: TransferID) -> String { "\(partialDirectory)/\(id).done" }

    /// Creates the directories if needed and reads what a previous run left: partial transfers
    /// (their data files cut to the recorded offset), the digests of delivered ones (oldest
    /// first), and the bytes of the files in the directory.
    func load() async throws -> StoredContents {
        let partialDirectory = self.partialDirectory
        let names = try await TransferFile.offload { () throws -> [String] in
            try createDirectories(partialDirectory)
            return try listDirectory(partialDirectory)
        }
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
        let directory = self.directory
        let total = try? await TransferFile.offload {
            // Regular files directly in the directory: what transfers delivered (or what was put
            // there beside them, which takes the same disk).
            ((try? listDirectory(directory)) ?? []).reduce(0) { total, name in
                guard let status = fileStatus("\(directory)/\(name)"), status.isRegularFile else { return total }
                return total + status.size
            }
        }
        return total ?? 0
    }

    func forgetDelivered(_ ids: [TransferID]) async {
        guard !ids.isEmpty else { return }
        let paths = ids.map(donePath)
        _ = try? await TransferFile.offload {
            for path in paths { unlink(path) }
        }
    }

    func create(_ offer: TransferOffer) async throws {
        // Names starting with a dot are refused before this; the check stays for the partial
        // directory's own name, whatever the name rules become.
        guard offer.name != ".holdfast-partial" else {
            throw TransferRefusal(.invalidName, "the name .holdfast-partial is the receiver's own directory")
        }
        let destination = "\(directory)/\(offer.name)"
        if !overwrite, try await TransferFile.offload({ fileStatus(destination) != nil }) {
            throw TransferRefusal(.nameTaken, "a file named \(offer.name) exists; send it under another name")
        }
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
        let destination = "\(directory)/\(offer.name)"
        try await writeAtomically(digest.description, to: donePath(id))
        let source = dataPath(id)
        let meta = metaPath(id)
        let overwrite = self.overwrite
        do {
            try await TransferFile.offload {
                // The move is the delivery: the file appears whole under its name, or not at all.
                // Without overwrite it is a hard link, which fails rather than replace a file
                // that appeared meanwhile; rename would replace it.
                if overwrite {
                    guard rename(source, destination) == 0 else {
                        throw IOError(errnoCode: errno, reason: "rename to \(destination)")
                    }
                } else {
                    guard link(source, destination) == 0 else {
                        throw IOError(errnoCode: errno, reason: "link to \(destination)")
                    }
                    unlink(source)
                }
                unlink(meta)
            }
        } catch let error as IOError where error.errnoCode == EEXIST {
            unlink(donePath(id))
            throw TransferRefusal(.nameTaken, "a file named \(offer.name) appeared while the transfer was sent; "
                                  + "send it under another name")
        }
        closeFile(id)
        return ReceivedTransfer(id: id, name: offer.name, size: offer.size, digest: digest, path: destination,
                                bytes: ReceivedTransferBytes(origin: .file(path: destination, size: offer.size)))
    }

    func discard(_ id: TransferID) async {
        closeFile(id)
        let paths = [dataPath(id), metaPath(id)]
        _ = try? await TransferFile.offload {
            for path in paths { unlink(path) }
        }
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

/// Creates `path` and the directories above it that are missing (`mkdir -p`).
private func createDirectories(_ path: String) throws {
    var prefix = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        prefix += "/" + component
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw IOError(errnoCode: errno, reason: "create directory \(prefix)")
        }
    }
}

/// The names in a directory, without `.` and `..`.
private func listDirectory(_ path: String) throws -> [String] {
    guard let directory = opendir(path) else { throw IOError(errnoCode: errno, reason: "list \(path)") }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
            pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// What `stat` tells of a path, or `nil` when there is nothing there.
private func fileStatus(_ path: String) -> (size: Int, modified: Int, isRegularFile: Bool)? {
    var status = stat()
    guard stat(path, &status) == 0 else { return nil }
    #if canImport(Darwin)
    let modified = Int(status.st_mtimespec.tv_sec) * 1_000_000_000 + Int(status.st_mtimespec.tv_nsec)
    #else
    let modified = Int(status.st_mtim.tv_sec) * 1_000_000_000 + Int(status.st_mtim.tv_nsec)
    #endif
    return (Int(status.st_size), modified, (status.st_mode & S_IFMT) == S_IFREG)
}
