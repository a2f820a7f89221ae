import HoldfastCore
import NIOCore

/// What a ``TransferSender`` sends: bytes in memory, a file, or an `AsyncSequence` of chunks, with
/// the name the receiver files it under.
public struct TransferSource: Sendable {
    /// The name given to the receiver: a plain file name (see ``TransferName``).
    public let name: String
    /// The size in bytes.
    public let size: Int
    /// The id, when the caller chose one; otherwise it is derived from the content (bytes, file)
    /// so that a restarted sender resumes, or drawn at random (stream).
    public let id: TransferID?
    let content: Content

    enum Content: Sendable {
        case bytes(ByteBuffer)
        case file(path: String)
        case stream(@Sendable () -> any TransferStreamIterator)
    }

    /// Sends the readable bytes of `data`.
    public static func bytes(_ data: ByteBuffer, name: String, id: TransferID? = nil) -> TransferSource {
        TransferSource(name: name, size: data.readableBytes, id: id, content: .bytes(data))
    }

    /// Sends the file at `path`, read chunk by chunk (never whole in memory); its digest is
    /// computed first, in one pass.
    /// - Parameters:
    ///   - path: the file to send.
    ///   - name: the name for the receiver; default the file's last path component.
    /// - Throws: an `IOError` when the file cannot be opened.
    public static func file(atPath path: String, name: String? = nil) async throws -> TransferSource {
        let file = try await TransferFile.openForReading(path)
        let size = try await file.size()
        let lastComponent = path.split(separator: "/").last.map(String.init) ?? path
        return TransferSource(name: name ?? lastComponent, size: size, id: nil, content: .file(path: path))
    }

    /// Sends the chunks `chunks` produces, which must add up to `size` bytes. Only what the
    /// receiver has not acknowledged is kept in memory, so the transfer resumes after a reconnect
    /// unless the receiver lost acknowledged data (a memory store restarted).
    /// - Parameters:
    ///   - chunks: the data, in order, in chunks of any size.
    ///   - size: the total the chunks add up to; a different total fails the transfer.
    ///   - name: the name for the receiver.
    ///   - id: the transfer's id; default a random one.
    public static func stream<Chunks: AsyncSequence & Sendable>(
        _ chunks: Chunks, size: Int, name: String, id: TransferID? = nil
    ) -> TransferSource where Chunks.Element == ByteBuffer {
        TransferSource(name: name, size: size, id: id, content: .stream({ StreamIterator(chunks.makeAsyncIterator()) }))
    }
}

/// The next chunk of a stream source, erased to one type.
protocol TransferStreamIterator {
    mutating func next() async throws -> ByteBuffer?
}

private struct StreamIterator<Base: AsyncIteratorProtocol>: TransferStreamIterator where Base.Element == ByteBuffer {
    var base: Base
    init(_ base: Base) { self.base = base }
    mutating func next() async throws -> ByteBuffer? { try await base.next() }
}
