// In-process benchmarks of Holdfast's hot paths: unmasking (against NIOWebSocket's
// `webSocketUnmask` on the same bytes), frame parsing, serialization, UTF-8 validation (against
// `String(validating:as:)`), and one echoed message through the NIO channel handler.
//
// Run from this package's folder: `swift package --disable-sandbox benchmark` (see BENCHMARKS.md).

import Benchmark
import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 100_000
    )
    registerUnmaskBenchmarks()
    registerParserBenchmarks()
    registerSerializerBenchmarks()
    registerUTF8Benchmarks()
    registerEchoBenchmarks()
}

// MARK: - Helpers

/// Holds benchmark state that the closure mutates in place: a `ByteBuffer` kept in a class
/// property is mutated through its storage without a copy-on-write, where one captured by
/// value and copied into a local would be copied on its first write.
final class Box<Value> {
    var value: Value
    init(_ value: Value) { self.value = value }
}

extension Box where Value == ByteBuffer {
    /// Moves the buffer out, leaving an empty one: the caller's local copy is then the only
    /// reference to its storage, so mutating it in a loop costs neither a copy-on-write nor the
    /// class property's exclusivity check on every iteration. Put it back when done, outside the
    /// measured region (the empty buffer left behind is an allocation).
    func take() -> ByteBuffer {
        defer { value = ByteBuffer() }
        return value
    }
}

/// Deterministic pseudo-random bytes (xorshift), so both sides of a comparison see the same data.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        bytes[index] = UInt8(truncatingIfNeeded: state)
    }
    return bytes
}

let keyBytes: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
let holdfastKey = MaskingKey(keyBytes[0], keyBytes[1], keyBytes[2], keyBytes[3])
let nioKey = WebSocketMaskingKey(keyBytes)!

/// A client frame as a browser sends it: header, masking key, masked payload.
func appendMaskedFrame(opcode: Opcode, payload: [UInt8], to buffer: inout ByteBuffer) {
    FrameSerializer.write(Frame(opcode: opcode, payload: ByteBuffer(bytes: payload)), maskingKey: holdfastKey,
                          into: &buffer)
}

func label(_ size: Int) -> String {
    switch size {
    case ..<1024: return "\(size) B"
    case ..<(1 << 20): return "\(size >> 10) KiB"
    default: return "\(size >> 20) MiB"
    }
}

/// Small inputs are repeated 1000 times per measured iteration (`scalingFactor: .kilo`), so that
/// the per-iteration overhead of the harness does not swamp them; results are per operation.
func scaling(for size: Int) -> BenchmarkScalingFactor {
    size <= 1024 ? .kilo : .one
}

// MARK: - (1) Unmasking

func registerUnmaskBenchmarks() {
    for size in [64, 1024, 64 * 1024, 1 << 20] {
        let data = pseudoRandomBytes(size)
        let configuration = Benchmark.Configuration(scalingFactor: scaling(for: size))

        let holdfastBuffer = Box(ByteBuffer(bytes: data))
        Benchmark("Unmask \(label(size)) Holdfast MaskingKey.apply", configuration: configuration) { benchmark in
            var buffer = holdfastBuffer.take()
            let key = holdfastKey
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                key.apply(to: &buffer)
            }
            benchmark.stopMeasurement()
            blackHole(buffer.readableBytes)
            holdfastBuffer.value = buffer
        }

        // The same loop on raw memory, without `ByteBuffer`'s uniqueness check and closure: shows
        // how much of the small-size figure is fixed cost around the loop.
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        raw.copyBytes(from: data)
        Benchmark("Unmask \(label(size)) Holdfast apply(from:to:count:) on raw memory",
                  configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                holdfastKey.apply(from: UnsafeRawPointer(raw.baseAddress!), to: raw.baseAddress!, count: size)
            }
            blackHole(raw.baseAddress)
        }

        let nioBuffer = Box(ByteBuffer(bytes: data))
        Benchmark("Unmask \(label(size)) NIO webSocketUnmask", configuration: configuration) { benchmark in
            var buffer = nioBuffer.take()
            let key = nioKey
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                buffer.webSocketUnmask(key, indexOffset: 0)
            }
            benchmark.stopMeasurement()
            blackHole(buffer.readableBytes)
            nioBuffer.value = buffer
        }
    }
}

// MARK: - (2) Frame parsing

