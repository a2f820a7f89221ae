import HoldfastCore
import Testing

@Suite("ConnectionStateMachine — what every connection carries")
struct ConnectionStateMachineLayoutTests {
    @Test("the machine's stored size stays within what the split measured (330 bytes): every connection holds one")
    func storedSize() {
        // Measured after the split into lifecycle, assembler and framer (296 bytes before it,
        // when the handler held the peer limits, the fragment size and the timers instead).
        // Raise this only on purpose: the per-connection memory is a benchmarked property.
        #expect(MemoryLayout<ConnectionStateMachine>.size <= 330)
    }
}
