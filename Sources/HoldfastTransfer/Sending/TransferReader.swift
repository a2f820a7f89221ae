import HoldfastCore
import NIOCore

/// Reads a source's bytes by offset for the sender, within the sending task only: any offset of
/// bytes or a file, and of a stream whatever was not yet acknowledged.
final class TransferReader {
    private enum Backing {
        case bytes(ByteBuffer)
        case file(TransferFile)
        case stream(StreamBacking)
    }

    /// A stream's unacknowledged bytes: `buffer` holds the bytes from `start`.
    private struct StreamBacking {
        var iterator: any TransferStreamIterator
        var buffer = ByteBuffer()
        var start = 0
        var hasher = TransferHasher()
        var ended = false
    }

    private var backing: Backing
    let size: Int
    /// The digest, when known before sending (bytes and files).
    let knownDigest: TransferDigest?

    private init(backing: Backing, size: Int, knownDigest: TransferDigest?) {
        self.backing = backing
        self.size = size
        self.knownDigest = knownDigest
    }

    /// Opens `source`; a file is hashed here, in one pass of 1 MiB reads.
    static func open(_ source: TransferSource) async throws -> TransferReader {
        switch source.content {
        case .bytes(let data):
            return TransferReader(backing: .bytes(data), size: source.size, knownDigest: TransferDigest(of: data))
        case .file(let path):
            let file = try await TransferFile.openForReading(path)
            var hasher = TransferHasher()
            var offset = 0
            while offset < source.size {
                let piece = try await file.read(at: offset, length: min(1 << 20, source.size - offset))
                guard piece.readableBytes > 0 else { break }
                hasher.update(piece)
                offset += piece.readableBytes
            }
            guard offset == source.size else {
                throw TransferError.sourceFailed("\(path) shrank to \(offset) bytes while being read")
            }
            return TransferReader(backing: .file(file), size: source.size, knownDigest: hasher.finalize())
        case .stream(let makeIterator):
            return TransferReader(backing: .stream(StreamBacking(iterator: makeIterator())), size: source.size,
                                  knownDigest: nil)
        }
    }

    /// The bytes `offset ..< offset + length`.
    func read(offset: Int, length: Int) async throws -> ByteBuffer {
        switch backing {
        case .bytes(let data):
            guard let slice = data.getSlice(at: data.readerIndex + offset, length: length) else {
                throw TransferError.sourceFailed("the data has no bytes at \(offset) ..< \(offset + length)")
            }
            return slice
        case .file(let file):
            let data = try await file.read(at: offset, length: length)
            guard data.readableBytes == length else {
                throw TransferError.sourceFailed("\(file.path) ended at \(offset + data.readableBytes) bytes, "
                                                 + "before the \(size) it had when the transfer began")
            }
            return data
        case .stream(var stream):
            backing = .bytes(ByteBuffer())  // Not read meanwhile: the sender is one task.
            defer { backing = .stream(stream) }
            guard offset >= stream.start else { throw TransferError.cannotRewind(to: offset, earliest: stream.start) }
            while stream.start + stream.buffer.readableBytes < offset + length, !stream.ended {
                if let chunk = try await stream.iterator.next() {
                    stream.hasher.update(chunk)
                    stream.buffer.writeImmutableBuffer(chunk)
                } else {
                    stream.ended = true
                }
            }
            let produced = stream.start + stream.buffer.readableBytes
            guard produced <= size, !(stream.ended && produced < size) else {
                throw TransferError.sourceFailed("the stream produced \(produced) bytes"
                                                 + (stream.ended ? "" : " or more") + " instead of \(size)")
            }
            guard let slice = stream.buffer.getSlice(at: stream.buffer.readerIndex + offset - stream.start,
                                                     length: length) else {
                throw TransferError.sourceFailed("the stream has no bytes at \(offset) ..< \(offset + length)")
            }
            return slice
        }
    }

    /// The receiver holds everything before `offset`: a stream forgets it.
    func release(below offset: Int) {
        guard case .stream(var stream) = backing, offset > stream.start else { return }
        stream.buffer.moveReaderIndex(forwardBy: min(offset - stream.start, stream.buffer.readableBytes))
        stream.buffer.discardReadBytes()
        stream.start = offset
        backing = .stream(stream)
    }

    /// The digest of the whole transfer: known up front, or for a stream once all was read (its
    /// end is checked: a stream with more bytes than announced fails here).
    func digest() async throws -> TransferDigest {
        if let knownDigest { return knownDigest }
        guard case .stream(var stream) = backing else { preconditionFailure("bytes and files know their digest") }
        if !stream.ended, let extra = try await stream.iterator.next(), extra.readableBytes > 0 {
            throw TransferError.sourceFailed("the stream produced more than the \(size) bytes announced")
        }
        stream.ended = true
        backing = .stream(stream)
        return stream.hasher.finalize()
    }
}
