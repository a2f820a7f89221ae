import HoldfastCore
import NIOCore

/// A transfer that arrived whole and whose bytes matched the sender's digest: its metadata, and
/// its bytes as an `AsyncSequence`.
public struct ReceivedTransfer: Sendable {
    /// The transfer's id.
    public let id: TransferID
    /// The name the sender gave it (validated: a plain file name).
    public let name: String
    /// Its size in bytes.
    public let size: Int
    /// Its SHA-256, checked against the bytes stored.
    public let digest: TransferDigest
    /// Where a disk store put the file; `nil` for a memory store.
    public let path: String?
    /// The bytes, in order; iterate as often as needed.
    public let bytes: ReceivedTransferBytes

    init(id: TransferID, name: String, size: Int, digest: TransferDigest, path: String?, bytes: ReceivedTransferBytes) {
        self.id = id
        self.name = name
        self.size = size
        self.digest = digest
        self.path = path
        self.bytes = bytes
    }

    /// A transfer delivered as the file at `path`.
    init(delivered offer: TransferOffer, digest: TransferDigest, at path: String) {
        self.init(id: offer.id, name: offer.name, size: offer.size, digest: digest, path: path,
                  bytes: ReceivedTransferBytes(origin: .file(path: path, size: offer.size)))
    }
}

/// The bytes of a ``ReceivedTransfer``, read in pieces: slices of memory, or 1 MiB reads of the
/// stored file.
public struct ReceivedTransferBytes: AsyncSequence, Sendable {
    /// A piece of the transfer.
    public typealias Element = ByteBuffer

    enum Origin: Sendable {
        case memory(ByteBuffer)
        case file(path: String, size: Int)
    }

    let origin: Origin
    /// The size of each piece.
    static let pieceSize = 1 << 20

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(origin: origin)
    }

    /// Reads the next piece.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let origin: Origin
        var offset = 0
        var file: TransferFile?

        /// The next piece, or `nil` at the end.
        /// - Throws: an `IOError` when the stored file cannot be read.
        public mutating func next() async throws -> ByteBuffer? {
            switch origin {
            case .memory(let data):
                guard offset < data.readableBytes else { return nil }
                let length = Swift.min(ReceivedTransferBytes.pieceSize, data.readableBytes - offset)
                defer { offset += length }
                return data.getSlice(at: data.readerIndex + offset, length: length)
            case .file(let path, let size):
                guard offset < size else {
                    file = nil
                    return nil
                }
                let open: TransferFile
                if let file {
                    open = file
                } else {
                    open = try await TransferFile.openForReading(path)
                    file = open
                }
                let piece = try await open.read(at: offset, length: Swift.min(ReceivedTransferBytes.pieceSize, size - offset))
                guard piece.readableBytes > 0 else {
                    throw TransferError.sourceFailed("\(path) ended at \(offset) of its \(size) bytes")
                }
                offset += piece.readableBytes
                return piece
            }
        }
    }
}
