import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

private typealias Action = ConnectionStateMachine.Action

private let clientKey: [UInt8] = [0x5A, 0x0F, 0xC3, 0x96]
private let tenSeconds = TimeAmount.seconds(10)

// MARK: - Helpers

/// All actions available now.
private func drain(_ machine: inout ConnectionStateMachine) -> [Action] {
    var actions: [Action] = []
    while let action = machine.nextAction() { actions.append(action) }
    return actions
}

/// Feeds `bytes` and returns the actions they cause.
private func receive(_ bytes: [UInt8], _ machine: inout ConnectionStateMachine) -> [Action] {
    machine.bytesReceived(ByteBuffer(bytes: bytes))
    return drain(&machine)
}

/// A frame as a client sends it to a server (masked).
private func fromClient(fin: Bool = true, _ opcode: Opcode, _ payload: [UInt8]) -> [UInt8] {
    WireFrame.bytes(fin: fin, opcode: opcode.rawValue, payload: payload, key: clientKey)
}

/// A frame as a server sends it to a client (unmasked).
private func fromServer(fin: Bool = true, _ opcode: Opcode, _ payload: [UInt8]) -> [UInt8] {
    WireFrame.bytes(fin: fin, opcode: opcode.rawValue, payload: payload)
}

/// The close frame body for `code` and `reason`.
private func closeBody(_ code: UInt16, _ reason: String = "") -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
}

/// What a server writes: an unmasked frame.
private func serverWrite(_ opcode: Opcode, _ payload: [UInt8]) -> Action {
    .write(ByteBuffer(bytes: WireFrame.bytes(opcode: opcode.rawValue, payload: payload)))
}

private func text(_ string: String) -> Action { .deliver(.text(string)) }

/// A client-role machine and a twin of its random source, to predict its masking keys.
private func clientMachine(seed: UInt64 = 0xC11E47, configuration: WebSocketConfiguration = .init())
    -> (ConnectionStateMachine, SeededRandomNumberGenerator)
{
    (ConnectionStateMachine(role: .client, configuration: configuration,
                            randomSource: SeededRandomNumberGenerator(seed: seed)),
     SeededRandomNumberGenerator(seed: seed))
}

/// Decodes one masked frame written by a client with the naive rules of RFC 6455 §5.2/§5.3, checking
/// that it is exactly one frame with the key that `twin` predicts.
private func unmaskClientWrite(_ action: Action, twin: inout SeededRandomNumberGenerator,
                               sourceLocation: SourceLocation = #_sourceLocation) -> (firstByte: UInt8, payload: [UInt8])?
{
    guard case .write(let buffer) = action else {
        Issue.record("expected a write, got \(action)", sourceLocation: sourceLocation)
        return nil
    }
    let bytes = Array(buffer.readableBytesView)
    guard bytes.count >= 6, bytes[1] & 0x80 != 0 else {
        Issue.record("client frame is not masked: \(bytes)", sourceLocation: sourceLocation)
        return nil
    }
    let length = Int(bytes[1] & 0x7F)
    #expect(length < 126, sourceLocation: sourceLocation)
    #expect(bytes.count == 6 + length, sourceLocation: sourceLocation)
    let key = Array(bytes[2..<6])
    let expectedKey = MaskingKey.random(using: &twin)
    #expect(MaskingKey(key) == expectedKey, "masking key does not come from the random source",
            sourceLocation: sourceLocation)
    let payload = bytes[6...].enumerated().map { $1 ^ key[$0 % 4] }
    return (bytes[0], payload)
}

// MARK: - Data frames

