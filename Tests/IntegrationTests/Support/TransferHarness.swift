import Foundation
import Holdfast
import HoldfastTestSupport
import HoldfastTransfer
import NIOCore
import Testing

/// A fresh directory under the system's temporary directory, removed when `body` returns.
func withTemporaryDirectory<Result>(_ body: (String) async throws -> Result) async throws -> Result {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-transfer-\(UUID())").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// `count` bytes from a seeded generator: incompressible, and the same on every run. Filled in
/// place, word by word, so that even a debug build makes 32 MiB in a moment.
func seededBytes(_ count: Int, seed: UInt64 = 0x5EED) -> ByteBuffer {
    var random = SeededRandomNumberGenerator(seed: seed)
    var buffer = ByteBuffer()
    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count + 8) { pointer in
        let words = pointer.bindMemory(to: UInt64.self)
        for index in 0..<((count + 7) / 8) { words[index] = random.next() }
        return count
    }
    return buffer
}

/// Writes `data` to a new file at `path` in one copy.
func writeFile(_ path: String, _ data: ByteBuffer) {
    let contents = data.withUnsafeReadableBytes { Data($0) }
    #expect(FileManager.default.createFile(atPath: path, contents: contents))
}

/// Server settings for transfer tests: a message limit of `maxMessageSize`.
func transferServerConfiguration(maxMessageSize: Int) -> WebSocketServerConfiguration {
    WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: maxMessageSize))
}

/// Starts a server in `group` whose connections `receiver` serves.
func startTransferServer(
    in group: inout ThrowingTaskGroup<Void, any Error>, port: Int = 0, receiver: TransferReceiver,
    maxMessageSize: Int
) async throws -> (server: WebSocketServer, port: Int) {
    try await startServer(in: &group, port: port, configuration: transferServerConfiguration(maxMessageSize: maxMessageSize)) {
        await receiver.serve($0)
    }
}

/// A reconnecting client for transfers to `port`, backing off on `clock`.
func transferClient(port: Int, clock: any Clock<Duration>) -> ReconnectingWebSocket {
    let client = WebSocketClientConfiguration(webSocket: testWebSocketConfiguration(), connectTimeout: .seconds(5))
    return ReconnectingWebSocket(url: "ws://127.0.0.1:\(port)/upload",
                                 configuration: .init(client: client, policy: ReconnectPolicy(initialDelay: .milliseconds(100))),
                                 clock: clock, randomSource: SeededRandomNumberGenerator(seed: 8), logger: silentLogger)
}

/// Waits, within `limit`, for the first event of `events` that `matches`.
@discardableResult
func waitFor(_ what: String, in events: AsyncStream<TransferEvent>, limit: Duration = .seconds(30),
             _ matches: @escaping @Sendable (TransferEvent) -> Bool) async throws -> TransferEvent {
    try await withTimeout(what, limit: limit) {
        for await event in events where matches(event) { return event }
        throw StreamEndedError(what: what)
    }
}

/// The SHA-256 of a file, read in 1 MiB pieces.
func digestOfFile(_ path: String) async throws -> TransferDigest {
    let handle = try #require(FileHandle(forReadingAtPath: path))
    defer { try? handle.close() }
    var hasher = TransferHasher()
    while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
        hasher.update(ByteBuffer(bytes: data))
    }
    return hasher.finalize()
}
