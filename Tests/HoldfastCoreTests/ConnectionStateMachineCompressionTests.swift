import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

private let clientKey: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

/// RFC 7692 §7.2.3.1: "Hello" compressed into one DEFLATE block, sync-flush trailer removed.
private let helloCompressed: [UInt8] = [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]
/// RFC 7692 §7.2.3.2: the second "Hello" of a connection with context takeover.
private let helloAgain: [UInt8] = [0xF2, 0x00, 0x11, 0x00, 0x00]

/// Settings that compress every message, however short, so that the RFC's examples apply.
private let compressEverything = WebSocketConfiguration(compression: .init(minimumMessageSize: 0))

private func drain(_ machine: inout ConnectionStateMachine) -> [ConnectionStateMachine.Action] {
    var actions: [ConnectionStateMachine.Action] = []
    while let action = machine.nextAction() { actions.append(action) }
    return actions
}

private func receive(_ bytes: [UInt8], _ machine: inout ConnectionStateMachine) -> [ConnectionStateMachine.Action] {
    machine.bytesReceived(ByteBuffer(bytes: bytes))
    return drain(&machine)
}

/// A masked client frame with RSV1 set when `compressed`.
private func fromClient(fin: Bool = true, compressed: Bool, _ opcode: Opcode, _ payload: [UInt8]) -> [UInt8] {
    WireFrame.bytes(fin: fin, reservedBits: compressed ? 0x40 : 0, opcode: opcode.rawValue, payload: payload,
                    key: clientKey)
}

private func server(_ agreed: PerMessageDeflateParameters = .init(),
                    configuration: WebSocketConfiguration = compressEverything) -> ConnectionStateMachine {
    ConnectionStateMachine(role: .server, configuration: configuration, compression: agreed)
}

private func client(_ agreed: PerMessageDeflateParameters = .init(),
                    configuration: WebSocketConfiguration = compressEverything, seed: UInt64 = 7) -> ConnectionStateMachine {
    ConnectionStateMachine(role: .client, configuration: configuration, compression: agreed,
                           randomSource: SeededRandomNumberGenerator(seed: seed))
}

/// The bytes a machine writes for `message`.
private func encoded(_ message: WebSocketMessage, by machine: inout ConnectionStateMachine,
                     fragmentSize: Int? = nil) -> [UInt8] {
    var bytes: [UInt8] = []
    machine.encode(message, fragmentSize: fragmentSize) { bytes += Array($0.readableBytesView) }
    return bytes
}

/// The close frame a failing server writes first, as (code, reason).
private func closeWritten(_ actions: [ConnectionStateMachine.Action]) -> (UInt16, String)? {
    guard case .write(let buffer)? = actions.first else { return nil }
    let bytes = Array(buffer.readableBytesView)
    guard bytes.count >= 4, bytes[0] == 0x88 else { return nil }
    return (UInt16(bytes[2]) << 8 | UInt16(bytes[3]), String(decoding: bytes[4...], as: UTF8.self))
}

/// The first byte and payload length of each frame in `bytes`, masked or not.
private func frameHeaders(_ bytes: [UInt8]) -> [(firstByte: UInt8, length: Int)] {
    var headers: [(firstByte: UInt8, length: Int)] = []
    var offset = 0
    while offset + 2 <= bytes.count {
        var length = Int(bytes[offset + 1] & 0x7F)
        var headerLength = 2
        if length == 126 {
            length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            headerLength = 4
        } else if length == 127 {
            length = (0..<8).reduce(0) { $0 << 8 | Int(bytes[offset + 2 + $1]) }
            headerLength = 10
        }
        if bytes[offset + 1] & 0x80 != 0 { headerLength += 4 }
        headers.append((bytes[offset], length))
        offset += headerLength + length
    }
    return headers
}

@Suite("ConnectionStateMachine — RFC 7692 permessage-deflate")
struct ConnectionStateMachineCompressionTests {
    // MARK: Receiving the RFC's examples