@Suite("ConnectionStateMachine — RFC 6455 §5.4 and §5.6 data and fragmentation")
struct ConnectionStateMachineDataTests {
    @Test("a server delivers a masked text and a binary message")
    func serverDeliversMessages() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(receive(fromClient(.text, Array("Hello".utf8)), &machine) == [text("Hello")])
        #expect(receive(fromClient(.binary, [0, 1, 0xFF]), &machine) == [.deliver(.binary([0, 1, 0xFF]))])
        #expect(receive(fromClient(.text, []), &machine) == [text("")])
        #expect(machine.canSend)
        #expect(!machine.isClosed)
    }

    @Test("a client delivers unmasked messages")
    func clientDeliversMessages() {
        var (machine, _) = clientMachine()
        #expect(receive(fromServer(.text, Array("Hi".utf8)) + fromServer(.binary, [7]), &machine)
                == [text("Hi"), .deliver(.binary([7]))])
    }

    @Test("§5.4: a fragmented text message is delivered once, whole")
    func fragmentedText() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(receive(fromClient(fin: false, .text, Array("Hel".utf8)), &machine) == [])
        #expect(receive(fromClient(fin: false, .continuation, []), &machine) == [])
        #expect(receive(fromClient(fin: false, .continuation, Array("lo".utf8)), &machine) == [])
        #expect(receive(fromClient(.continuation, Array(", world".utf8)), &machine) == [text("Hello, world")])
        // The next message starts afresh.
        #expect(receive(fromClient(.binary, [1]), &machine) == [.deliver(.binary([1]))])
    }

    @Test("§5.4: control frames between fragments are handled at once")
    func interleavedControlFrames() {
        var machine = ConnectionStateMachine(role: .server)
        let stream = fromClient(fin: false, .text, Array("frag".utf8))
            + fromClient(.ping, Array("are you there".utf8))
            + fromClient(fin: false, .continuation, Array("ment".utf8))
            + fromClient(.pong, [9])
            + fromClient(.continuation, Array("ed".utf8))
        #expect(receive(stream, &machine) == [
            serverWrite(.pong, Array("are you there".utf8)),
            .pongReceived(ByteBuffer(bytes: [9]), answeringPings: 0),
            text("fragmented"),
        ])
    }

    @Test("a fragmented message with multi-byte characters split across frames is delivered at every split point")
    func fragmentedTextEverySplitPoint() {
        // "€" and "𝄞" straddle the fragment boundaries; the ping sits between fragments.
        let message = "a€b𝄞c — ünïcödé"
        let utf8 = Array(message.utf8)
        let stream = fromClient(fin: false, .text, Array(utf8[..<2]))
            + fromClient(fin: false, .continuation, Array(utf8[2..<6]))
            + fromClient(.ping, [1, 2])
            + fromClient(fin: false, .continuation, Array(utf8[6..<8]))
            + fromClient(.continuation, Array(utf8[8...]))
        let expected = [serverWrite(.pong, [1, 2]), text(message)]
        var failedSplits: [Int] = []
        for split in 0...stream.count {
            var machine = ConnectionStateMachine(role: .server)
            let actions = receive(Array(stream[..<split]), &machine) + receive(Array(stream[split...]), &machine)
            if actions != expected { failedSplits.append(split) }
        }
        #expect(failedSplits.isEmpty)
        var bytewise = ConnectionStateMachine(role: .server)
        #expect(stream.flatMap { receive([$0], &bytewise) } == expected)
    }

    @Test("a client reassembles the same fragmented message at every split point")
    func clientFragmentedTextEverySplitPoint() {
        let message = "ß€𝄞 κόσμε"
        let utf8 = Array(message.utf8)
        let stream = fromServer(fin: false, .text, Array(utf8[..<1]))
            + fromServer(fin: false, .continuation, Array(utf8[1..<4]))
            + fromServer(.pong, [5])
            + fromServer(fin: false, .continuation, Array(utf8[4..<7]))
            + fromServer(.continuation, Array(utf8[7...]))
        let expected: [Action] = [.pongReceived(ByteBuffer(bytes: [5]), answeringPings: 0), text(message)]
        var failedSplits: [Int] = []
        for split in 0...stream.count {
            var (machine, _) = clientMachine()
            let actions = receive(Array(stream[..<split]), &machine) + receive(Array(stream[split...]), &machine)
            if actions != expected { failedSplits.append(split) }
        }
        #expect(failedSplits.isEmpty)
        var (bytewise, _) = clientMachine()
        #expect(stream.flatMap { receive([$0], &bytewise) } == expected)
    }

    @Test("Autobahn 9.3-style: a message of 65,537 fragments of 64 bytes is delivered whole")
    func manyFragments() {
        let fragmentSize = 64
        let fragmentCount = 65_537
        let total = fragmentSize * fragmentCount
        var machine = ConnectionStateMachine(role: .server, configuration: .init(maxMessageSize: total))
        let content = (0..<total).map { UInt8(0x20 + $0 % 95) }  // printable ASCII
        var stream = ByteBuffer()
        stream.reserveCapacity(total + fragmentCount * 6)
        for index in 0..<fragmentCount {
            let fragment = content[(index * fragmentSize)..<((index + 1) * fragmentSize)]
            stream.writeBytes(WireFrame.bytes(fin: index == fragmentCount - 1,
                                              opcode: index == 0 ? Opcode.text.rawValue : 0,
                                              payload: Array(fragment), key: clientKey))
        }
        machine.bytesReceived(stream)
        let actions = drain(&machine)
        #expect(actions.count == 1)
        #expect(actions == [.deliver(WebSocketMessage(kind: .text, data: ByteBuffer(bytes: content)))])
    }

    @Test("while the close handshake runs, data sent before the peer's close is still delivered")
    func dataDuringCloseSent() {
        var machine = ConnectionStateMachine(role: .server)
        machine.closeRequested(CloseFrame(code: .normalClosure))
        #expect(drain(&machine) == [serverWrite(.connectionClose, closeBody(1000)), .scheduleCloseTimeout(tenSeconds)])
        #expect(!machine.canSend)
        #expect(receive(fromClient(.text, Array("late".utf8)) + fromClient(fin: false, .binary, [1]), &machine)
                == [text("late")])
        #expect(receive(fromClient(.continuation, [2]), &machine) == [.deliver(.binary([1, 2]))])
    }
}

// MARK: - Control frames