func registerParserBenchmarks() {
    // 1000 masked 64-byte binary frames back to back, as one read of a pipelining client would
    // bring them; one measured iteration parses the whole buffer, results are per frame.
    let frameCount = 1000
    var many = ByteBuffer()
    let smallPayload = pseudoRandomBytes(64)
    for _ in 0..<frameCount { appendMaskedFrame(opcode: .binary, payload: smallPayload, to: &many) }
    let manyFrames = many
    Benchmark("Parse 1000 masked 64 B frames in one buffer (per frame)",
              configuration: .init(scalingFactor: .kilo)) { benchmark in
        var parser = FrameParser(role: .server, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
        var input = manyFrames
        var parsed = 0
        while let frame = try? parser.nextFrame(from: &input) {
            parsed &+= frame.payload.readableBytes
        }
        precondition(parsed == frameCount * 64)
        blackHole(parsed)
    }

    // One masked 1 MiB frame, all in one buffer.
    let largeSize = 1 << 20
    var large = ByteBuffer()
    appendMaskedFrame(opcode: .binary, payload: pseudoRandomBytes(largeSize), to: &large)
    let largeFrame = large
    Benchmark("Parse one masked 1 MiB frame") { _ in
        var parser = FrameParser(role: .server, maxFrameSize: 1 << 21, maxMessageSize: 1 << 21)
        var input = largeFrame
        let frame = try? parser.nextFrame(from: &input)
        precondition(frame?.payload.readableBytes == largeSize)
        blackHole(frame)
    }

    // The same frame as the socket would deliver it: in 16 reads of 64 KiB.
    let chunks = stride(from: 0, to: largeFrame.readableBytes, by: 64 * 1024).map { start in
        largeFrame.getSlice(at: start, length: min(64 * 1024, largeFrame.readableBytes - start))!
    }
    Benchmark("Parse one masked 1 MiB frame arriving in 64 KiB reads") { _ in
        var parser = FrameParser(role: .server, maxFrameSize: 1 << 21, maxMessageSize: 1 << 21)
        var result: Frame?
        for chunk in chunks {
            var input = chunk
            if let frame = try? parser.nextFrame(from: &input) { result = frame }
        }
        precondition(result?.payload.readableBytes == largeSize)
        blackHole(result)
    }
}

// MARK: - (3) Serialization

func registerSerializerBenchmarks() {
    for size in [64, 1 << 20] {
        let payload = ByteBuffer(bytes: pseudoRandomBytes(size))
        let frame = Frame(opcode: .binary, payload: payload)
        let configuration = Benchmark.Configuration(scalingFactor: scaling(for: size))

        // A server frame into a reused output buffer (header + payload copy).
        let serverOutput = Box(ByteBuffer())
        serverOutput.value.reserveCapacity(size + 16)
        Benchmark("Serialize \(label(size)) server frame (FrameSerializer.write, reused buffer)",
                  configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                serverOutput.value.clear()
                FrameSerializer.write(frame, maskingKey: nil, into: &serverOutput.value)
            }
            blackHole(serverOutput.value.readableBytes)
        }

        // A client frame: the payload is masked as it is copied.
        let clientOutput = Box(ByteBuffer())
        clientOutput.value.reserveCapacity(size + 16)
        Benchmark("Serialize \(label(size)) masked client frame (FrameSerializer.write, reused buffer)",
                  configuration: configuration) { benchmark in
            for _ in benchmark.scaledIterations {
                clientOutput.value.clear()
                FrameSerializer.write(frame, maskingKey: holdfastKey, into: &clientOutput.value)
            }
            blackHole(clientOutput.value.readableBytes)
        }

        // What the NIO handler calls for each message a server sends: encode into the batch
        // buffer (reused, as the handler reuses its thread's spare buffer); a payload over the
        // coalescing limit is handed on separately, uncopied.
        let machine = Box(ConnectionStateMachine(role: .server,
                                                 configuration: .init(maxMessageSize: 1 << 21)))
        let batch = Box(ByteBuffer())
        let message = WebSocketMessage(kind: .binary, data: payload)
        Benchmark("Encode \(label(size)) message (server ConnectionStateMachine.encode into a reused batch)",
                  configuration: configuration) { benchmark in
            var written = 0
            for _ in benchmark.scaledIterations {
                batch.value.clear()
                machine.value.encode(message, into: &batch.value) { output, payload in
                    written &+= output.readableBytes &+ payload.readableBytes
                    output.clear()
                }
                written &+= batch.value.readableBytes
            }
            blackHole(written)
        }
    }
}

// MARK: - (4) UTF-8 validation

