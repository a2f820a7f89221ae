import Foundation
import Holdfast
import HoldfastTestSupport
import HoldfastTransfer
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Chunked, verified, resumable transfers end to end over loopback: the sender over a
/// ``ReconnectingWebSocket`` whose backoff runs on a ``ManualClock``, the receiver in a server.
@Suite(.timeLimit(.minutes(2)))
struct TransferTests {
    static let limit = 64 << 10

    /// Sends `source` over a fresh client to `port` and returns the report (or the error).
    static func send(_ source: TransferSource, port: Int, configuration: TransferSenderConfiguration = .init(),
                     clock: ManualClock = ManualClock(), onEvent: @escaping @Sendable (TransferEvent) -> Void = { _ in })
        async throws -> TransferReport
    {
        let client = transferClient(port: port, clock: clock)
        let sender = TransferSender(client: client, configuration: configuration, logger: silentLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            defer { group.cancelAll() }
            return try await withTimeout("the transfer", limit: .seconds(60)) {
                try await sender.send(source, onEvent: onEvent)
            }
        }
    }

    @Test("3 MiB in memory through a 64 KiB message limit: chunks fit the announced limit, the bytes arrive verified")
    func bytesThroughMemoryStore() async throws {
        let data = seededBytes(3 << 20)
        let receiver = TransferReceiver()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let (_, port) = try await startTransferServer(in: &group, receiver: receiver, maxMessageSize: Self.limit)
            let report = try await Self.send(.bytes(data, name: "three.bin"), port: port)
            #expect(report.digest == TransferDigest(of: data))
            #expect(report.finalChunkSize == Self.limit - TransferMessage.chunkHeaderSize)
            #expect(report.retransmittedBytes == 0)
            #expect(report.sessions.map(\.resumedAt) == [0])
            let received = try await first(of: receiver.transfers, "the received transfer")
            #expect(received.name == "three.bin")
            #expect(received.size == data.readableBytes)
            var joined = ByteBuffer()
            for try await piece in received.bytes { joined.writeImmutableBuffer(piece) }
            #expect(joined == data)
            #expect(receiver.store.partialTransfers.isEmpty)
        }
    }

    @Test("a stream of odd-sized chunks arrives whole; a stream that falls short fails with a typed error")
    func streamSource() async throws {
        let data = seededBytes(1_000_003)
        let pieces = stride(from: 0, to: data.readableBytes, by: 77_777).map {
            data.getSlice(at: $0, length: min(77_777, data.readableBytes - $0))!
        }
        let receiver = TransferReceiver()
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let (_, port) = try await startTransferServer(in: &group, receiver: receiver, maxMessageSize: Self.limit)
            let report = try await Self.send(.stream(Self.stream(pieces), size: data.readableBytes, name: "stream.bin"), port: port)
            #expect(report.digest == TransferDigest(of: data))
            let received = try await first(of: receiver.transfers, "the received transfer")
            var joined = ByteBuffer()
            for try await piece in received.bytes { joined.writeImmutableBuffer(piece) }
            #expect(joined == data)

            let error = await #expect(throws: TransferError.self) {
                try await Self.send(.stream(Self.stream(Array(pieces.dropLast())), size: data.readableBytes, name: "short.bin"), port: port)
            }
            #expect(error?.description.contains("instead of 1000003") == true, "\(error.map { "\($0)" } ?? "")")
        }
    }

    @Test("""
        32 MiB from a file through a 64 KiB message limit, 1 MiB chunks asked for, the server restarted twice \
        (disk store): the file arrives with its digest, and little more than the file goes over the wire
        """)
    func fileAcrossTwoRestarts() async throws {
        try await withTemporaryDirectory { directory in
            let size = 32 << 20
            let data = seededBytes(size)
            let digest = TransferDigest(of: data)
            let sourcePath = directory + "/source.bin"
            writeFile(sourcePath, data)
            let storeDirectory = directory + "/received"
            let clock = ManualClock()
            let (events, eventSink) = AsyncStream.makeStream(of: TransferEvent.self)
            let configuration = TransferSenderConfiguration(chunkSize: 1 << 20, window: 1 << 20)
            try await withThrowingTaskGroup(of: Void.self) { group in
                defer { group.cancelAll() }
                var (server, port) = try await startTransferServer(
                    in: &group, receiver: TransferReceiver(store: try await .disk(directory: storeDirectory)),
                    maxMessageSize: Self.limit)
                let source = try await TransferSource.file(atPath: sourcePath, name: "copy.bin")
                async let sent = Self.send(source, port: port, configuration: configuration, clock: clock) {
                    eventSink.yield($0)
                }
                for restart in 1...2 {
                    try await waitFor("a third of the file acknowledged", in: events) { event in
                        guard case .progress(let progress) = event else { return false }
                        return progress.acknowledged >= restart * size / 3
                    }
                    #expect(await server.shutdown() == ShutdownReport(closedCleanly: 1, cut: 0))
                    try await waitFor("the client to wait for a reconnect", in: events) { event in
                        if case .connection(.waiting) = event { return true }
                        return false
                    }
                    // A new process would see only the directory: a new store reads it afresh.
                    (server, _) = try await startTransferServer(
                        in: &group, port: port,
                        receiver: TransferReceiver(store: try await .disk(directory: storeDirectory)),
                        maxMessageSize: Self.limit)
                    _ = try await withTimeout("the client to sleep") { try await clock.advanceToNextDeadline() }
                }
                let report = try await sent
                #expect(report.digest == digest)
                #expect(try await digestOfFile(storeDirectory + "/copy.bin") == digest)
                #expect(try FileManager.default.contentsOfDirectory(atPath: storeDirectory + "/.holdfast-partial")
                        .filter { !$0.hasSuffix(".done") }.isEmpty)
                #expect(report.sessions.count == 3)
                let resumes = report.sessions.map(\.resumedAt)
                #expect(resumes[0] == 0 && resumes[1] >= size / 3 && resumes[2] >= 2 * size / 3, "\(resumes)")
                let chunk = Self.limit - TransferMessage.chunkHeaderSize
                #expect(report.finalChunkSize == chunk)
                // Headers: 27 bytes a chunk. Retransmitted: what was in flight at each restart and
                // not stored, at most the 1 MiB window, in practice a few chunks.
                let overhead = report.bytesOnWire - size
                let headers = (size / chunk + 1 + 2 * 16) * TransferMessage.chunkHeaderSize + 3 * 200
                #expect(overhead <= headers + report.retransmittedBytes + 2 * TransferMessage.chunkHeaderSize * 16,
                        "overhead \(overhead), retransmitted \(report.retransmittedBytes)")
                #expect(report.retransmittedBytes <= 2 * 4 * chunk, "retransmitted \(report.retransmittedBytes) bytes")
                print("32 MiB, 2 restarts: \(report.bytesOnWire) bytes on the wire, \(report.retransmittedBytes) retransmitted, sessions \(report.sessions)")
            }
        }
    }

    @Test("a sender stopped mid-transfer and started again (a new process) resumes: the id comes from the content")
    func restartedSenderResumes() async throws {
        let size = 4 << 20
        let data = seededBytes(size)
        let receiver = TransferReceiver()
        let (events, eventSink) = AsyncStream.makeStream(of: TransferEvent.self)
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            let configuration = TransferSenderConfiguration(window: 256 << 10)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    _ = try? await Self.send(.bytes(data, name: "twice.bin"), port: port, configuration: configuration) {
                        eventSink.yield($0)
                    }
                }
                try await waitFor("half the transfer acknowledged", in: events) { event in
                    guard case .progress(let progress) = event else { return false }
                    return progress.acknowledged >= size / 2
                }
                group.cancelAll()
            }
            let held = try #require(receiver.store.partialTransfers.first?.held)
            #expect(held >= size / 2 && held < size)
            let report = try await Self.send(.bytes(data, name: "twice.bin"), port: port, configuration: configuration)
            // The receiver may still have stored chunks that were in flight after `held` was read.
            #expect(report.sessions.count == 1 && report.sessions[0].resumedAt >= held, "\(report.sessions)")
            #expect(report.bytesOnWire < size - held + 64 << 10)
            let received = try await first(of: receiver.transfers, "the received transfer")
            #expect(received.digest == TransferDigest(of: data))
        }
    }

    @Test("the connection cut without a close frame (1006) mid-transfer: the client reconnects and resumes where the receiver stopped")
    func resumesAfterAbnormalClosure() async throws {
        try await withTemporaryDirectory { directory in
            let size = 8 << 20
            let data = seededBytes(size)
            let receiver = TransferReceiver(store: try await .disk(directory: directory))
            let open = NIOLockedValueBox<[WebSocket]>([])
            let clock = ManualClock()
            let (events, eventSink) = AsyncStream.makeStream(of: TransferEvent.self)
            let configuration = TransferSenderConfiguration(chunkSize: 1 << 20, window: 1 << 20)
            try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit), handler: { ws in
                open.withLockedValue { $0.append(ws) }
                await receiver.serve(ws)
            }) { port in
                async let sent = Self.send(.bytes(data, name: "cut.bin"), port: port, configuration: configuration,
                                           clock: clock) { eventSink.yield($0) }
                try await waitFor("half the transfer acknowledged", in: events) { event in
                    guard case .progress(let progress) = event else { return false }
                    return progress.acknowledged >= size / 2
                }
                for ws in open.withLockedValue({ $0 }) { ws.abort() }
                let disconnected = try await waitFor("the client to see the connection end", in: events) { event in
                    if case .connection(.disconnected) = event { return true }
                    return false
                }
                #expect(disconnected == .connection(.disconnected(.closed(CloseOutcome(sent: nil, received: nil)))))
                _ = try await withTimeout("the client to sleep") { try await clock.advanceToNextDeadline() }
                let report = try await sent
                #expect(report.digest == TransferDigest(of: data))
                #expect(report.sessions.count == 2)
                #expect(report.sessions[1].resumedAt >= size / 2)
                #expect(report.retransmittedBytes <= configuration.window, "retransmitted \(report.retransmittedBytes)")
            }
            #expect(try await digestOfFile(directory + "/cut.bin") == TransferDigest(of: data))
        }
    }

    @Test("a restarted disk store trusts only the offset its meta file records: bytes written past it are cut and asked for again")
    func diskStoreTrustsMetadataAfterCrash() async throws {
        try await withTemporaryDirectory { directory in
            let data = seededBytes(300_000)
            let id = TransferID(name: "crash.bin", size: data.readableBytes, digest: TransferDigest(of: data))
            let offer = TransferOffer(id: id, size: data.readableBytes, digest: TransferDigest(of: data), name: "crash.bin")
            let first = TransferReceiver(store: try await .disk(directory: directory))
            // A graceful shutdown: the connection's end synchronizes (a cancelled server may not).
            try await withRunningServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                                        handler: { await first.serve($0) }) { server, port in
                try await connect("ws://127.0.0.1:\(port)/") { ws in
                    var replies = ws.messages.makeAsyncIterator()
                    try await ws.send(.binary(TransferMessage.offer(offer).encoded()))
                    #expect(try await Self.decode(await replies.next()) == .resume(id: id, offset: 0))
                    let start = data.getSlice(at: 0, length: 60_000)!
                    try await ws.send(.binary(TransferMessage.chunk(id: id, offset: 0, data: start).encoded()))
                    #expect(try await Self.decode(await replies.next()) == .acknowledge(id: id, offset: 60_000))
                }
                await server.shutdown()
            }
            // What a crash can leave: bytes in the data file past the offset the meta file records.
            let dataFile = directory + "/.holdfast-partial/\(id).data"
            let handle = try #require(FileHandle(forWritingAtPath: dataFile))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(repeating: 0xEE, count: 5000))
            try handle.close()
            #expect(try FileManager.default.attributesOfItem(atPath: dataFile)[.size] as? Int == 65_000)

            let restarted = TransferReceiver(store: try await .disk(directory: directory))
            #expect(restarted.store.partialTransfers == [TransferStore.PartialTransfer(offer: offer, held: 60_000)])
            #expect(try FileManager.default.attributesOfItem(atPath: dataFile)[.size] as? Int == 60_000)
            try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                                 handler: { await restarted.serve($0) }) { port in
                let report = try await Self.send(.bytes(data, name: "crash.bin"), port: port)
                #expect(report.sessions.map(\.resumedAt) == [60_000])
            }
            #expect(try await digestOfFile(directory + "/crash.bin") == TransferDigest(of: data))
        }
    }

    @Test("""
        256 KiB chunks to a receiver that takes 64 KiB messages (the connection announces 1 MiB): closed with 1009, \
        the chunk size drops to the named limit after the reconnect, and the transfer completes
        """)
    func adaptsAfter1009() async throws {
        let data = seededBytes(1 << 20)
        let receiver = TransferReceiver(maxMessageSize: Self.limit)
        let clock = ManualClock()
        let (events, eventSink) = AsyncStream.makeStream(of: TransferEvent.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            let (_, port) = try await startTransferServer(in: &group, receiver: receiver, maxMessageSize: 1 << 20)
            let configuration = TransferSenderConfiguration(chunkSize: 256 << 10)
            async let sent = Self.send(.bytes(data, name: "adapt.bin"), port: port, configuration: configuration,
                                       clock: clock) { eventSink.yield($0) }
            let lowered = try await waitFor("the chunk size to be lowered", in: events) { event in
                if case .chunkSizeLowered = event { return true }
                return false
            }
            #expect(lowered == .chunkSizeLowered(to: Self.limit - 27, reason: "message exceeds limit of 65536 bytes"))
            _ = try await withTimeout("the client to sleep") { try await clock.advanceToNextDeadline() }
            let report = try await sent
            #expect(report.digest == TransferDigest(of: data))
            #expect(report.finalChunkSize == Self.limit - 27)
            #expect(report.sessions.count == 2)
            let received = try await first(of: receiver.transfers, "the received transfer")
            #expect(received.digest == TransferDigest(of: data))
        }
    }

    @Test("bytes whose digest does not match what the receiver holds: refused, a typed error, nothing delivered")
    func digestMismatch() async throws {
        let receiver = TransferReceiver()
        let data = seededBytes(200_000)
        var corrupt = data
        corrupt.setInteger(~data.getInteger(at: 10, as: UInt8.self)!, at: 10)
        let id = TransferID(name: "x.bin", size: data.readableBytes, digest: TransferDigest(of: data))
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            // A first sender stored half of other bytes under the same id (id reuse, a bad disk).
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                var replies = ws.messages.makeAsyncIterator()
                let offer = TransferOffer(id: id, size: data.readableBytes, digest: nil, name: "x.bin")
                try await ws.send(.binary(TransferMessage.offer(offer).encoded()))
                #expect(try await Self.decode(await replies.next()) == .resume(id: id, offset: 0))
                let half = corrupt.getSlice(at: 0, length: 50_000)!
                try await ws.send(.binary(TransferMessage.chunk(id: id, offset: 0, data: half).encoded()))
                #expect(try await Self.decode(await replies.next()) == .acknowledge(id: id, offset: 50_000))
            }
            let error = await #expect(throws: TransferError.self) {
                try await Self.send(.bytes(data, name: "x.bin"), port: port)
            }
            #expect(error?.isDigestMismatch == true)
            #expect(error?.refusal?.code == .digestMismatch)
            #expect(error?.description.contains("have SHA-256") == true, "\(error.map { "\($0)" } ?? "")")
            #expect(receiver.store.partialTransfers.isEmpty)
            // Offered again, it starts from nothing and arrives intact.
            let report = try await Self.send(.bytes(data, name: "x.bin"), port: port)
            #expect(report.sessions.map(\.resumedAt) == [0])
            let received = try await first(of: receiver.transfers, "the received transfer")
            #expect(received.digest == TransferDigest(of: data))
        }
    }

    /// `pieces` as an `AsyncSequence`.
    static func stream(_ pieces: [ByteBuffer]) -> AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            for piece in pieces { continuation.yield(piece) }
            continuation.finish()
        }
    }

    static func decode(_ message: WebSocketMessage?) throws -> TransferMessage {
        try TransferMessage(decoding: try #require(message).data)
    }

    @Test("the store's limits refuse with a clear reason: size per transfer, open transfers, total bytes")
    func storeLimits() async throws {
        let limits = TransferStoreLimits(maxTransferSize: 100_000, maxTotalBytes: 150_000, maxOpenTransfers: 2)
        let receiver = TransferReceiver(store: .memory(limits: limits))
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            let error = await #expect(throws: TransferError.self) {
                try await Self.send(.bytes(seededBytes(100_001), name: "big.bin"), port: port)
            }
            #expect(error?.refusal == TransferRefusal(.transferTooLarge,
                                                       "transfer of 100001 bytes exceeds the limit of 100000 bytes per transfer"))
            #expect(error?.description == "the receiver refused the transfer: transfer of 100001 bytes exceeds the limit of 100000 bytes per transfer")

            try await connect("ws://127.0.0.1:\(port)/") { ws in
                var replies = ws.messages.makeAsyncIterator()
                func offer(_ index: UInt8, size: Int) async throws -> TransferMessage {
                    let id = TransferID(bytes: Array(repeating: index, count: 16))!
                    try await ws.send(.binary(TransferMessage.offer(
                        TransferOffer(id: id, size: size, digest: nil, name: "part\(index)")).encoded()))
                    return try Self.decode(await replies.next())
                }
                #expect(try await offer(1, size: 80_000) == .resume(id: TransferID(bytes: Array(repeating: 1, count: 16))!, offset: 0))
                let full = try await offer(2, size: 80_000)
                #expect(full == .refuse(id: TransferID(bytes: Array(repeating: 2, count: 16))!, TransferRefusal(
                    .storeFull, "transfer of 80000 bytes does not fit: 80000 of 150000 bytes are reserved by open transfers")))
                _ = try await offer(3, size: 10_000)
                let many = try await offer(4, size: 10)
                #expect(many == .refuse(id: TransferID(bytes: Array(repeating: 4, count: 16))!, TransferRefusal(
                    .tooManyTransfers, "the receiver already keeps 2 open transfers (limit 2)")))
            }
        }
    }

    @Test("a partial transfer idle past the timeout is discarded, freeing its place")
    func idleTransfersExpire() async throws {
        let clock = ManualClock()
        let store = TransferStore.memory(limits: TransferStoreLimits(maxOpenTransfers: 1, idleTimeout: .seconds(60)),
                                         clock: clock)
        let receiver = TransferReceiver(store: store)
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                var replies = ws.messages.makeAsyncIterator()
                let first = TransferOffer(id: TransferID(bytes: Array(repeating: 1, count: 16))!, size: 10, digest: nil, name: "a")
                let second = TransferOffer(id: TransferID(bytes: Array(repeating: 2, count: 16))!, size: 10, digest: nil, name: "b")
                try await ws.send(.binary(TransferMessage.offer(first).encoded()))
                #expect(try await Self.decode(await replies.next()) == .resume(id: first.id, offset: 0))
                try await ws.send(.binary(TransferMessage.offer(second).encoded()))
                let refusal = try Self.decode(await replies.next())
                #expect(refusal == .refuse(id: second.id, TransferRefusal(
                    .tooManyTransfers, "the receiver already keeps 1 open transfers (limit 1)")))
                #expect(store.partialTransfers.map(\.offer) == [first])
                clock.advance(by: .seconds(60))
                try await ws.send(.binary(TransferMessage.offer(second).encoded()))
                #expect(try await Self.decode(await replies.next()) == .resume(id: second.id, offset: 0))
                #expect(store.partialTransfers.map(\.offer) == [second])
            }
        }
    }

    @Test("names that would escape the directory are refused; nothing is written outside it",
          arguments: ["../escape.bin", "/tmp/absolute.bin", "sub/dir.bin", "..", ""])
    func unsafeNames(name: String) async throws {
        try await withTemporaryDirectory { directory in
            let storeDirectory = directory + "/inbox/files"
            let receiver = TransferReceiver(store: try await .disk(directory: storeDirectory))
            try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                                 handler: { await receiver.serve($0) }) { port in
                let error = await #expect(throws: TransferError.self) {
                    try await Self.send(.bytes(ByteBuffer(string: "payload"), name: name), port: port)
                }
                #expect(error?.refusal?.code == .invalidName)
                #expect(error?.description.hasPrefix("the receiver refused the transfer: invalid name") == true)
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: storeDirectory) == [".holdfast-partial"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/inbox") == ["files"])
            #expect(!FileManager.default.fileExists(atPath: directory + "/escape.bin"))
        }
    }

    @Test("sending to an echo server, not a transfer receiver, fails with a reason that says so")
    func echoServerIsNotAReceiver() async throws {
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit), handler: echo) { port in
            let error = await #expect(throws: TransferError.self) {
                try await Self.send(.bytes(ByteBuffer(string: "hello"), name: "echo.txt"), port: port)
            }
            #expect(error?.description.hasSuffix("it is not a transfer receiver (an echo server?)") == true,
                    "\(error.map { "\($0)" } ?? "")")
        }
    }

    @Test("a text message or a malformed one closes the receiving connection with 1003 or 1008 and a reason")
    func receiverRejectsNonTransferMessages() async throws {
        let receiver = TransferReceiver()
        try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                             handler: { await receiver.serve($0) }) { port in
            let text = try await connect("ws://127.0.0.1:\(port)/") { ws in
                try await ws.send(text: "hello")
                return await ws.closeOutcome
            }
            #expect(text.code == .unsupportedData)
            #expect(text.reason == "transfer messages are binary")
            let malformed = try await connect("ws://127.0.0.1:\(port)/") { ws in
                try await ws.send(.binary([0x48, 0x01, 0x02, 0x00]))
                return await ws.closeOutcome
            }
            #expect(malformed.code == .policyViolation)
            #expect(malformed.reason == "transfer message ends inside its chunk id")
        }
    }

    @Test("a transfer already delivered is confirmed again, not sent again")
    func deliveredTransferIsConfirmed() async throws {
        try await withTemporaryDirectory { directory in
            let data = seededBytes(100_000)
            let receiver = TransferReceiver(store: try await .disk(directory: directory))
            try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                                 handler: { await receiver.serve($0) }) { port in
                _ = try await Self.send(.bytes(data, name: "once.bin"), port: port)
            }
            // After a restart the record of the delivery is read back from the directory.
            let restarted = TransferReceiver(store: try await .disk(directory: directory))
            try await withServer(configuration: transferServerConfiguration(maxMessageSize: Self.limit),
                                 handler: { await restarted.serve($0) }) { port in
                let again = try await Self.send(.bytes(data, name: "once.bin"), port: port)
                #expect(again.sessions.map(\.resumedAt) == [data.readableBytes])
                #expect(again.bytesOnWire < 200)
            }
            #expect(try await digestOfFile(directory + "/once.bin") == TransferDigest(of: data))
        }
    }
}