@Suite("ConnectionStateMachine — RFC 6455 §5.5.2/§5.5.3 ping and pong")
struct ConnectionStateMachinePingTests {
    @Test("a server answers a ping with an unmasked pong carrying the same payload")
    func serverPong() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(receive(fromClient(.ping, Array("hi".utf8)), &machine)
                == [.write(ByteBuffer(bytes: [0x8A, 0x02, 0x68, 0x69]))])
        #expect(receive(fromClient(.ping, []), &machine) == [.write(ByteBuffer(bytes: [0x8A, 0x00]))])
        let large = WireFrame.pattern(125)
        #expect(receive(fromClient(.ping, large), &machine) == [.write(ByteBuffer(bytes: [0x8A, 125] + large))])
    }

    @Test("a client answers a ping with a pong masked with a key from its random source")
    func clientPong() throws {
        var (machine, twin) = clientMachine()
        let actions = receive(fromServer(.ping, Array("hello".utf8)), &machine)
        try #require(actions.count == 1)
        let frame = try #require(unmaskClientWrite(actions[0], twin: &twin))
        #expect(frame.firstByte == 0x8A)
        #expect(frame.payload == Array("hello".utf8))

        let second = receive(fromServer(.ping, [1, 2, 3]), &machine)
        try #require(second.count == 1)
        #expect(unmaskClientWrite(second[0], twin: &twin)?.payload == [1, 2, 3])
    }

    @Test("§5.5.2: a ping that arrives after our close frame, before the peer's, is still answered")
    func pingDuringCloseSent() throws {
        var machine = ConnectionStateMachine(role: .server)
        machine.closeRequested(CloseFrame(code: .goingAway))
        _ = drain(&machine)
        #expect(receive(fromClient(.ping, [1, 2]), &machine) == [serverWrite(.pong, [1, 2])])
        #expect(receive(fromClient(.connectionClose, closeBody(1001)) + fromClient(.ping, [3]), &machine)
                == [.closeConnection])

        var (client, twin) = clientMachine()
        client.closeRequested(CloseFrame(code: .normalClosure))
        let closeActions = drain(&client)
        try #require(closeActions.count == 2)
        _ = unmaskClientWrite(closeActions[0], twin: &twin)
        let actions = receive(fromServer(.ping, [4]), &client)
        try #require(actions.count == 1)
        let pong = try #require(unmaskClientWrite(actions[0], twin: &twin))
        #expect(pong.firstByte == 0x8A)
        #expect(pong.payload == [4])
    }

    @Test("a pong is reported with its payload")
    func pongReceived() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(receive(fromClient(.pong, [4, 5]), &machine) == [.pongReceived(ByteBuffer(bytes: [4, 5]), answeringPings: 0)])
    }

    @Test("encodePing writes a ping frame, refuses over 125 bytes and after the close began")
    func encodePing() throws {
        var machine = ConnectionStateMachine(role: .server)
        let withPayload = machine.encodePing(payload: ByteBuffer(bytes: [1]))
        #expect(withPayload == ByteBuffer(bytes: [0x89, 0x01, 0x01]))
        let empty = machine.encodePing()
        #expect(empty == ByteBuffer(bytes: [0x89, 0x00]))
        let oversized = machine.encodePing(payload: ByteBuffer(bytes: WireFrame.pattern(126)))
        #expect(oversized == nil)
        machine.closeRequested(CloseFrame(code: .normalClosure))
        let afterClose = machine.encodePing()
        #expect(afterClose == nil)

        var (client, twin) = clientMachine()
        let encoded = client.encodePing(payload: ByteBuffer(bytes: [7, 7]))
        let ping = try #require(encoded)
        let frame = try #require(unmaskClientWrite(.write(ping), twin: &twin))
        #expect(frame.firstByte == 0x89)
        #expect(frame.payload == [7, 7])
    }
}

// MARK: - Closing