    @Test("§7.2.3.1: a compressed 'Hello' is delivered, in one frame or in two fragments")
    func helloInOneFrameOrTwo() {
        var machine = server()
        #expect(receive(fromClient(compressed: true, .text, helloCompressed), &machine) == [.deliver(.text("Hello"))])
        var fragmented = server()
        let first = fromClient(fin: false, compressed: true, .text, Array(helloCompressed[..<3]))
        let second = fromClient(compressed: false, .continuation, Array(helloCompressed[3...]))
        #expect(receive(first, &fragmented) == [])
        #expect(receive(second, &fragmented) == [.deliver(.text("Hello"))])
    }

    @Test("§7.2.3.2: with context takeover a second 'Hello' refers back to the first")
    func sharedWindowAcrossMessages() {
        var machine = server()
        let bytes = fromClient(compressed: true, .text, helloCompressed) + fromClient(compressed: true, .text, helloAgain)
        #expect(receive(bytes, &machine) == [.deliver(.text("Hello")), .deliver(.text("Hello"))])
    }

    @Test("§7.2.3.3 and §7.2.3.4: a stored block, and a block with BFINAL set, are delivered")
    func storedAndFinalBlocks() {
        var machine = server()
        let stored: [UInt8] = [0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00]
        #expect(receive(fromClient(compressed: true, .text, stored), &machine) == [.deliver(.text("Hello"))])
        var ended = server()
        let final: [UInt8] = [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]
        #expect(receive(fromClient(compressed: true, .text, final), &ended) == [.deliver(.text("Hello"))])
        // The peer ended its DEFLATE stream; its next message starts a new one.
        #expect(receive(fromClient(compressed: true, .text, helloCompressed), &ended) == [.deliver(.text("Hello"))])
    }

    @Test("an uncompressed message (RSV1 clear) passes unchanged on a compressed connection")
    func uncompressedMessageOnCompressedConnection() {
        var machine = server()
        #expect(receive(fromClient(compressed: false, .binary, [1, 2, 3]), &machine) == [.deliver(.binary([1, 2, 3]))])
        #expect(receive(fromClient(compressed: true, .text, helloCompressed), &machine) == [.deliver(.text("Hello"))])
    }

    // MARK: Sending

    @Test("§7.2.3.1/§7.2.3.2: a server sends 'Hello' as the RFC shows, then refers back to it")
    func serverSendsTheRFCBytes() {
        var machine = server()
        #expect(encoded(.text("Hello"), by: &machine) == [0xC1, 0x07] + helloCompressed)
        #expect(encoded(.text("Hello"), by: &machine) == [0xC1, 0x05] + helloAgain)
    }

    @Test("§7.1.1: without context takeover every message is compressed afresh")
    func noContextTakeoverCompressesAfresh() {
        var machine = server(.init(ownNoContextTakeover: true))
        #expect(encoded(.text("Hello"), by: &machine) == [0xC1, 0x07] + helloCompressed)
        #expect(encoded(.text("Hello"), by: &machine) == [0xC1, 0x07] + helloCompressed)
    }

    @Test("messages shorter than the minimum size go uncompressed, with RSV1 clear")
    func shortMessagesGoUncompressed() {
        var machine = server(configuration: .init(compression: .init(minimumMessageSize: 128)))
        #expect(encoded(.text("Hello"), by: &machine) == [0x81, 0x05] + Array("Hello".utf8))
        let long = String(repeating: "Hello ", count: 40)
        let bytes = encoded(.text(long), by: &machine)
        #expect(bytes[0] == 0xC1, "RSV1 on a message of \(long.utf8.count) bytes")
        #expect(bytes.count < long.utf8.count / 4)
    }

    @Test("an agreed 8-bit window, which zlib cannot produce: everything goes uncompressed, compressed input still inflates")
    func eightBitWindowSendsUncompressed() {
        var machine = server(.init(ownMaxWindowBits: 8))
        #expect(encoded(.text("Hello"), by: &machine) == [0x81, 0x05] + Array("Hello".utf8))
        #expect(receive(fromClient(compressed: true, .text, helloCompressed), &machine) == [.deliver(.text("Hello"))])
    }

