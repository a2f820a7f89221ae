import HoldfastCore
import NIOConcurrencyHelpers
import NIOCore

/// Partial transfers in memory: gone when the process ends.
final class MemoryTransferStorage: TransferStorage {
    private let buffers = NIOLockedValueBox<[TransferID: ByteBuffer]>([:])

    func create(_ offer: TransferOffer) async throws {
        buffers.withLockedValue { $0[offer.id] = ByteBuffer() }
    }

    func write(_ data: ByteBuffer, to id: TransferID, at offset: Int) async throws {
        buffers.withLockedValue { buffers in
            guard var buffer = buffers.removeValue(forKey: id) else { return }
            buffer.setBuffer(data, at: offset)
            if buffer.writerIndex < offset + data.readableBytes {
                buffer.moveWriterIndex(to: offset + data.readableBytes)
            }
            buffers[id] = buffer
        }
    }

    func synchronize(_ offer: TransferOffer, held: Int) async throws {}

    func digest(of id: TransferID, size: Int) async throws -> TransferDigest {
        let data = buffers.withLockedValue { $0[id] }?.getSlice(at: 0, length: size) ?? ByteBuffer()
        return TransferDigest(of: data)
    }

    func finalize(_ offer: TransferOffer, digest: TransferDigest) async throws -> ReceivedTransfer {
        let data = buffers.withLockedValue { $0.removeValue(forKey: offer.id) }?.getSlice(at: 0, length: offer.size)
        return ReceivedTransfer(id: offer.id, name: offer.name, size: offer.size, digest: digest, path: nil,
                                bytes: ReceivedTransferBytes(origin: .memory(data ?? ByteBuffer())))
    }

    func discard(_ id: TransferID) async {
        _ = buffers.withLockedValue { $0.removeValue(forKey: id) }
    }

    func deliveredBytes() async -> Int { 0 }

    func forgetDelivered(_ ids: [TransferID]) async {}
}