@Suite("ConnectionStateMachine — RFC 6455 §5.5.1 and §7 closing handshake")
struct ConnectionStateMachineCloseTests {
    @Test("§5.5.1: a server echoes the peer's close code, then closes TCP first (§7.1.1)")
    func serverEchoesClose() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(receive(fromClient(.connectionClose, closeBody(1000, "bye")), &machine)
                == [.write(ByteBuffer(bytes: [0x88, 0x02, 0x03, 0xE8])), .closeConnection])
        #expect(!machine.canSend)
        // Nothing after the close frame is processed.
        #expect(receive(fromClient(.text, Array("after".utf8)), &machine) == [])
        let outcome = machine.channelInactive()
        #expect(outcome.code == .normalClosure)
        #expect(outcome.reason == "bye")
        #expect(outcome.wasClean)
        #expect(outcome.sent == CloseFrame(code: .normalClosure))
        #expect(outcome.received == CloseFrame(code: .normalClosure, reason: "bye"))
        #expect(outcome.peerClosedFirst)
        // 1000 is a finished session, not a page that left.
        #expect(!outcome.isDeparture)
        #expect(machine.isClosed)
    }

    @Test("a client that starts the close with 1001 or 4001 departed; one answering the server's 1001 did not")
    func departures() {
        for code: UInt16 in [1001, 4001] {
            var machine = ConnectionStateMachine(role: .server)
            _ = receive(fromClient(.connectionClose, closeBody(code, "page left")), &machine)
            let outcome = machine.channelInactive()
            #expect(outcome.peerClosedFirst && outcome.isDeparture, "code \(code)")
        }
        var machine = ConnectionStateMachine(role: .server)
        machine.closeRequested(CloseFrame(code: .goingAway, reason: "server shutting down"))
        _ = drain(&machine)
        _ = receive(fromClient(.connectionClose, closeBody(1001)), &machine)
        let outcome = machine.channelInactive()
        #expect(!outcome.peerClosedFirst)
        #expect(!outcome.isDeparture)
        // A client the server failed for bad input (an unmasked frame) did not depart.
        var failed = ConnectionStateMachine(role: .server)
        _ = receive([0x81, 0x05] + Array("unmasked".utf8.prefix(5)), &failed)
        #expect(!failed.channelInactive().isDeparture)
    }

    @Test("frames after a close frame in the same read are discarded")
    func bytesAfterCloseInSameRead() {
        var machine = ConnectionStateMachine(role: .server)
        let stream = fromClient(.connectionClose, closeBody(4000)) + fromClient(.ping, [1])
            + fromClient(.text, Array("x".utf8))
        #expect(receive(stream, &machine) == [serverWrite(.connectionClose, closeBody(4000)), .closeConnection])
    }

    @Test("an empty close frame is answered with an empty one and reported as 1005")
    func emptyClose() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(receive(fromClient(.connectionClose, []), &machine)
                == [.write(ByteBuffer(bytes: [0x88, 0x00])), .closeConnection])
        let outcome = machine.channelInactive()
        #expect(outcome.code == .noStatusReceived)
        #expect(outcome.code.rawValue == 1005)
        #expect(outcome.wasClean)
    }

    @Test("§7.1.1: a client echoes the close masked and waits for the server to close TCP")
    func clientEchoesClose() throws {
        var (machine, twin) = clientMachine()
        let actions = receive(fromServer(.connectionClose, closeBody(1001, "shutting down")), &machine)
        try #require(actions.count == 2)
        let frame = try #require(unmaskClientWrite(actions[0], twin: &twin))
        #expect(frame.firstByte == 0x88)
        #expect(frame.payload == closeBody(1001))
        #expect(actions[1] == .scheduleCloseTimeout(tenSeconds))
        #expect(drain(&machine) == [])
        let outcome = machine.channelInactive()
        #expect(outcome.code == .goingAway)
    }

    @Test("closeRequested sends the close frame and starts the timeout; the server closes TCP on the answer")
    func serverInitiatedClose() {
        var machine = ConnectionStateMachine(role: .server, configuration: .init(closeTimeout: .seconds(3)))
        machine.closeRequested(CloseFrame(code: .goingAway, reason: "restart"))
        #expect(drain(&machine) == [serverWrite(.connectionClose, closeBody(1001, "restart")),
                                    .scheduleCloseTimeout(.seconds(3))])
        #expect(!machine.canSend)
        // A second request changes nothing.
        machine.closeRequested(CloseFrame(code: .normalClosure))
        #expect(drain(&machine) == [])
        #expect(receive(fromClient(.connectionClose, closeBody(1001)), &machine) == [.closeConnection])
        let outcome = machine.channelInactive()
        #expect(outcome.sent == CloseFrame(code: .goingAway, reason: "restart"))
        #expect(outcome.received == CloseFrame(code: .goingAway))
        #expect(outcome.code == .goingAway)
        #expect(outcome.wasClean)
    }

    @Test("an idle timeout closes with 1001 naming the time, once: a connection already closing is left alone")
    func idleTimeout() {
        var machine = ConnectionStateMachine(role: .server, configuration: .init(closeTimeout: .seconds(3)))
        machine.idleTimeoutElapsed(after: .milliseconds(1500))
        #expect(drain(&machine) == [serverWrite(.connectionClose, closeBody(1001, "nothing received for 1.5 s")),
                                    .scheduleCloseTimeout(.seconds(3))])
        machine.idleTimeoutElapsed(after: .seconds(30))
        #expect(drain(&machine) == [])
    }

    @Test("closeRequested by a client: masked close, timeout, then it waits for the server's TCP close")
    func clientInitiatedClose() throws {
        var (machine, twin) = clientMachine()
        machine.closeRequested(CloseFrame(code: .normalClosure, reason: "done"))
        let actions = drain(&machine)
        try #require(actions.count == 2)
        let frame = try #require(unmaskClientWrite(actions[0], twin: &twin))
        #expect(frame.firstByte == 0x88)
        #expect(frame.payload == closeBody(1000, "done"))
        #expect(actions[1] == .scheduleCloseTimeout(tenSeconds))
        #expect(receive(fromServer(.connectionClose, closeBody(1000)), &machine) == [])
        let outcome = machine.channelInactive()
        #expect(outcome.wasClean)
    }

    @Test("closeTimeoutFired closes TCP, unless TCP is already closed")
    func closeTimeout() {
        var machine = ConnectionStateMachine(role: .server)
        machine.closeRequested(CloseFrame(code: .normalClosure))
        _ = drain(&machine)
        machine.closeTimeoutFired()
        #expect(drain(&machine) == [.closeConnection])
        let outcome = machine.channelInactive()
        #expect(outcome.sent == CloseFrame(code: .normalClosure))
        #expect(outcome.received == nil)
        #expect(outcome.code == .abnormalClosure)
        #expect(!outcome.wasClean)
        machine.closeTimeoutFired()
        #expect(drain(&machine) == [])
    }

    @Test("channelInactive with no close frame received reports 1006, and the same outcome again")
    func abnormalClosure() {
        var machine = ConnectionStateMachine(role: .server)
        _ = receive(fromClient(.text, Array("x".utf8)), &machine)
        let outcome = machine.channelInactive()
        #expect(outcome.code == .abnormalClosure)
        #expect(outcome.code.rawValue == 1006)
        #expect(outcome.sent == nil)
        #expect(outcome.received == nil)
        #expect(!outcome.wasClean)
        #expect(machine.isClosed)
        #expect(!machine.canSend)
        let again = machine.channelInactive()
        #expect(again == outcome)
        // Bytes arriving after the end are ignored.
        #expect(receive(fromClient(.text, Array("y".utf8)), &machine) == [])
        machine.closeRequested(CloseFrame(code: .normalClosure))
        #expect(drain(&machine) == [])
    }

    @Test("channelInactive drops actions that were not taken")
    func inactiveDropsPendingActions() {
        var machine = ConnectionStateMachine(role: .server)
        machine.bytesReceived(ByteBuffer(bytes: fromClient(.ping, [1]) + fromClient(.ping, [2])))
        let first = machine.nextAction()
        #expect(first == serverWrite(.pong, [1]))
        _ = machine.channelInactive()
        #expect(drain(&machine) == [])
    }
}

