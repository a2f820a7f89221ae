import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

// The idle timeout and keepalive pings as events into the core: no event loop, no clock — the
// time is a parameter, and each check says when the next one is due.

private typealias Action = ConnectionStateMachine.Action

private let clientKey: [UInt8] = [0x5A, 0x0F, 0xC3, 0x96]
private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

private func drain(_ machine: inout ConnectionStateMachine) -> [Action] {
    var actions: [Action] = []
    while let action = machine.nextAction() { actions.append(action) }
    return actions
}

private func fromClient(_ opcode: Opcode, _ payload: [UInt8]) -> ByteBuffer {
    ByteBuffer(bytes: WireFrame.bytes(opcode: opcode.rawValue, payload: payload, key: clientKey))
}

private func serverWrite(_ opcode: Opcode, _ payload: [UInt8]) -> Action {
    .write(ByteBuffer(bytes: WireFrame.bytes(opcode: opcode.rawValue, payload: payload)))
}

private func closeBody(_ code: UInt16, _ reason: String = "") -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
}

@Suite("ConnectionStateMachine — the idle timeout as events")
struct ConnectionStateMachineIdleTimeoutTests {
    @Test("quiet for the whole timeout: closed with 1001; traffic moves the next check to its own deadline")
    func idleTimeout() {
        var machine = ConnectionStateMachine(role: .server)
        machine.idleTimeoutRequested(.seconds(30), now: start)
        machine.connectionStarted()
        #expect(drain(&machine) == [.scheduleIdleCheck(at: start + .seconds(30))])
        // A ping 20 s in is traffic: the 30 s start again from it.
        machine.bytesReceived(fromClient(.ping, [1]), at: start + .seconds(20))
        #expect(drain(&machine) == [serverWrite(.pong, [1])])
        machine.idleCheckDue(now: start + .seconds(30), readingPaused: false)
        #expect(drain(&machine) == [.scheduleIdleCheck(at: start + .seconds(50))])
        machine.idleCheckDue(now: start + .seconds(50), readingPaused: false)
        #expect(drain(&machine) == [serverWrite(.connectionClose, closeBody(1001, "nothing received for 30 s")),
                                    .scheduleCloseTimeout(.seconds(10))])
        #expect(!machine.canSend)
    }

    @Test("while this side does not read, the quiet time counts from the check")
    func readingPausedIsNotQuiet() {
        var machine = ConnectionStateMachine(role: .server)
        machine.idleTimeoutRequested(.seconds(30), now: start)
        machine.idleCheckDue(now: start + .seconds(30), readingPaused: true)
        #expect(drain(&machine) == [.scheduleIdleCheck(at: start + .seconds(60))])
        machine.idleCheckDue(now: start + .seconds(60), readingPaused: false)
        #expect(drain(&machine).first == serverWrite(.connectionClose, closeBody(1001, "nothing received for 30 s")))
    }

    @Test("a connection already closing is left alone, and nothing more is scheduled")
    func closingConnectionIsLeftAlone() {
        var machine = ConnectionStateMachine(role: .server)
        machine.idleTimeoutRequested(.seconds(30), now: start)
        machine.closeRequested(CloseFrame(code: .normalClosure))
        _ = drain(&machine)
        machine.idleCheckDue(now: start + .seconds(30), readingPaused: false)
        #expect(drain(&machine) == [])
    }

    @Test("without an idle timeout nothing is scheduled and the time of a receipt is never asked for")
    func withoutIdleTimeoutNoClockIsRead() {
        var machine = ConnectionStateMachine(role: .server)
        machine.connectionStarted()
        #expect(drain(&machine) == [])
        var clockReads = 0
        func now() -> NIODeadline {
            clockReads += 1
            return start
        }
        machine.bytesReceived(fromClient(.text, Array("hi".utf8)), at: now())
        #expect(drain(&machine) == [.deliver(.text("hi"))])
        #expect(clockReads == 0)
        machine.idleCheckDue(now: start + .hours(1), readingPaused: false)
        #expect(drain(&machine) == [])
        #expect(machine.canSend)
    }

    @Test("a copy of the machine keeps its own idle bookkeeping")
    func copiesAreIndependent() {
        var machine = ConnectionStateMachine(role: .server)
        machine.idleTimeoutRequested(.seconds(30), now: start)
        var copy = machine
        copy.bytesReceived(fromClient(.pong, []), at: start + .seconds(20))
        _ = drain(&copy)
        machine.idleCheckDue(now: start + .seconds(30), readingPaused: false)
        #expect(drain(&machine).first == serverWrite(.connectionClose, closeBody(1001, "nothing received for 30 s")))
        copy.idleCheckDue(now: start + .seconds(30), readingPaused: false)
        #expect(drain(&copy) == [.scheduleIdleCheck(at: start + .seconds(50))])
    }
}

