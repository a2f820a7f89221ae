import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

// What the core decides about a send: encode it, hold it behind a fragmented message in progress
// (RFC 6455 §5.4), or refuse it — against the peer's announced limit, or once the close began.

private typealias Action = ConnectionStateMachine.Action

private let clientKey: [UInt8] = [0x5A, 0x0F, 0xC3, 0x96]

private func drain(_ machine: inout ConnectionStateMachine) -> [Action] {
    var actions: [Action] = []
    while let action = machine.nextAction() { actions.append(action) }
    return actions
}

private func fromClient(_ opcode: Opcode, _ payload: [UInt8]) -> ByteBuffer {
    ByteBuffer(bytes: WireFrame.bytes(opcode: opcode.rawValue, payload: payload, key: clientKey))
}

/// The frames a server wrote, parsed back.
private func frames(_ output: ByteBuffer) throws -> [Frame] {
    var wire = output
    var parser = FrameParser(role: .client, maxFrameSize: 1 << 20, maxMessageSize: 1 << 20)
    var frames: [Frame] = []
    while let frame = try parser.nextFrame(from: &wire) { frames.append(frame) }
    return frames
}

/// A separate write appended to the output, for tests that want all bytes in one buffer.
private func appendSeparately(_ output: inout ByteBuffer, _ payload: ByteBuffer) {
    var payload = payload
    output.writeBuffer(&payload)
}