// MARK: - Failing the connection

@Suite("ConnectionStateMachine — RFC 6455 §7.1.7 failing the connection")
struct ConnectionStateMachineFailureTests {
    @Test("a protocol error: close 1002 with the reason, half-close, timeout; later bytes are discarded")
    func serverProtocolError() {
        var machine = ConnectionStateMachine(role: .server)
        let reservedOpcode: [UInt8] = [0x83, 0x80] + clientKey
        #expect(receive(reservedOpcode + fromClient(.text, Array("never".utf8)), &machine) == [
            serverWrite(.connectionClose, closeBody(1002, "reserved opcode 3")),
            .shutdownOutput,
            .scheduleCloseTimeout(tenSeconds),
        ])
        #expect(!machine.canSend)
        #expect(receive(fromClient(.text, Array("discarded".utf8)), &machine) == [])
        #expect(receive(fromClient(.ping, [1]), &machine) == [])
        #expect(receive(fromClient(.connectionClose, closeBody(1000)), &machine) == [])
        machine.closeTimeoutFired()
        #expect(drain(&machine) == [.closeConnection])
        let outcome = machine.channelInactive()
        #expect(outcome.code == .protocolError)
        #expect(outcome.reason == "reserved opcode 3")
        #expect(outcome.failedByUs)
        #expect(!outcome.wasClean)
    }

    @Test("a client failing the connection writes a masked close and does not half-close")
    func clientProtocolError() throws {
        var (machine, twin) = clientMachine()
        // A masked frame from a server.
        let actions = receive(WireFrame.bytes(opcode: 1, payload: [0x41], key: clientKey), &machine)
        try #require(actions.count == 2)
        let frame = try #require(unmaskClientWrite(actions[0], twin: &twin))
        #expect(frame.firstByte == 0x88)
        #expect(frame.payload == closeBody(1002, "server frame is masked"))
        #expect(actions[1] == .scheduleCloseTimeout(tenSeconds))
        let outcome = machine.channelInactive()
        #expect(outcome.code == .protocolError)
    }

    @Test("a protocol error during our close handshake closes TCP without a second close frame")
    func errorAfterCloseSent() {
        var machine = ConnectionStateMachine(role: .server)
        machine.closeRequested(CloseFrame(code: .goingAway))
        _ = drain(&machine)
        #expect(receive([0x83, 0x80] + clientKey, &machine) == [.closeConnection])
        #expect(receive(fromClient(.connectionClose, closeBody(1000)), &machine) == [])
    }

    @Test("protocol errors found by the state machine",
          arguments: [
              (fromClient(.continuation, [1]), "continuation frame without a message to continue"),
              (fromClient(fin: false, .text, [0x61]) + fromClient(.text, [0x62]),
               "new data frame while a fragmented message is in progress"),
              (fromClient(fin: false, .binary, [1]) + fromClient(.binary, [2]),
               "new data frame while a fragmented message is in progress"),
              (fromClient(.connectionClose, [0x03]), "close frame with a 1-byte body"),
              (fromClient(.connectionClose, closeBody(1005)), "invalid close code 1005"),
              (fromClient(.connectionClose, closeBody(999)), "invalid close code 999"),
              (fromClient(.text, Array("ok".utf8)) + [0x81, 0x02, 0x61, 0x62], "client frame is not masked"),
          ])
    func protocolErrors(stream: [UInt8], reason: String) {
        var machine = ConnectionStateMachine(role: .server)
        let actions = receive(stream, &machine).filter {
            if case .deliver = $0 { return false }
            return true
        }
        #expect(actions == [serverWrite(.connectionClose, closeBody(1002, reason)), .shutdownOutput,
                            .scheduleCloseTimeout(tenSeconds)])
        let outcome = machine.channelInactive()
        #expect(outcome == CloseOutcome(sent: CloseFrame(code: .protocolError, reason: reason), received: nil,
                                        failedByUs: true))
    }

    @Test("§8.1: invalid UTF-8 fails with 1007 as soon as it arrives, before its frame is complete")
    func invalidTextFailsFast() {
        var machine = ConnectionStateMachine(role: .server)
        let frame = fromClient(.text, Array("valid start".utf8) + [0xFF] + Array("and more text to come".utf8))
        // The header (6 bytes) and the payload up to just past the bad byte: the frame is incomplete.
        let expected: [Action] = [serverWrite(.connectionClose, closeBody(1007, "text message is not valid UTF-8")),
                                  .shutdownOutput, .scheduleCloseTimeout(tenSeconds)]
        #expect(receive(Array(frame[..<18]), &machine) == expected)
        #expect(receive(Array(frame[18...]), &machine) == [])
        let outcome = machine.channelInactive()
        #expect(outcome.code == .invalidFramePayloadData)
        #expect(outcome.reason == "text message is not valid UTF-8")
        #expect(outcome.failedByUs)
    }

    @Test("§8.1: invalid UTF-8 in an incomplete continuation frame fails at once, across fragment boundaries")
    func invalidTextFailsFastInContinuation() {
        var machine = ConnectionStateMachine(role: .server)
        // The first fragment ends with F4, valid so far; the continuation starts with 90: above U+10FFFF.
        #expect(receive(fromClient(fin: false, .text, Array("abc".utf8) + [0xF4]), &machine) == [])
        let continuation = fromClient(.continuation, [0x90, 0x80, 0x80] + Array("rest of the fragment".utf8))
        #expect(receive(Array(continuation[..<7]), &machine)
                == [serverWrite(.connectionClose, closeBody(1007, "text message is not valid UTF-8")),
                    .shutdownOutput, .scheduleCloseTimeout(tenSeconds)])
    }

    @Test("§8.1: invalid UTF-8 arriving in a later read of the same frame fails at once")
    func invalidTextInLaterRead() {
        var machine = ConnectionStateMachine(role: .server)
        let frame = fromClient(.text, Array("hello wörld".utf8) + [0xED, 0xA0, 0x80] + Array("tail".utf8))
        // Feed the frame in small reads; the surrogate's second byte (payload index 13) is at wire index 19.
        var actions: [Action] = []
        var failedAtRead: Int?
        for start in stride(from: 0, to: frame.count, by: 3) {
            actions += receive(Array(frame[start..<min(frame.count, start + 3)]), &machine)
            if failedAtRead == nil, !actions.isEmpty { failedAtRead = start }
        }
        #expect(actions == [serverWrite(.connectionClose, closeBody(1007, "text message is not valid UTF-8")),
                            .shutdownOutput, .scheduleCloseTimeout(tenSeconds)])
        #expect(failedAtRead == 18)  // the read holding wire bytes 18...20
    }

    @Test("a text message that ends inside a UTF-8 sequence fails with 1007")
    func textEndsMidSequence() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(receive(fromClient(fin: false, .text, Array("ab".utf8)), &machine) == [])
        #expect(receive(fromClient(.continuation, [0xE2, 0x82]), &machine)
                == [serverWrite(.connectionClose, closeBody(1007, "text message ends inside a UTF-8 sequence")),
                    .shutdownOutput, .scheduleCloseTimeout(tenSeconds)])
    }

    @Test("invalid UTF-8 in a binary message is not an error")
    func binaryIsNotValidated() {
        var machine = ConnectionStateMachine(role: .server)
        let frame = fromClient(fin: false, .binary, [0xFF, 0xED, 0xA0, 0x80, 0xC3])
        #expect(receive(Array(frame[..<8]), &machine) == [])
        #expect(receive(Array(frame[8...]) + fromClient(.continuation, [0x80]), &machine)
                == [.deliver(.binary([0xFF, 0xED, 0xA0, 0x80, 0xC3, 0x80]))])
    }

    @Test("a close reason that is not UTF-8 fails with 1007")
    func invalidCloseReason() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(receive(fromClient(.connectionClose, closeBody(1000) + [0xC0, 0xAF]), &machine)
                == [serverWrite(.connectionClose, closeBody(1007, "close reason is not valid UTF-8")),
                    .shutdownOutput, .scheduleCloseTimeout(tenSeconds)])
    }
}

