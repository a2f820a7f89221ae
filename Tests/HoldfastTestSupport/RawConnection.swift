import NIOCore
import NIOPosix

/// A plain TCP connection that writes and reads bytes as given, for a peer that breaks the
/// protocol on purpose.
public struct RawConnection {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    /// Bytes received and not yet consumed.
    private var received = ByteBuffer()
    /// Whether the server closed its side.
    public private(set) var sawEndOfStream = false

    public struct UnexpectedFrame: Error, CustomStringConvertible {
        public let description: String
    }

    public struct UnexpectedEnd: Error, CustomStringConvertible {
        let expected: String
        public var description: String { "the connection ended while expecting \(expected)" }
    }

    /// Connects to `host`:`port`, runs `body`, and closes the connection.
    public static func with<Result: Sendable>(
        host: String = "127.0.0.1", port: Int, _ body: (inout RawConnection) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = RawConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    private init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
                 outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound
        self.outbound = outbound
    }

    public func write(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    public func write(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    /// Reads more bytes; returns false at the end of the stream.
    private mutating func receiveMore() async throws -> Bool {
        guard var bytes = try await inbound.next() else {
            sawEndOfStream = true
            return false
        }
        received.writeBuffer(&bytes)
        return true
    }

    /// Reads an HTTP response head, up to and including its blank line.
    public mutating func readHTTPHead() async throws -> String {
        while true {
            let view = received.readableBytesView
            if let end = view.firstRange(of: Array("\r\n\r\n".utf8)) {
                let length = view.distance(from: view.startIndex, to: end.upperBound)
                return received.readString(length: length)!
            }
            guard try await receiveMore() else { throw UnexpectedEnd(expected: "an HTTP response head") }
        }
    }

    /// Reads exactly `count` bytes (say, an HTTP body of the `Content-Length` its head gave),
    /// leaving what follows them for the next read: the connection can go on (keep-alive).
    public mutating func read(_ count: Int) async throws -> ByteBuffer {
        while received.readableBytes < count {
            guard try await receiveMore() else { throw UnexpectedEnd(expected: "\(count) bytes") }
        }
        return received.readSlice(length: count)!
    }

    /// Reads one unmasked frame of at most 125 bytes (as servers send control frames):
    /// its first byte and its payload.
    public mutating func readSmallFrame() async throws -> (firstByte: UInt8, payload: ByteBuffer) {
        while received.readableBytes < 2 {
            guard try await receiveMore() else { throw UnexpectedEnd(expected: "a frame header") }
        }
        let firstByte = received.getInteger(at: received.readerIndex, as: UInt8.self)!
        let secondByte = received.getInteger(at: received.readerIndex + 1, as: UInt8.self)!
        guard secondByte <= 125 else {
            throw UnexpectedFrame(description: "expected an unmasked frame of at most 125 bytes; second byte \(secondByte)")
        }
        let length = Int(secondByte)
        while received.readableBytes < 2 + length {
            guard try await receiveMore() else { throw UnexpectedEnd(expected: "a frame payload") }
        }
        received.moveReaderIndex(forwardBy: 2)
        return (firstByte, received.readSlice(length: length)!)
    }

    /// Reads one unmasked frame with a 7- or 16-bit length: its first byte and its payload.
    public mutating func readFrame() async throws -> (firstByte: UInt8, payload: ByteBuffer) {
        while received.readableBytes < 2 {
            guard try await receiveMore() else { throw UnexpectedEnd(expected: "a frame header") }
        }
        let firstByte = received.getInteger(at: received.readerIndex, as: UInt8.self)!
        let secondByte = received.getInteger(at: received.readerIndex + 1, as: UInt8.self)!
        guard secondByte <= 126 else {
            throw UnexpectedFrame(description: "expected an unmasked frame with a 7- or 16-bit length; second byte \(secondByte)")
        }
        var headerLength = 2
        var length = Int(secondByte)
        if secondByte == 126 {
            while received.readableBytes < 4 {
                guard try await receiveMore() else { throw UnexpectedEnd(expected: "a frame header") }
            }
            length = Int(received.getInteger(at: received.readerIndex + 2, as: UInt16.self)!)
            headerLength = 4
        }
        while received.readableBytes < headerLength + length {
            guard try await receiveMore() else { throw UnexpectedEnd(expected: "a frame payload") }
        }
        received.moveReaderIndex(forwardBy: headerLength)
        return (firstByte, received.readSlice(length: length)!)
    }

    /// Reads until the server closes its side; returns what arrived meanwhile.
    public mutating func readToEnd() async throws -> ByteBuffer {
        while try await receiveMore() {}
        let rest = received
        received.clear()
        return rest
    }
}
