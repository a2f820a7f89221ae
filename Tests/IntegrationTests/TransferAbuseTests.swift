import Foundation
import Holdfast
import HoldfastTestSupport
import HoldfastTransfer
import NIOCore
import Testing

/// Files mode against clients that try to lock, fill or disturb it: offers that never send,
/// one connection hoarding places, files that fill the disk, names taken, two writers at once.
@Suite(.timeLimit(.minutes(2)))
struct TransferAbuseTests {
    static let limit = TransferTests.limit

    static func id(_ byte: UInt8) -> TransferID { TransferID(bytes: Array(repeating: byte, count: 16))! }

    static func offer(_ byte: UInt8, size: Int, name: String? = nil) -> TransferOffer {
        TransferOffer(id: id(byte), size: size, digest: nil, name: name ?? "part\(byte)")
    }

    /// A raw client of the transfer protocol: sends messages, reads replies one by one.
    struct RawSender {
        let ws: WebSocket
        var replies: WebSocketMessages.AsyncIterator

        init(_ ws: WebSocket) {
            self.ws = ws
            self.replies = ws.messages.makeAsyncIterator()
        }

        mutating func send(_ message: TransferMessage) async throws -> TransferMessage {
            try await ws.send(.binary(message.encoded()))
            return try TransferTests.decode(await replies.next())
        }
    }

    @Test("offers that never send a byte cannot lock the store: once abandoned, a real sender takes their places")
    func offersCannotLock() async throws {
        let clock = ManualClock()
        let store = TransferStore.memory(limits: TransferStoreLimits(maxOpenTransfers: 16), clock: clock)
        let receiver = TransferReceiver(store: store)
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            // 4 connections × 4 offers fill the 16 places, and stay connected.
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (ready, readySink) = AsyncStream.makeStream(of: Void.self)
                for connection in 0..<4 {
                    group.addTask {
                        try await connect("ws://127.0.0.1:\(port)/") { ws in
                            var raw = RawSender(ws)
                            for index in 0..<4 {
                                let byte = UInt8(connection * 4 + index + 1)
                                let reply = try await raw.send(.offer(Self.offer(byte, size: 1)))
                                #expect(reply == .resume(id: Self.id(byte), offset: 0))
                            }
                            readySink.yield()
                            for await _ in released { break }
                        }
                    }
                }
                _ = try await collect(4, of: ready, "the four hoarding connections")
                #expect(store.partialTransfers.count == 16)

                let data = seededBytes(100_000)
                let locked = await #expect(throws: TransferError.self) {
                    try await TransferTests.send(.bytes(data, name: "real.bin"), port: port)
                }
                #expect(locked?.refusal?.code == .tooManyTransfers)