@Suite("ConnectionStateMachine — RFC 6455 §10.4 size limits (1009)")
struct ConnectionStateMachineLimitTests {
    @Test("a peer sending endless fragments is stopped at the fragment that crosses maxMessageSize")
    func endlessFragments() {
        var machine = ConnectionStateMachine(role: .server, configuration: .init(maxMessageSize: 1000))
        let fragment = Array(repeating: UInt8(0x61), count: 100)
        #expect(receive(fromClient(fin: false, .text, fragment), &machine) == [])
        // Fragments 2...10 bring the message to exactly 1000 bytes: still allowed.
        for _ in 2...10 {
            #expect(receive(fromClient(fin: false, .continuation, fragment), &machine) == [])
        }
        // The 11th is refused from its header alone (2 bytes and the key).
        let eleventh = fromClient(fin: false, .continuation, fragment)
        #expect(receive(Array(eleventh[..<6]), &machine)
                == [serverWrite(.connectionClose, closeBody(1009, "message exceeds limit of 1000 bytes")),
                    .shutdownOutput, .scheduleCloseTimeout(tenSeconds)])
        #expect(receive(Array(eleventh[6...]) + fromClient(.continuation, fragment), &machine) == [])
        let outcome = machine.channelInactive()
        #expect(outcome.code == .messageTooBig)
        #expect(outcome.reason == "message exceeds limit of 1000 bytes")
    }

    @Test("endless fragments in one read stop at the same fragment")
    func endlessFragmentsInOneRead() {
        var machine = ConnectionStateMachine(role: .server, configuration: .init(maxMessageSize: 1000))
        let fragment = Array(repeating: UInt8(0x62), count: 100)
        var stream = fromClient(fin: false, .binary, fragment)
        for _ in 0..<30 { stream += fromClient(fin: false, .continuation, fragment) }
        #expect(receive(stream, &machine)
                == [serverWrite(.connectionClose, closeBody(1009, "message exceeds limit of 1000 bytes")),
                    .shutdownOutput, .scheduleCloseTimeout(tenSeconds)])
    }

    @Test("a message of exactly maxMessageSize in fragments is delivered")
    func messageAtLimit() {
        var machine = ConnectionStateMachine(role: .server, configuration: .init(maxMessageSize: 300))
        let stream = fromClient(fin: false, .binary, WireFrame.pattern(100))
            + fromClient(fin: false, .continuation, WireFrame.pattern(150, seed: 1))
            + fromClient(.continuation, WireFrame.pattern(50, seed: 2))
        #expect(receive(stream, &machine) == [.deliver(.binary(WireFrame.pattern(100) + WireFrame.pattern(150, seed: 1)
                                                                + WireFrame.pattern(50, seed: 2)))])
    }

    @Test("a frame over the frame limit is refused from its header")
    func frameTooBig() {
        var machine = ConnectionStateMachine(role: .server,
                                             configuration: .init(maxMessageSize: 1000, maxFrameSize: 200))
        let frame = fromClient(.binary, WireFrame.pattern(201))
        #expect(receive(Array(frame[..<8]), &machine)
                == [serverWrite(.connectionClose, closeBody(1009, "frame exceeds limit of 200 bytes")),
                    .shutdownOutput, .scheduleCloseTimeout(tenSeconds)])
    }

    @Test("without a frame limit, the message limit bounds frames too")
    func frameLimitDefaultsToMessageLimit() {
        var machine = ConnectionStateMachine(role: .server, configuration: .init(maxMessageSize: 100))
        #expect(receive(Array(fromClient(.text, WireFrame.pattern(101))[..<8]), &machine)
                == [serverWrite(.connectionClose, closeBody(1009, "message exceeds limit of 100 bytes")),
                    .shutdownOutput, .scheduleCloseTimeout(tenSeconds)])
    }
}