func registerUTF8Benchmarks() {
    let asciiLine = Array("The quick brown fox jumps over the lazy dog; 0123456789 {\"key\": \"value\"}\n".utf8)
    // Two-, three- and four-byte scalars: Latin, Greek, CJK, emoji.
    let multiByteLine = Array("Grüße, señor — Ἀθῆναι · 東京の天気は晴れ · 서울 · 🎉🚀✨ naïve café\n".utf8)
    func text(_ line: [UInt8], size: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size + line.count)
        while bytes.count < size { bytes += line }
        // Cut at a scalar boundary at or below `size`.
        var end = min(size, bytes.count)
        while end > 0, end < bytes.count, bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return Array(bytes[..<end])
    }
    let inputs: [(String, [UInt8])] = [
        ("ASCII 64 B", text(asciiLine, size: 64)),
        ("ASCII 64 KiB", text(asciiLine, size: 64 * 1024)),
        ("multi-byte 64 B", text(multiByteLine, size: 64)),
        ("multi-byte 64 KiB", text(multiByteLine, size: 64 * 1024)),
    ]
    for (name, bytes) in inputs {
        precondition(String(validating: bytes, as: UTF8.self) != nil, "\(name) is not valid UTF-8")
        let configuration = Benchmark.Configuration(scalingFactor: scaling(for: bytes.count))
        let buffer = ByteBuffer(bytes: bytes)
        Benchmark("UTF-8 \(name) Holdfast UTF8Validator", configuration: configuration) { benchmark in
            var valid = true
            for _ in benchmark.scaledIterations {
                var validator = UTF8Validator()
                valid = buffer.withUnsafeReadableBytes { validator.validate($0) } && validator.isComplete && valid
            }
            precondition(valid)
        }
        Benchmark("UTF-8 \(name) String(validating:as:)", configuration: configuration) { benchmark in
            var valid = true
            for _ in benchmark.scaledIterations {
                let string = buffer.withUnsafeReadableBytes { raw in
                    String(validating: raw.bindMemory(to: UInt8.self), as: UTF8.self)
                }
                valid = string != nil && valid
                blackHole(string)
            }
            precondition(valid)
        }
    }
}

// MARK: - (5) Echo through the NIO handler

/// A server connection on an `EmbeddedChannel`, upgraded once, that echoes every message back
/// through the event-loop-bound API (`deliverOnEventLoop` + `write`), as `holdfast serve` does.
final class EchoConnection {
    let channel = EmbeddedChannel()

    init() throws {
        // As `holdfast serve` does: the connections of an event loop share one spare output buffer.
        let spareOutput = SpareOutputBuffer()
        var settings = ServerHandshakeSettings(
            configuration: .init(),
            shouldUpgrade: nil,
            eventLoopDelivery: { upgraded in
                let handler = upgraded.handler.value
                handler.deliverOnEventLoop(
                    received: { element in
                        guard case .message(let message) = element else { return }
                        try? handler.write(message)
                    },
                    closed: { _ in })
            },
            logger: Logger(label: "benchmark", factory: { _ in SwiftLogNoOpLogHandler() }))
        settings.spareOutput = { _ in spareOutput }
        let outcome = try ServerHandshakeHandler.configure(channel, settings: settings)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
        let request = "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: request))
        channel.embeddedEventLoop.run()
        guard case .upgraded = try outcome.wait() else { throw EchoSetupError.notUpgraded }
        while try channel.readOutbound(as: IOData.self) != nil {}  // the 101 response
    }

    /// Feeds `frames` as one read and drains what the handler wrote; returns the bytes written.
    func echo(_ frames: ByteBuffer) throws -> Int {
        try channel.writeInbound(frames)
        var written = 0
        while let part = try channel.readOutbound(as: ByteBuffer.self) { written &+= part.readableBytes }
        return written
    }
}

enum EchoSetupError: Error { case notUpgraded, wrongEcho(Int) }

func registerEchoBenchmarks() {
    let text = Array(String(repeating: "0123456789abcdef", count: 4).utf8)  // 64 bytes of ASCII
    for (kind, opcode) in [("text", Opcode.text), ("binary", Opcode.binary)] {
        var one = ByteBuffer()
        appendMaskedFrame(opcode: opcode, payload: text, to: &one)
        let frame = one
        let connection = Box<EchoConnection?>(nil)
        Benchmark("Echo one 64 B \(kind) message through WebSocketChannelHandler (EmbeddedChannel)",
                  configuration: .init(scalingFactor: .kilo)) { benchmark in
            // Set up on the first (warm-up) iteration, on the thread that runs the iterations:
            // EmbeddedEventLoop is bound to the thread that created it.
            if connection.value == nil { connection.value = try EchoConnection() }
            let echo = connection.value!
            for _ in benchmark.scaledIterations {
                let written = try echo.echo(frame)
                guard written == 2 + 64 else { throw EchoSetupError.wrongEcho(written) }
            }
        }
    }

    // 16 messages in one read, as a client pipelining 16 messages sends them: parse them all,
    // answer each through the outbound path, flush once. One iteration is one read of 16
    // messages: divide by 16 for per-message figures.
    var sixteen = ByteBuffer()
    for _ in 0..<16 { appendMaskedFrame(opcode: .text, payload: text, to: &sixteen) }
    let batch = sixteen
    let batchConnection = Box<EchoConnection?>(nil)
    Benchmark("Echo 16 x 64 B text messages in one read (per read of 16)") { _ in
        if batchConnection.value == nil { batchConnection.value = try EchoConnection() }
        let written = try batchConnection.value!.echo(batch)
        guard written == 16 * (2 + 64) else { throw EchoSetupError.wrongEcho(written) }
    }
}