@Suite("ConnectionStateMachine — what becomes of a send")
struct ConnectionStateMachineSendingDecisionTests {
    @Test("RFC 6455 §5.4: messages sent during a fragmented message are held and follow its final fragment")
    func sendsAreHeldUntilTheFinalFragment() throws {
        var machine = ConnectionStateMachine(role: .server)
        var output = ByteBuffer()
        #expect(machine.sendFragment(ByteBuffer(string: "ab"), of: .text, isFinal: false, into: &output,
                                     separately: appendSeparately) == .encoded(releasedHeldMessages: 0))
        #expect(machine.send(.binary([1]), into: &output, separately: appendSeparately) == .held)
        #expect(machine.send(.text("x"), into: &output, separately: appendSeparately) == .held)
        #expect(try frames(output).count == 1)
        #expect(machine.sendFragment(ByteBuffer(string: "cd"), of: .text, isFinal: true, into: &output,
                                     separately: appendSeparately) == .encoded(releasedHeldMessages: 2))
        #expect(!machine.isSendingFragmentedMessage)
        let sent = try frames(output)
        #expect(sent.map(\.opcode) == [.text, .continuation, .binary, .text])
        #expect(sent.map(\.fin) == [false, true, true, true])
        #expect(sent.map { Array($0.payload.readableBytesView) } == [Array("ab".utf8), Array("cd".utf8), [1], Array("x".utf8)])
        // Nothing held any more: the next message goes at once.
        #expect(machine.send(.binary([2]), into: &output, separately: appendSeparately) == .encoded)
    }

    @Test("a message over the peer's announced limit is refused with the words of its 1009; one at the limit goes")
    func refusedOverThePeersLimit() {
        var machine = ConnectionStateMachine(role: .server, peerLimits: AnnouncedLimits(maxMessageSize: 10, maxFrameSize: nil))
        var output = ByteBuffer()
        let refusal = WebSocketError.messageTooBig(size: 11, limit: 10, reason: "message exceeds limit of 10 bytes")
        #expect(machine.send(.binary(Array(repeating: 0, count: 11)), into: &output, separately: appendSeparately)
                == .refused(refusal))
        #expect(output.readableBytes == 0)
        #expect(machine.sendRefusal(messageSize: 11) == refusal)
        #expect(machine.send(.binary(Array(repeating: 0, count: 10)), into: &output, separately: appendSeparately)
                == .encoded)
        #expect(machine.sendRefusal(messageSize: nil) == nil)
    }

    @Test("frames are cut to the smaller of the own fragment size and the peer's announced frame limit")
    func fragmentSizeFitsThePeersFrameLimit() throws {
        var machine = ConnectionStateMachine(role: .server, configuration: .init(fragmentSize: 8),
                                             peerLimits: AnnouncedLimits(maxMessageSize: nil, maxFrameSize: 4))
        var output = ByteBuffer()
        #expect(machine.send(.binary(Array(0..<10)), into: &output, separately: appendSeparately) == .encoded)
        #expect(try frames(output).map(\.payload.readableBytes) == [4, 4, 2])
    }

    @Test("once the close began, sends and fragments are refused: closing, or the peer's 1009 with the limit it names")
    func refusedOnceClosing() {
        var machine = ConnectionStateMachine(role: .server)
        var output = ByteBuffer()
        machine.closeRequested(CloseFrame(code: .normalClosure))
        _ = drain(&machine)
        #expect(machine.send(.text("late"), into: &output, separately: appendSeparately) == .refused(.connectionClosing))
        #expect(machine.sendFragment(ByteBuffer(), of: .binary, isFinal: true, into: &output,
                                     separately: appendSeparately) == .refused(.connectionClosing))

        var refused = ConnectionStateMachine(role: .server)
        let reason = CloseFrame.messageTooBigReason(limit: 4096)
        refused.bytesReceived(fromClient(.connectionClose, [0x03, 0xF1] + Array(reason.utf8)))
        _ = drain(&refused)
        #expect(refused.sendRefusal(messageSize: 1) == .messageTooBig(limit: 4096, reason: reason))
        _ = refused.channelInactive()
        #expect(refused.sendRefusal(messageSize: nil) == .messageTooBig(limit: 4096, reason: reason))

        var ended = ConnectionStateMachine(role: .server)
        let outcome = ended.channelInactive()
        #expect(ended.sendRefusal(messageSize: nil) == .connectionClosed(outcome))
    }

    @Test("RFC 6455 §5.5.3: a pong answers the ping with its payload and every ping before it")
    func pongAnswersEarlierPings() {
        var machine = ConnectionStateMachine(role: .server)
        for payload: UInt8 in [1, 2, 3] { _ = machine.encodePing(payload: ByteBuffer(bytes: [payload])) }
        machine.bytesReceived(fromClient(.pong, [2]))
        #expect(drain(&machine) == [.pongReceived(ByteBuffer(bytes: [2]), answeringPings: 2)])
        machine.bytesReceived(fromClient(.pong, [9]))
        #expect(drain(&machine) == [.pongReceived(ByteBuffer(bytes: [9]), answeringPings: 0)])
        machine.bytesReceived(fromClient(.pong, [3]))
        #expect(drain(&machine) == [.pongReceived(ByteBuffer(bytes: [3]), answeringPings: 1)])
        machine.bytesReceived(fromClient(.pong, [3]))
        #expect(drain(&machine) == [.pongReceived(ByteBuffer(bytes: [3]), answeringPings: 0)])
    }

    @Test("the 1009 reasons Holdfast writes are the ones namedLimit reads back")
    func limitReasonsRoundTrip() {
        #expect(CloseFrame(code: .messageTooBig, reason: CloseFrame.messageTooBigReason(limit: 1_048_576)).namedLimit
                == 1_048_576)
        #expect(CloseFrame(code: .messageTooBig, reason: CloseFrame.frameTooBigReason(limit: 65_536)).namedLimit == 65_536)
        #expect(AnnouncedLimits(maxMessageSize: 100, maxFrameSize: nil).refusal(ofMessageSize: 101)?.peerLimit == 100)
        #expect(AnnouncedLimits(maxMessageSize: 100, maxFrameSize: nil).refusal(ofMessageSize: 100) == nil)
        #expect(AnnouncedLimits(maxMessageSize: nil, maxFrameSize: 10).refusal(ofMessageSize: Int.max) == nil)
    }

    @Test("a ping over the 125 bytes of a control frame is refused first, then any ping once the close began (RFC 6455 §5.5, §5.5.1)")
    func pingRefusals() {
        var machine = ConnectionStateMachine(role: .server)
        let long = ByteBuffer(bytes: WireFrame.pattern(126))
        #expect(machine.pingRequested(payload: long) == .failure(.controlPayloadTooLong(126)))
        #expect(machine.pingRequested(payload: ByteBuffer(bytes: [1])) == .success(ByteBuffer(bytes: [0x89, 0x01, 0x01])))
        machine.closeRequested(CloseFrame(code: .normalClosure))
        _ = drain(&machine)
        #expect(machine.pingRequested(payload: ByteBuffer(bytes: [2])) == .failure(.connectionClosing))
        #expect(machine.pingRequested(payload: long) == .failure(.controlPayloadTooLong(126)))
        // The refused pings wait for no pong: only the one sent is answered.
        machine.bytesReceived(fromClient(.pong, [1]))
        #expect(drain(&machine) == [.pongReceived(ByteBuffer(bytes: [1]), answeringPings: 1)])
    }
}