                // Two minutes without a byte: abandoned. They are discarded, the real sender gets in.
                clock.advance(by: .seconds(120))
                let report = try await TransferTests.send(.bytes(data, name: "real.bin"), port: port)
                #expect(report.digest == TransferDigest(of: data))
                #expect(store.partialTransfers.isEmpty)
                release.finish()
                try await group.waitForAll()
            }
        }
    }

    @Test("offering a transfer again without sending data does not keep it from being abandoned")
    func reOffersDoNotKeepAlive() async throws {
        let clock = ManualClock()
        let receiver = TransferReceiver(store: .memory(limits: TransferStoreLimits(maxOpenTransfers: 1), clock: clock))
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                var hoarder = RawSender(ws)
                let first = try await hoarder.send(.offer(Self.offer(1, size: 10)))
                #expect(first == .resume(id: Self.id(1), offset: 0))
                clock.advance(by: .seconds(100))
                let again = try await hoarder.send(.offer(Self.offer(1, size: 10)))
                #expect(again == .resume(id: Self.id(1), offset: 0))
                clock.advance(by: .seconds(30))
                // 130 s without a byte of data, 30 s after the last offer: abandoned all the same.
                try await connect("ws://127.0.0.1:\(port)/") { other in
                    var sender = RawSender(other)
                    let taken = try await sender.send(.offer(Self.offer(2, size: 10)))
                    #expect(taken == .resume(id: Self.id(2), offset: 0))
                }
            }
        }
    }

    @Test("one connection may hold 4 open transfers; its 5th is refused, another connection's is not")
    func perConnectionCap() async throws {
        let receiver = TransferReceiver(store: .memory())
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                var raw = RawSender(ws)
                for byte in UInt8(1)...4 {
                    let reply = try await raw.send(.offer(Self.offer(byte, size: 10)))
                    #expect(reply == .resume(id: Self.id(byte), offset: 0))
                }
                let reply = try await raw.send(.offer(Self.offer(5, size: 10)))
                #expect(reply == .refuse(id: Self.id(5), TransferRefusal( .tooManyTransfers, "this connection already has 4 open transfers (limit 4 per connection)")))
                try await connect("ws://127.0.0.1:\(port)/") { other in
                    var second = RawSender(other)
                    let reply = try await second.send(.offer(Self.offer(5, size: 10)))
                    #expect(reply == .resume(id: Self.id(5), offset: 0))
                }
            }
        }
    }

    @Test("a second connection cannot write a transfer another is writing; it takes over once the first is gone")
    func oneWriterAtATime() async throws {
        let receiver = TransferReceiver(store: .memory())
        let chunk = ByteBuffer(repeating: 0xAB, count: 100)
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            let url = "ws://127.0.0.1:\(port)/"
            let (firstGone, firstGoneSink) = AsyncStream.makeStream(of: Void.self)
            let (proceed, proceedSink) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await connect(url) { ws in
                        var first = RawSender(ws)
                        let resumed = try await first.send(.offer(Self.offer(1, size: 1000)))
                        #expect(resumed == .resume(id: Self.id(1), offset: 0))
                        let acknowledged = try await first.send(.chunk(id: Self.id(1), offset: 0, data: chunk))
                        #expect(acknowledged == .acknowledge(id: Self.id(1), offset: 100))
                        proceedSink.yield()
                        for await _ in firstGone { break }
                    }
                }
                _ = try await collect(1, of: proceed, "the first writer")
                try await connect(url) { ws in
                    var second = RawSender(ws)
                    let busy = try await second.send(.offer(Self.offer(1, size: 1000)))
                    guard case .refuse(_, let refusal) = busy else {
                        Issue.record("a second writer was let in: \(busy)")
                        return
                    }
                    #expect(refusal.code == .transferBusy)
                    // Chunks without an accepted offer are refused too: nothing interleaves.
                    let chunkRefused = try await second.send(.chunk(id: Self.id(1), offset: 100, data: chunk))
                    guard case .refuse(_, let chunkRefusal) = chunkRefused else {
                        Issue.record("a chunk from a second writer was taken: \(chunkRefused)")
                        return
                    }
                    #expect(chunkRefusal.code == .transferBusy)
                    firstGoneSink.finish()
                    try await group.waitForAll()
                    // The first connection is gone: the second takes over where it stopped.
                    var answer = try await second.send(.offer(Self.offer(1, size: 1000)))
                    for _ in 0..<50 where answer != .resume(id: Self.id(1), offset: 100) {
                        // The server may not have seen the close yet.
                        try await Task.sleep(for: .milliseconds(20))
                        answer = try await second.send(.offer(Self.offer(1, size: 1000)))
                    }
                    #expect(answer == .resume(id: Self.id(1), offset: 100))
                }
            }
        }
    }

    @Test("a sender told 'busy' offers again and completes once the other writer is gone")
    func senderWaitsOutBusy() async throws {
        let data = seededBytes(50_000)
        let id = TransferID(name: "shared.bin", size: data.readableBytes, digest: TransferDigest(of: data))
        let receiver = TransferReceiver(store: .memory())
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            let (holding, holdingSink) = AsyncStream.makeStream(of: Void.self)
            let (busySeen, busySeenSink) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await connect("ws://127.0.0.1:\(port)/") { ws in
                        var holder = RawSender(ws)
                        let offer = TransferOffer(id: id, size: data.readableBytes, digest: TransferDigest(of: data),
                                                  name: "shared.bin")
                        let reply = try await holder.send(.offer(offer))
                        #expect(reply == .resume(id: id, offset: 0))
                        holdingSink.yield()
                        for await _ in busySeen { break }
                    }
                }
                _ = try await collect(1, of: holding, "the holding connection")
                let configuration = TransferSenderConfiguration(busyRetryDelay: .milliseconds(50))
                let report = try await TransferTests.send(.bytes(data, name: "shared.bin"), port: port,
                                                          configuration: configuration) { event in
                    if case .waitingForOtherWriter = event { busySeenSink.yield() }
                }
                #expect(report.digest == TransferDigest(of: data))
                busySeenSink.finish()
                try await group.waitForAll()
            }
        }
    }

    @Test("delivered files count against the store's bytes: a full directory refuses, and frees as files are removed")
    func quotaCoversDeliveredFiles() async throws {
        try await withTemporaryDirectory { directory in
            let limits = TransferStoreLimits(maxTotalBytes: 150_000)
            let receiver = TransferReceiver(store: try await .disk(directory: directory, limits: limits))
            try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                                 handler: { await receiver.serve($0) }) { port in
                _ = try await TransferTests.send(.bytes(seededBytes(100_000), name: "first.bin"), port: port)
                let full = await #expect(throws: TransferError.self) {
                    try await TransferTests.send(.bytes(seededBytes(60_000, seed: 2), name: "second.bin"), port: port)
                }
                #expect(full?.refusal == TransferRefusal(.storeFull, "transfer of 60000 bytes does not fit: 0 of 150000 "
                                                         + "bytes are reserved by open transfers and 100000 are taken by delivered files"))
                try FileManager.default.removeItem(atPath: directory + "/first.bin")
                _ = try await TransferTests.send(.bytes(seededBytes(60_000, seed: 2), name: "second.bin"), port: port)
            }
            // A restart counts what is in the directory.
            let restarted = TransferReceiver(store: try await .disk(directory: directory, limits: limits))
            try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                                 handler: { await restarted.serve($0) }) { port in
                let full = await #expect(throws: TransferError.self) {
                    try await TransferTests.send(.bytes(seededBytes(100_000, seed: 3), name: "third.bin"), port: port)
                }
                #expect(full?.refusal?.code == .storeFull)
            }
        }
    }

    @Test("an existing file is never replaced unless asked: the offer is refused before any byte is sent")
    func noOverwrite() async throws {
        try await withTemporaryDirectory { directory in
            let original = seededBytes(10_000)
            writeFile(directory + "/taken.bin", original)
            let receiver = TransferReceiver(store: try await .disk(directory: directory))
            try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                                 handler: { await receiver.serve($0) }) { port in
                let error = await #expect(throws: TransferError.self) {
                    try await TransferTests.send(.bytes(seededBytes(20_000, seed: 9), name: "taken.bin"), port: port)
                }
                #expect(error?.refusal == TransferRefusal(.nameTaken, "a file named taken.bin exists; send it under another name"))
            }
            let kept = try await digestOfFile(directory + "/taken.bin")
            #expect(kept == TransferDigest(of: original))

            let replacing = TransferReceiver(store: try await .disk(directory: directory, overwrite: true))
            let replacement = seededBytes(20_000, seed: 9)
            try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                                 handler: { await replacing.serve($0) }) { port in
                _ = try await TransferTests.send(.bytes(replacement, name: "taken.bin"), port: port)
            }
            let replaced = try await digestOfFile(directory + "/taken.bin")
            #expect(replaced == TransferDigest(of: replacement))
        }
    }

    @Test("records of old deliveries are pruned: a disk store keeps the newest 1,024")
    func deliveryRecordsPruned() async throws {
        try await withTemporaryDirectory { directory in
            let partial = directory + "/.holdfast-partial"
            try FileManager.default.createDirectory(atPath: partial, withIntermediateDirectories: true)
            let digest = TransferDigest(of: ByteBuffer(string: "x")).description
            for index in 0..<1030 {
                let id = TransferID(bytes: (0..<16).map { UInt8(truncatingIfNeeded: index >> ($0 < 8 ? 0 : 8)) &+ UInt8($0) })!
                let path = "\(partial)/\(id).done"
                try digest.write(toFile: path, atomically: false, encoding: .utf8)
                // Oldest first: the first six are the ones to go.
                try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: Double(1_000_000 + index))],
                                                      ofItemAtPath: path)
            }
            _ = try await TransferStore.disk(directory: directory)
            let left = try FileManager.default.contentsOfDirectory(atPath: partial).filter { $0.hasSuffix(".done") }
            #expect(left.count == 1024)
        }
    }
}
