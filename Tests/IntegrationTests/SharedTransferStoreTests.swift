import Foundation
import Holdfast
import HoldfastTestSupport
import HoldfastTransfer
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// `TransferStore.shared` over a `SharedTransferStorage` written here, in memory, as any other
/// implementation would be: the protocol is the extension point, and what the receiver does when
/// the storage fails is exercised without a database.
@Suite(.timeLimit(.minutes(2)))
struct SharedTransferStoreTests {
    /// What several nodes would share, in memory, with failures on demand.
    final class FlakyStorage: SharedTransferStorage {
        struct Unreachable: Error {}
        struct State {
            var partial: [TransferID: (offer: TransferOffer, bytes: ByteBuffer)] = [:]
            var delivered: [TransferID: TransferDigest] = [:]
            /// Writes that fail once the bytes held pass this, one each.
            var failWritesPast: [Int] = []
            var failedWrites = 0
        }
        let state = NIOLockedValueBox(State())

        func state(of id: TransferID) async throws -> SharedTransferState? {
            state.withLockedValue { state in
                if let digest = state.delivered[id] { return .delivered(digest) }
                return state.partial[id].map { .partial($0.offer, held: $0.bytes.readableBytes) }
            }
        }

        func create(_ offer: TransferOffer) async throws {
            state.withLockedValue { state in
                if state.partial[offer.id] == nil { state.partial[offer.id] = (offer, ByteBuffer()) }
            }
        }

        func write(_ data: ByteBuffer, to id: TransferID, at offset: Int) async throws {
            try state.withLockedValue { state in
                guard var stored = state.partial[id], offset <= stored.bytes.readableBytes else { throw Unreachable() }
                if let limit = state.failWritesPast.first, stored.bytes.readableBytes >= limit {
                    state.failWritesPast.removeFirst()
                    state.failedWrites += 1
                    throw Unreachable()
                }
                let skipping = stored.bytes.readableBytes - offset
                guard skipping < data.readableBytes else { return }
                var rest = data.getSlice(at: data.readerIndex + skipping, length: data.readableBytes - skipping) ?? ByteBuffer()
                stored.bytes.writeBuffer(&rest)
                state.partial[id] = stored
            }
        }

        func read(_ id: TransferID, from offset: Int) async throws -> ByteBuffer {
            state.withLockedValue { state in
                guard let bytes = state.partial[id]?.bytes, offset < bytes.readableBytes else { return ByteBuffer() }
                return bytes.getSlice(at: offset, length: min(1 << 20, bytes.readableBytes - offset)) ?? ByteBuffer()
            }
        }

        func recordDelivered(_ id: TransferID, digest: TransferDigest) async throws {
            state.withLockedValue { state in
                state.partial[id] = nil
                state.delivered[id] = digest
            }
        }

        func discard(_ id: TransferID, unlessWrittenWithin writtenWithin: Duration?) async throws {
            state.withLockedValue { $0.partial[id] = nil }
        }
    }

    @Test("the shared storage fails twice mid-transfer: closed with 1013 each time, the sender resumes from what it holds, one file delivered")
    func unreachableStorageAsksTheSenderBack() async throws {
        try await withTemporaryDirectory { directory in
            let data = seededBytes(3 << 20)
            let storage = FlakyStorage()
            storage.state.withLockedValue { $0.failWritesPast = [1 << 20, 2 << 20] }
            let receiver = TransferReceiver(store: try await .shared(storage, directory: directory), logger: silentLogger)
            let closes = NIOLockedValueBox<[CloseCode]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                let (_, port) = try await startTransferServer(in: &group, receiver: receiver, maxMessageSize: 64 << 10)
                let client = transferClient(port: port, clock: ContinuousClock())
                let sender = TransferSender(client: client, logger: silentLogger)
                let report = try await withThrowingTaskGroup(of: TransferReport?.self) { sending in
                    sending.addTask { try await client.run(); return nil }
                    defer { sending.cancelAll() }
                    return try await withTimeout("the transfer", limit: .seconds(60)) {
                        try await sender.send(.bytes(data, name: "flaky.bin")) { event in
                            if case .connection(.disconnected(.closed(let outcome))) = event {
                                closes.withLockedValue { $0.append(outcome.code) }
                            }
                        }
                    }
                }
                #expect(report.digest == TransferDigest(of: data))
                #expect(closes.withLockedValue { $0 } == [.tryAgainLater, .tryAgainLater])
                #expect(storage.state.withLockedValue { $0.failedWrites } == 2)
                // Each resume starts where the storage held, and at most a window went twice.
                #expect(report.sessions.map(\.resumedAt).dropFirst().allSatisfy { $0 >= 1 << 20 })
                #expect(report.retransmittedBytes <= 2 * (4 << 20))
                let received = try await first(of: receiver.transfers, "the received transfer")
                #expect(received.path == directory + "/flaky.bin")
                #expect(try await digestOfFile(directory + "/flaky.bin") == TransferDigest(of: data))
                #expect(try await storage.state(of: report.id) == .delivered(report.digest))
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/.holdfast-partial").isEmpty)
            }
        }
    }
}