// MARK: - Sending

@Suite("ConnectionStateMachine — sending messages")
struct ConnectionStateMachineSendingTests {
    /// Everything `encode` hands over, as separate buffers.
    static func encoded(_ machine: inout ConnectionStateMachine, _ message: WebSocketMessage,
                        fragmentSize: Int? = nil) -> [ByteBuffer] {
        var writes: [ByteBuffer] = []
        machine.encode(message, fragmentSize: fragmentSize) { writes.append($0) }
        return writes
    }

    @Test("a server writes small messages next to their header and large payloads as they are")
    func serverEncode() {
        var machine = ConnectionStateMachine(role: .server)
        #expect(Self.encoded(&machine, .text("hey")) == [ByteBuffer(bytes: [0x81, 0x03, 0x68, 0x65, 0x79])])

        let large = ByteBuffer(bytes: WireFrame.pattern(70_000))
        #expect(Self.encoded(&machine, .binary(large))
                == [ByteBuffer(bytes: [0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]), large])
    }

    @Test("a client masks every message with a key from its random source")
    func clientEncode() throws {
        var (machine, twin) = clientMachine()
        let writes = Self.encoded(&machine, .binary([1, 2, 3, 4, 5]))
        #expect(writes.count == 1)
        let frame = try #require(unmaskClientWrite(.write(writes[0]), twin: &twin))
        #expect(frame.firstByte == 0x82)
        #expect(frame.payload == [1, 2, 3, 4, 5])
    }

    @Test("a message longer than the fragment size goes out as fragments a receiver reassembles")
    func fragmentation() throws {
        var sender = ConnectionStateMachine(role: .server)
        let data = WireFrame.pattern(10_000, seed: 9)
        let writes = Self.encoded(&sender, .binary(data), fragmentSize: 4096)
        var wire = ByteBuffer()
        for var write in writes { wire.writeBuffer(&write) }

        // A client whose frame limit is the fragment size receives it whole.
        var receiver = ConnectionStateMachine(role: .client, configuration: .init(maxMessageSize: 1 << 20,
                                                                                 maxFrameSize: 4096))
        receiver.bytesReceived(wire)
        #expect(receiver.nextAction() == .deliver(.binary(data)))
        #expect(receiver.nextAction() == nil)

        // Frame by frame: binary (not final), continuation, continuation (final).
        var parser = FrameParser(role: .client, maxFrameSize: 4096, maxMessageSize: 1 << 20)
        var frames: [Frame] = []
        while let frame = try parser.nextFrame(from: &wire) { frames.append(frame) }
        #expect(frames.map(\.opcode) == [.binary, .continuation, .continuation])
        #expect(frames.map(\.fin) == [false, false, true])
        #expect(frames.map(\.payload.readableBytes) == [4096, 4096, 1808])
    }

    @Test("fragments sent piece by piece form one message; pieces over the fragment size are split")
    func encodeFragments() throws {
        var sender = ConnectionStateMachine(role: .server)
        var wire = ByteBuffer()
        let pieces = [Array("héllo ".utf8), Array(repeating: UInt8(ascii: "x"), count: 300), Array("end".utf8)]
        for (index, piece) in pieces.enumerated() {
            sender.encodeFragment(ByteBuffer(bytes: piece), of: .text, isFinal: index == pieces.count - 1,
                                  fragmentSize: 200) { var write = $0; wire.writeBuffer(&write) }
            #expect(sender.isSendingFragmentedMessage == (index < pieces.count - 1))
        }
        var parser = FrameParser(role: .client, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
        var frames: [Frame] = []
        while let frame = try parser.nextFrame(from: &wire) { frames.append(frame) }
        #expect(frames.map(\.opcode) == [.text, .continuation, .continuation, .continuation])
        #expect(frames.map(\.payload.readableBytes) == [7, 200, 100, 3])
        #expect(frames.map(\.fin) == [false, false, false, true])
    }
}