@Suite("ConnectionStateMachine — keepalive pings as events")
struct ConnectionStateMachineKeepaliveTests {
    private let configuration = WebSocketConfiguration(pingInterval: .seconds(20), pongTimeout: .seconds(5))

    @Test("a ping every interval after the last pong; a peer that stops answering is taken for dead (1006)")
    func pingsAndDeadPeer() {
        var machine = ConnectionStateMachine(role: .server, configuration: configuration)
        machine.connectionStarted()
        #expect(drain(&machine) == [.scheduleKeepalivePing(in: .seconds(20))])
        machine.keepalivePingDue()
        #expect(drain(&machine) == [.schedulePongDeadline(in: .seconds(5)), serverWrite(.ping, [])])
        // Answered: the deadline is void, the next ping goes one interval after the answer.
        machine.bytesReceived(fromClient(.pong, []))
        #expect(drain(&machine) == [.pongReceived(ByteBuffer(), answeringPings: 0), .cancelPongDeadline,
                                    .scheduleKeepalivePing(in: .seconds(20))])
        machine.keepalivePingDue()
        #expect(drain(&machine) == [.schedulePongDeadline(in: .seconds(5)), serverWrite(.ping, [])])
        // Not answered.
        machine.pongDeadlinePassed()
        #expect(drain(&machine) == [.abortConnection])
        machine.pongDeadlinePassed()
        #expect(drain(&machine) == [])
        let outcome = machine.channelInactive()
        #expect(outcome.code == .abnormalClosure)
        #expect(outcome.received == nil)
    }

    @Test("a deadline that passes after the pong changes nothing")
    func staleDeadline() {
        var machine = ConnectionStateMachine(role: .server, configuration: configuration)
        machine.keepalivePingDue()
        _ = drain(&machine)
        machine.bytesReceived(fromClient(.pong, []))
        _ = drain(&machine)
        machine.pongDeadlinePassed()
        #expect(drain(&machine) == [])
        #expect(machine.canSend)
    }

    @Test("a client's keepalive ping is masked")
    func clientPingIsMasked() {
        var machine = ConnectionStateMachine(role: .client, configuration: configuration,
                                             randomSource: SeededRandomNumberGenerator(seed: 7))
        machine.keepalivePingDue()
        let actions = drain(&machine)
        #expect(actions.count == 2)
        guard case .write(let frame) = actions.last else {
            Issue.record("expected the ping's write, got \(actions)")
            return
        }
        #expect(Array(frame.readableBytesView.prefix(2)) == [0x89, 0x80])
        #expect(frame.readableBytes == 6)
    }

    @Test("RFC 6455 §5.5.3: the pong to a later ping answers the keepalive ping too; the pong to an earlier one does not")
    func pongsAndApplicationPings() {
        var machine = ConnectionStateMachine(role: .server, configuration: configuration)
        _ = machine.encodePing()  // the application's ping, also with an empty payload, goes first
        machine.keepalivePingDue()
        _ = drain(&machine)
        _ = machine.encodePing(payload: ByteBuffer(bytes: [7]))
        // The empty pong answers the earliest empty ping: the application's.
        machine.bytesReceived(fromClient(.pong, []))
        #expect(drain(&machine) == [.pongReceived(ByteBuffer(), answeringPings: 1)])
        // The pong to the last ping answers the keepalive ping before it.
        machine.bytesReceived(fromClient(.pong, [7]))
        #expect(drain(&machine) == [.pongReceived(ByteBuffer(bytes: [7]), answeringPings: 1), .cancelPongDeadline,
                                    .scheduleKeepalivePing(in: .seconds(20))])
    }

    @Test("no ping once the close handshake began, nor after the connection ended")
    func noPingWhenClosing() {
        var machine = ConnectionStateMachine(role: .server, configuration: configuration)
        machine.closeRequested(CloseFrame(code: .normalClosure))
        _ = drain(&machine)
        machine.keepalivePingDue()
        #expect(drain(&machine) == [])
        _ = machine.channelInactive()
        machine.keepalivePingDue()
        #expect(drain(&machine) == [])
    }

    @Test("without a ping interval nothing is scheduled and no ping is sent")
    func withoutPingInterval() {
        var machine = ConnectionStateMachine(role: .server)
        machine.connectionStarted()
        machine.keepalivePingDue()
        machine.pongDeadlinePassed()
        #expect(drain(&machine) == [])
    }

    @Test("with both timers, the idle check is scheduled first, then the first ping")
    func bothTimers() {
        var machine = ConnectionStateMachine(role: .server, configuration: configuration)
        machine.idleTimeoutRequested(.seconds(30), now: start)
        machine.connectionStarted()
        #expect(drain(&machine) == [.scheduleIdleCheck(at: start + .seconds(30)),
                                    .scheduleKeepalivePing(in: .seconds(20))])
    }
}
