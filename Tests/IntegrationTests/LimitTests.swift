import Holdfast
import NIOCore
import Testing

/// The 1009 story end to end: limits announced, fitted to, and refused with a typed error.
@Suite(.timeLimit(.minutes(1)))
struct LimitTests {
    @Test("600 KB pass through a server whose frame limit is 16 KiB: the client fragments to fit the announced limit")
    func clientFragmentsToTheAnnouncedFrameLimit() async throws {
        let configuration = WebSocketServerConfiguration(
            webSocket: WebSocketConfiguration(maxMessageSize: 1 << 20, maxFrameSize: 16 * 1024, closeTimeout: .seconds(5)))
        try await withServer(configuration: configuration, handler: echo) { port in
            let (limits, reply) = try await connect("ws://127.0.0.1:\(port)/") { ws in
                try await ws.send(.binary(pattern(600_000)))
                var messages = ws.messages.makeAsyncIterator()
                return (ws.peerLimits, await messages.next())
            }
            #expect(limits == AnnouncedLimits(maxMessageSize: 1 << 20, maxFrameSize: 16 * 1024))
            #expect(reply == .binary(pattern(600_000)))
        }
    }

    @Test("a server's own fragment size cuts what it sends into frames")
    func serverFragmentSize() async throws {
        let configuration = WebSocketServerConfiguration(
            webSocket: WebSocketConfiguration(fragmentSize: 1000, closeTimeout: .seconds(5)))
        try await withServer(configuration: configuration, handler: echo) { port in
            let fragments = try await connect("ws://127.0.0.1:\(port)/") { ws in
                try await ws.send(.binary(pattern(2500)))
                var received: [WebSocketFragment] = []
                for await fragment in ws.fragments {
                    received.append(fragment)
                    if fragment.isFinal { break }
                }
                return received
            }
            // A client in message mode sees the reassembled message as one final fragment.
            #expect(fragments.count == 1)
            #expect(fragments.first?.data == pattern(2500))
        }
    }

    @Test("a message over the peer's announced limit is refused unsent with a typed error; the connection goes on")
    func announcedMessageLimitIsRefusedLocally() async throws {
        let limit = 4096
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: limit))
        try await withServer(configuration: configuration, handler: echo) { port in
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                let error = await #expect(throws: WebSocketError.self) {
                    try await ws.send(.binary(pattern(limit + 1)))
                }
                #expect(error?.isMessageTooBig == true)
                #expect(error?.peerLimit == limit)
                try await ws.send(.text("still open"))
                var messages = ws.messages.makeAsyncIterator()
                #expect(await messages.next() == .text("still open"))
            }
        }
    }

    @Test("a peer's 1009 reaches the sender as a typed error naming the peer's limit")
    func peerCloseWith1009IsTyped() async throws {
        // A Python-free stand-in for a peer that announces nothing: a Holdfast server whose
        // handler closes with 1009 as soon as a message arrives.
        try await withServer(handler: { ws in
            for await _ in ws.messages {
                await ws.close(code: .messageTooBig, reason: "message exceeds limit of 2048 bytes")
            }
        }) { port in
            try await connect("ws://127.0.0.1:\(port)/") { ws in
                try await ws.send(.text("first"))
                for await _ in ws.messages {}
                let outcome = await ws.closeOutcome
                #expect(outcome.code == .messageTooBig)
                let error = await #expect(throws: WebSocketError.self) { try await ws.send(.text("again")) }
                #expect(error?.isMessageTooBig == true)
                #expect(error?.peerLimit == 2048)
            }
        }
    }

    @Test("a 64 MiB message streams through a server in fragment mode, from chunks to fragments")
    func streamingThroughTheServer() async throws {
        let chunkSize = 256 * 1024
        let chunkCount = 256
        let chunk = pattern(chunkSize)
        let server = WebSocketServerConfiguration(
            webSocket: WebSocketConfiguration(maxMessageSize: 1 << 20, maxFrameSize: chunkSize,
                                              receiveMode: .fragments(maxMessageSize: 1 << 30), closeTimeout: .seconds(5)))
        // The server streams each fragment straight back as a fragment of its own reply.
        try await withServer(configuration: server, handler: { ws in
            try await ws.send(.binary, chunks: OneMessage(fragments: ws.fragments))
        }) { port in
            let client = WebSocketClientConfiguration(
                webSocket: WebSocketConfiguration(maxFrameSize: chunkSize, receiveMode: .fragments(maxMessageSize: nil),
                                                  closeTimeout: .seconds(5)),
                connectTimeout: .seconds(5))
            let (received, fragmentCount, largest) = try await WebSocketClient.connect(
                to: "ws://127.0.0.1:\(port)/", configuration: client, logger: silentLogger
            ) { ws in
                try await withThrowingTaskGroup(of: (Int, Int, Int).self) { group in
                    group.addTask {
                        var total = 0
                        var count = 0
                        var largest = 0
                        for await fragment in ws.fragments {
                            #expect(fragment.data == chunk, "fragment \(count) intact")
                            total += fragment.data.readableBytes
                            largest = max(largest, fragment.data.readableBytes)
                            count += 1
                            if fragment.isFinal { break }
                        }
                        return (total, count, largest)
                    }
                    // One buffer sent 256 times: the sender holds 256 KiB, not 64 MiB.
                    let source = AsyncStream<ByteBuffer> { continuation in
                        for _ in 0..<chunkCount { continuation.yield(chunk) }
                        continuation.finish()
                    }
                    try await ws.send(.binary, chunks: source)
                    return try await group.next()!
                }
            }
            #expect(received == chunkSize * chunkCount)
            #expect(fragmentCount == chunkCount)
            #expect(largest <= chunkSize, "no fragment larger than the frame limit was ever held")
        }
    }
}

/// The data of the first message of a fragment sequence, fragment by fragment.
struct OneMessage: AsyncSequence {
    typealias Element = ByteBuffer
    let fragments: WebSocketFragments

    func makeAsyncIterator() -> Iterator { Iterator(base: fragments.makeAsyncIterator()) }

    struct Iterator: AsyncIteratorProtocol {
        var base: WebSocketFragments.AsyncIterator
        var done = false

        mutating func next() async -> ByteBuffer? {
            guard !done, let fragment = await base.next() else { return nil }
            done = fragment.isFinal
            return fragment.data
        }
    }
}