@Suite("ConnectionStateMachine — receiving fragments as they arrive")
struct ConnectionStateMachineFragmentModeTests {
    @Test("each frame is delivered at once, and buffered bytes stay within one frame of a 64 MiB message")
    func streamedMessageKeepsMemoryFlat() {
        let frameSize = 64 * 1024
        var machine = ConnectionStateMachine(
            role: .server,
            configuration: .init(maxMessageSize: 1 << 20, maxFrameSize: frameSize,
                                 receiveMode: .fragments(maxMessageSize: 1 << 30)))
        let frameCount = (64 << 20) / frameSize
        var delivered = 0
        var peakBuffered = 0
        let payload = WireFrame.pattern(frameSize, seed: 4)
        for index in 0..<frameCount {
            let opcode: Opcode = index == 0 ? .binary : .continuation
            let frame = fromClient(fin: index == frameCount - 1, opcode, payload)
            // Half a frame at a time, as a socket might deliver it.
            for half in [frame[..<(frame.count / 2)], frame[(frame.count / 2)...]] {
                machine.bytesReceived(ByteBuffer(bytes: half))
                while let action = machine.nextAction() {
                    guard case .deliverFragment(let fragment) = action else {
                        Issue.record("unexpected \(action)")
                        return
                    }
                    #expect(fragment.isFirst == (delivered == 0))
                    #expect(fragment.isFinal == (index == frameCount - 1))
                    #expect(fragment.data.readableBytes == frameSize)
                    delivered += 1
                }
                peakBuffered = max(peakBuffered, machine.bufferedBytes)
            }
        }
        #expect(delivered == frameCount)
        #expect(peakBuffered <= frameSize)
    }

    @Test("the streamed limit ends a message that crosses it with 1009")
    func streamedLimit() {
        var machine = ConnectionStateMachine(
            role: .server,
            configuration: .init(maxFrameSize: 100, receiveMode: .fragments(maxMessageSize: 250)))
        let actions = receive(fromClient(fin: false, .binary, WireFrame.pattern(100))
                              + fromClient(fin: false, .continuation, WireFrame.pattern(100))
                              + fromClient(.continuation, WireFrame.pattern(100)), &machine)
        #expect(actions.count == 5)
        #expect(actions.first == .deliverFragment(WebSocketFragment(kind: .binary, data: ByteBuffer(bytes: WireFrame.pattern(100)),
                                                                    isFirst: true, isFinal: false)))
        #expect(actions[2] == serverWrite(.connectionClose, closeBody(1009, "message exceeds limit of 250 bytes")))
    }

    @Test("endless fragments never make a message-mode receiver buffer more than its limit")
    func endlessFragmentsAreBounded() {
        let limit = 10_000
        var machine = ConnectionStateMachine(role: .server, configuration: .init(maxMessageSize: limit))
        var peakBuffered = 0
        var refused = false
        for index in 0..<1_000 where !refused {
            machine.bytesReceived(ByteBuffer(bytes: fromClient(fin: false, index == 0 ? .binary : .continuation,
                                                               WireFrame.pattern(512))))
            while let action = machine.nextAction() {
                if action == serverWrite(.connectionClose, closeBody(1009, "message exceeds limit of \(limit) bytes")) {
                    refused = true
                }
            }
            peakBuffered = max(peakBuffered, machine.bufferedBytes)
        }
        #expect(refused)
        #expect(peakBuffered <= limit)
        #expect(machine.bufferedBytes == 0)
    }
}

@Suite("Limits told and named (the 1009 story)")
struct AnnouncedLimitTests {
    @Test("a server's limits go out as headers and come back the same")
    func roundTrip() {
        let limits = AnnouncedLimits(WebSocketConfiguration(maxMessageSize: 1 << 20, maxFrameSize: 16384))
        #expect(limits == AnnouncedLimits(maxMessageSize: 1 << 20, maxFrameSize: 16384))
        #expect(limits.headers["Holdfast-Max-Message-Size"] == ["1048576"])
        #expect(limits.headers["Holdfast-Max-Frame-Size"] == ["16384"])
        #expect(AnnouncedLimits(headers: limits.headers) == limits)
        #expect(AnnouncedLimits(headers: ["Holdfast-Max-Frame-Size": "lots"]) == AnnouncedLimits(maxMessageSize: nil, maxFrameSize: nil))
    }

    @Test("a 1009 reason names the peer's limit")
    func namedLimit() {
        #expect(CloseFrame(code: .messageTooBig, reason: "message exceeds limit of 16777216 bytes").namedLimit == 16_777_216)
        #expect(CloseFrame(code: .messageTooBig, reason: "frame exceeds limit of 300 bytes").namedLimit == 300)
        #expect(CloseFrame(code: .messageTooBig, reason: "too big").namedLimit == nil)
        #expect(CloseFrame(code: .normalClosure, reason: "limit of 5 bytes").namedLimit == nil)
    }
}

@Suite("ConnectionStateMachine — codes an application may not send")
struct ConnectionStateMachineUnsendableCodeTests {
    @Test("a close requested with a code that may not go on the wire is sent without a body",
          arguments: [UInt16(1005), 1006, 1015, 2000, 999])
    func unsendableCodeIsLeftOut(code: UInt16) {
        var machine = ConnectionStateMachine(role: .server)
        machine.closeRequested(CloseFrame(code: CloseCode(code), reason: "nope"))
        #expect(machine.nextAction() == .write(ByteBuffer(bytes: [0x88, 0x00])))
    }
}