    @Test("§6.1: RSV1 goes on the first frame of a fragmented compressed message only")
    func rsv1OnFirstFragmentOnly() {
        var machine = server()
        let message = String(repeating: "abcdefgh", count: 64)
        var frames: [[UInt8]] = []
        machine.encode(.text(message), fragmentSize: 4) { frames.append(Array($0.readableBytesView)) }
        // The first frame has RSV1 and opcode text, the rest are continuations without it.
        let firstBytes = frameHeaders(frames.flatMap { $0 }).map(\.firstByte)
        #expect(firstBytes.count > 1)
        #expect(firstBytes.first == 0x41)
        #expect(firstBytes.dropFirst().dropLast().allSatisfy { $0 == 0x00 })
        #expect(firstBytes.last == 0x80)
    }

    // MARK: Round trips

    @Test("client → server and server → client round trips, with and without context takeover",
          arguments: [false, true])
    func roundTrips(noContextTakeover: Bool) {
        let clientSide = PerMessageDeflateParameters(ownNoContextTakeover: noContextTakeover,
                                                     peerNoContextTakeover: noContextTakeover)
        let serverSide = PerMessageDeflateParameters(ownNoContextTakeover: noContextTakeover,
                                                     peerNoContextTakeover: noContextTakeover)
        let configuration = WebSocketConfiguration(maxMessageSize: 4 << 20, compression: .init(minimumMessageSize: 64))
        var sender = client(clientSide, configuration: configuration)
        var receiver = server(serverSide, configuration: configuration)
        var serverSender = server(serverSide, configuration: configuration)
        var clientReceiver = client(clientSide, configuration: configuration, seed: 9)
        var random = SeededRandomNumberGenerator(seed: 42)
        let messages: [WebSocketMessage] = [
            .text(String(repeating: "{\"event\":\"tick\",\"value\":12345}", count: 300)),
            .binary(WireFrame.pattern(70_000, seed: 3)),
            .binary((0..<50_000).map { _ in UInt8.random(in: 0...255, using: &random) }),
            .text("short"),
            .text(String(repeating: "żółw 🐢 ", count: 5000)),
            .binary([]),
            .binary([UInt8](repeating: 0, count: 3 << 20)),
        ]
        for (index, message) in messages.enumerated() {
            let fragmentSize = index.isMultiple(of: 2) ? nil : 1000
            let wire = encoded(message, by: &sender, fragmentSize: fragmentSize)
            #expect(receive(wire, &receiver) == [.deliver(message)], "message \(index) client → server")
            var toClient: [UInt8] = []
            serverSender.encode(message, fragmentSize: fragmentSize) { toClient += Array($0.readableBytesView) }
            #expect(receive(toClient, &clientReceiver) == [.deliver(message)], "message \(index) server → client")
        }
    }

    @Test("a message streamed fragment by fragment is compressed as one and reassembled")
    func streamedFragmentsRoundTrip() {
        var sender = client()
        var receiver = server(configuration: .init(compression: .init(minimumMessageSize: 0)))
        let pieces = (0..<20).map { String(repeating: "piece \($0) ", count: 200) }
        var wire: [UInt8] = []
        for (index, piece) in pieces.enumerated() {
            sender.encodeFragment(ByteBuffer(string: piece), of: .text, isFinal: index == pieces.count - 1) {
                wire += Array($0.readableBytesView)
            }
        }
        #expect(wire.count < pieces.joined().utf8.count / 5)
        #expect(receive(wire, &receiver) == [.deliver(.text(pieces.joined()))])
    }

