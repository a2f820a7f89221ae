import HoldfastCore
import HoldfastTestSupport
import NIOCore
import Testing

// A peer that reads too slowly, as the core sees it: the handler measures what waits to be
// written, or reports that the socket stopped draining; the machine decides to close with 1013.

private typealias Action = ConnectionStateMachine.Action

private let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

private func drain(_ machine: inout ConnectionStateMachine) -> [Action] {
    var actions: [Action] = []
    while let action = machine.nextAction() { actions.append(action) }
    return actions
}

private func closeFrame(_ code: UInt16, _ reason: String) -> Action {
    .write(ByteBuffer(bytes: WireFrame.bytes(opcode: 0x8, payload: [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8))))
}

@Suite("ConnectionStateMachine — the outbound budget and stalled readers")
struct ConnectionStateMachineBacklogTests {
    @Test("a backlog within the budget changes nothing; past it the connection closes with 1013 naming the limit")
    func budget() {
        var machine = ConnectionStateMachine(role: .server, configuration: WebSocketConfiguration(maxBacklog: 1000))
        #expect(machine.hasOutboundBudget)
        machine.outboundBacklogMeasured(1000)
        #expect(drain(&machine).isEmpty)
        #expect(machine.canSend)
        machine.outboundBacklogMeasured(1001)
        #expect(drain(&machine) == [closeFrame(1013, "outbound backlog exceeds limit of 1000 bytes (reading too slowly)"),
                                    .shutdownOutput, .scheduleCloseTimeout(.seconds(10))])
        // Nothing more is sent to it, and saying so does not close twice.
        #expect(!machine.canSend)
        #expect(machine.sendRefusal(messageSize: 10) == .connectionClosing)
        machine.outboundBacklogMeasured(5000)
        #expect(drain(&machine).isEmpty)
        let outcome = machine.channelInactive()
        #expect(outcome.code == .tryAgainLater)
        #expect(outcome.reason == "outbound backlog exceeds limit of 1000 bytes (reading too slowly)")
    }

    @Test("the default budget is 4 MiB; without one, no backlog closes")
    func defaultsAndNone() {
        #expect(WebSocketConfiguration().maxBacklog == 4 << 20)
        var unlimited = ConnectionStateMachine(role: .server, configuration: WebSocketConfiguration(maxBacklog: nil))
        #expect(!unlimited.hasOutboundBudget)
        unlimited.outboundBacklogMeasured(Int.max)
        #expect(drain(&unlimited).isEmpty)
    }

    @Test("with an idle timeout, a peer that read nothing for it while writes waited is closed with 1013")
    func stalledReader() {
        var machine = ConnectionStateMachine(role: .server)
        machine.idleTimeoutRequested(.seconds(30), now: start)
        machine.connectionStarted()
        #expect(drain(&machine) == [.scheduleIdleCheck(at: start + .seconds(30))])
        // The socket stops draining 10 s in; reading pauses with it, which alone is not quiet.
        let stalled = start + .seconds(10)
        machine.idleCheckDue(now: start + .seconds(30), readingPaused: true, writesStalledSince: stalled)
        #expect(drain(&machine) == [.scheduleIdleCheck(at: start + .seconds(40))])
        machine.idleCheckDue(now: start + .seconds(40), readingPaused: true, writesStalledSince: stalled)
        #expect(drain(&machine) == [closeFrame(1013, "nothing read for 30 s (reading too slowly)"),
                                    .shutdownOutput, .scheduleCloseTimeout(.seconds(10))])
        // The outcome says why, even though the slow reader never answers.
        #expect(machine.channelInactive().code == .tryAgainLater)
    }

    @Test("a reader that drains again in time is not closed")
    func drainedInTime() {
        var machine = ConnectionStateMachine(role: .server)
        machine.idleTimeoutRequested(.seconds(30), now: start)
        machine.idleCheckDue(now: start + .seconds(30), readingPaused: true, writesStalledSince: start + .seconds(10))
        #expect(drain(&machine) == [.scheduleIdleCheck(at: start + .seconds(40))])
        // It reads (the socket drains) a second before the stall would have been 30 s.
        machine.idleCheckDue(now: start + .seconds(40), readingPaused: false, writesStalledSince: nil)
        #expect(drain(&machine) == [.scheduleIdleCheck(at: start + .seconds(60))])
        #expect(machine.canSend)
    }
}