    @Test("§7.2.3.6: an empty final fragment is one 0x00 byte, and the window stays usable for the next message")
    func emptyFinalFragment() {
        var sender = client()
        var receiver = server()
        let text = String(repeating: "fragment ", count: 30)
        var frames: [[UInt8]] = []
        sender.encodeFragment(ByteBuffer(string: text), of: .text, isFinal: false) { frames.append(Array($0.readableBytesView)) }
        sender.encodeFragment(ByteBuffer(), of: .text, isFinal: true) { frames.append(Array($0.readableBytesView)) }
        let last = frames[frames.count - 1]
        #expect(last[0] == 0x80 && last[1] & 0x7F == 1, "a final continuation with a one-byte payload")
        #expect(receive(frames.flatMap { $0 }, &receiver) == [.deliver(.text(text))])
        let next = String(repeating: "next ", count: 40)
        #expect(receive(encoded(.text(next), by: &sender), &receiver) == [.deliver(.text(next))])
    }

    @Test("in fragments mode each compressed frame is delivered inflated as it arrives")
    func fragmentsModeInflatesEachFrame() {
        var sender = client()
        let configuration = WebSocketConfiguration(receiveMode: .fragments(maxMessageSize: nil),
                                                   compression: .init(minimumMessageSize: 0))
        var receiver = server(configuration: configuration)
        let chunk = String(repeating: "x", count: 10_000)
        var delivered: [WebSocketFragment] = []
        for index in 0..<3 {
            sender.encodeFragment(ByteBuffer(string: chunk), of: .text, isFinal: index == 2) { bytes in
                for action in receive(Array(bytes.readableBytesView), &receiver) {
                    if case .deliverFragment(let fragment) = action { delivered.append(fragment) }
                }
            }
        }
        #expect(delivered.map(\.data.readableBytes) == [10_000, 10_000, 10_000])
        #expect(delivered.map(\.isFirst) == [true, false, false])
        #expect(delivered.map(\.isFinal) == [false, false, true])
    }

    @Test("with a fragment size, a compressed message goes slice by slice: each frame fits, and inflates to no more",
          arguments: [4096, 65536])
    func slicedCompression(fragmentSize: Int) {
        var random = SeededRandomNumberGenerator(seed: 11)
        let noise = (0..<150_000).map { _ in UInt8.random(in: 0...255, using: &random) }
        let zeros = [UInt8](repeating: 0, count: 300_000)
        let configuration = WebSocketConfiguration(maxFrameSize: fragmentSize,
                                                   receiveMode: .fragments(maxMessageSize: nil))
        for payload in [noise, zeros] {
            var sender = client()
            var receiver = server(configuration: configuration)
            let wire = encoded(.binary(payload), by: &sender, fragmentSize: fragmentSize)
            let headers = frameHeaders(wire)
            #expect(headers.allSatisfy { $0.length <= fragmentSize })
            #expect(headers.first?.firstByte == 0x42 && headers.last?.firstByte == 0x80)
            var reassembled: [UInt8] = []
            for action in receive(wire, &receiver) {
                guard case .deliverFragment(let fragment) = action else {
                    Issue.record("unexpected \(action)")
                    continue
                }
                #expect(fragment.data.readableBytes <= fragmentSize)
                reassembled += Array(fragment.data.readableBytesView)
            }
            #expect(reassembled == payload)
        }
    }

    // MARK: Limits and bad input

    @Test("streaming fragments, a compressed frame inflating past the frame limit gets 1009 naming that limit")
    func streamedFrameInflationIsBounded() {
        var sender = client()
        var receiver = server(configuration: .init(maxFrameSize: 65536, receiveMode: .fragments(maxMessageSize: nil)))
        let wire = encoded(.binary([UInt8](repeating: 0, count: 1 << 20)), by: &sender)
        #expect(wire.count < 65536)
        let close = closeWritten(receive(wire, &receiver))
        #expect(close?.0 == 1009)
        #expect(close?.1 == "frame exceeds limit of 65536 bytes")
    }

    @Test("§8: a message inflating past the limit gets 1009 naming it, with output bounded by the limit")
    func inflationBombIsRefused() {
        // 64 MiB of zeros streamed as 64 compressed fragments: about 64 KiB on the wire.
        var sender = client()
        var frames: [[UInt8]] = []
        let zeros = ByteBuffer(repeating: 0, count: 1 << 20)
        for index in 0..<64 {
            sender.encodeFragment(zeros, of: .binary, isFinal: index == 63) { frames.append(Array($0.readableBytesView)) }
        }
        #expect(frames.joined().count < 200_000)
        let limit = 1 << 20
        var receiver = server(configuration: .init(maxMessageSize: limit, compression: .init()))
        var actions: [ConnectionStateMachine.Action] = []
        var peakBuffered = 0
        for frame in frames {
            actions += receive(frame, &receiver)
            peakBuffered = max(peakBuffered, receiver.bufferedBytes)
        }
        let close = closeWritten(actions)
        #expect(close?.0 == 1009)
        #expect(close?.1 == "message exceeds limit of \(limit) bytes")
        #expect(peakBuffered <= limit)
        #expect(!actions.contains { if case .deliver = $0 { true } else { false } })
    }

    @Test("a compressed message inflating to exactly the limit is delivered; one byte more is refused")
    func limitIsExact() {
        let limit = 100_000
        let configuration = WebSocketConfiguration(maxMessageSize: limit, compression: .init(minimumMessageSize: 0))
        var sender = client(configuration: .init(maxMessageSize: 10 << 20, compression: .init(minimumMessageSize: 0)))
        var receiver = server(configuration: configuration)
        let exact = WebSocketMessage.binary([UInt8](repeating: 7, count: limit))
        #expect(receive(encoded(exact, by: &sender), &receiver) == [.deliver(exact)])
        // Random bytes deflate to a little more than themselves: the wire may exceed the limit.
        var random = SeededRandomNumberGenerator(seed: 3)
        let noise = WebSocketMessage.binary((0..<limit).map { _ in UInt8.random(in: 0...255, using: &random) })
        let noiseOnTheWire = encoded(noise, by: &sender)
        #expect(frameHeaders(noiseOnTheWire).reduce(0) { $0 + $1.length } > limit)
        #expect(receive(noiseOnTheWire, &receiver) == [.deliver(noise)])
        let over = WebSocketMessage.binary([UInt8](repeating: 7, count: limit + 1))
        let close = closeWritten(receive(encoded(over, by: &sender), &receiver))
        #expect(close?.0 == 1009)
    }

    @Test("§6.1: RSV1 on a continuation or a control frame is a protocol error (1002)")
    func rsv1OutOfPlace() {
        var continuation = server()
        let first = fromClient(fin: false, compressed: true, .text, Array(helloCompressed[..<3]))
        let second = fromClient(compressed: true, .continuation, Array(helloCompressed[3...]))
        let failed = closeWritten(receive(first + second, &continuation))
        #expect(failed?.0 == 1002)
        #expect(failed?.1 == "RSV1 set on a continuation frame")
        var ping = server()
        #expect(closeWritten(receive(fromClient(compressed: true, .ping, [1]), &ping))?.0 == 1002)
    }

    @Test("RSV1 without a negotiated extension stays a protocol error")
    func rsv1WithoutNegotiation() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(closeWritten(receive(fromClient(compressed: true, .text, helloCompressed), &machine))?.0 == 1002)
    }

    @Test("data that is not DEFLATE fails with 1007; compressed text that is not UTF-8 fails with 1007")
    func invalidCompressedData() {
        var garbage = server()
        let failed = closeWritten(receive(fromClient(compressed: true, .binary, [0xFF, 0xFF, 0xFF, 0xFF]), &garbage))
        #expect(failed?.0 == 1007)
        var sender = client()
        var receiver = server()
        // Compress invalid UTF-8 as binary, then relabel the frame as text.
        var wire = encoded(.binary([0x48, 0xC3, 0x28, 0x48]), by: &sender)
        wire[0] = (wire[0] & 0xF0) | Opcode.text.rawValue
        #expect(closeWritten(receive(wire, &receiver))?.0 == 1007)
    }
}
