import HoldfastCore
import HoldfastTransfer
import Testing

@Suite("TransferSendState — the sender's bookkeeping")
struct TransferSendStateTests {
    /// Every step the state allows now.
    static func drain(_ state: inout TransferSendState) -> [TransferSendState.Step] {
        var steps: [TransferSendState.Step] = []
        while let step = state.nextStep() { steps.append(step) }
        return steps
    }

    /// A state connected and told by the receiver to start at 0.
    static func sending(size: Int, chunk: Int, window: Int) throws -> TransferSendState {
        var state = TransferSendState(size: size, preferredChunkSize: chunk, window: window)
        try state.connected(announcedMessageLimit: nil)
        try state.resumeReceived(offset: 0)
        return state
    }

    @Test("nothing is sent before a connection and the receiver's resume answer")
    func waitsForResume() throws {
        var state = TransferSendState(size: 100, preferredChunkSize: 10, window: 30)
        #expect(state.nextStep() == nil)
        try state.connected(announcedMessageLimit: nil)
        #expect(state.phase == .offered)
        #expect(state.nextStep() == nil)
    }

    @Test("a window of unacknowledged bytes: three chunks, then one more per acknowledgement, then finish")
    func window() throws {
        var state = try Self.sending(size: 45, chunk: 10, window: 30)
        #expect(Self.drain(&state) == [.chunk(offset: 0, length: 10), .chunk(offset: 10, length: 10),
                                       .chunk(offset: 20, length: 10)])
        try state.acknowledgementReceived(offset: 10)
        #expect(Self.drain(&state) == [.chunk(offset: 30, length: 10)])
        try state.acknowledgementReceived(offset: 40)
        #expect(Self.drain(&state) == [.chunk(offset: 40, length: 5), .finish])
        #expect(state.phase == .finished)
        state.completed()
        #expect(state.phase == .complete)
    }

    @Test("the chunk size is fitted to the announced limit: the chunk message is the limit exactly")
    func fitsAnnouncedLimit() throws {
        var state = TransferSendState(size: 1 << 20, preferredChunkSize: 1 << 20, window: 4 << 20)
        try state.connected(announcedMessageLimit: 65_536)
        #expect(state.chunkSize == 65_536 - 27)
        try state.resumeReceived(offset: 0)
        #expect(state.nextStep() == .chunk(offset: 0, length: 65_509))
    }

    @Test("a limit that leaves no room after the 27-byte header fails with the numbers")
    func limitTooSmall() {
        var state = TransferSendState(size: 10, preferredChunkSize: 10, window: 10)
        #expect(throws: TransferSendState.Failure.self) { try state.connected(announcedMessageLimit: 27) }
        #expect(throws: TransferSendState.Failure(reason: "the peer's message limit of 20 bytes leaves no room for data after the 27-byte chunk header")) {
            try state.refusedAsTooBig(namedLimit: 20)
        }
    }

    @Test("1009 naming a limit: the chunk size drops to fit it and stays there on the next connection")
    func namedLimitLowersChunkSize() throws {
        var state = TransferSendState(size: 10 << 20, preferredChunkSize: 1 << 20, window: 4 << 20)
        try state.connected(announcedMessageLimit: nil)
        try state.resumeReceived(offset: 0)
        #expect(state.nextStep() == .chunk(offset: 0, length: 1 << 20))
        state.disconnected()
        try state.refusedAsTooBig(namedLimit: 65_536)
        #expect(state.chunkSize == 65_509)
        try state.connected(announcedMessageLimit: nil)
        #expect(state.chunkSize == 65_509)
        try state.resumeReceived(offset: 0)
        #expect(state.nextStep() == .chunk(offset: 0, length: 65_509))
    }

    @Test("1009 without a number halves the chunk size, down to 1 byte and no further")
    func halving() throws {
        var state = TransferSendState(size: 100, preferredChunkSize: 8, window: 100)
        for expected in [4, 2, 1] {
            try state.refusedAsTooBig(namedLimit: nil)
            #expect(state.chunkSize == expected)
        }
        #expect(throws: TransferSendState.Failure.self) { try state.refusedAsTooBig(namedLimit: nil) }
    }

    @Test("a named limit that would have taken the chunk still halves, so the sender makes progress")
    func namedLimitAboveChunkSize() throws {
        var state = TransferSendState(size: 100, preferredChunkSize: 64, window: 100)
        try state.refusedAsTooBig(namedLimit: 1000)
        #expect(state.chunkSize == 32)
    }

    @Test("after a reconnect, sending resumes at the receiver's offset, not at the last acknowledgement")
    func resumeAtReceiversOffset() throws {
        var state = try Self.sending(size: 100, chunk: 10, window: 40)
        _ = Self.drain(&state)  // 0 ..< 40 sent
        try state.acknowledgementReceived(offset: 20)
        state.disconnected()
        #expect(state.nextStep() == nil)
        try state.connected(announcedMessageLimit: nil)
        try state.resumeReceived(offset: 30)  // the receiver stored 30 (acknowledged 20 of them)
        #expect(state.acknowledged == 30)
        #expect(state.nextStep() == .chunk(offset: 30, length: 10))
        #expect(state.nextStep() == .chunk(offset: 40, length: 10))
        #expect(state.highestSent == 50)
    }

    @Test("a receiver that lost data (memory store restarted) resumes lower than acknowledged")
    func resumeBelowAcknowledged() throws {
        var state = try Self.sending(size: 30, chunk: 10, window: 30)
        _ = Self.drain(&state)
        try state.acknowledgementReceived(offset: 30)
        state.disconnected()
        try state.connected(announcedMessageLimit: nil)
        try state.resumeReceived(offset: 0)
        #expect(state.acknowledged == 0)
        #expect(state.nextStep() == .chunk(offset: 0, length: 10))
    }

    @Test("violations: resume past the end, acknowledgement of bytes never sent")
    func violations() throws {
        var state = TransferSendState(size: 30, preferredChunkSize: 10, window: 30)
        try state.connected(announcedMessageLimit: nil)
        #expect(throws: TransferSendState.Failure(reason: "the receiver claims 31 bytes of a 30-byte transfer")) {
            try state.resumeReceived(offset: 31)
        }
        try state.resumeReceived(offset: 0)
        _ = state.nextStep()
        #expect(throws: TransferSendState.Failure(reason: "the receiver acknowledged 11 bytes, but only 10 were sent")) {
            try state.acknowledgementReceived(offset: 11)
        }
    }

    @Test("a resume answer after the connection ended is ignored; a resume for a whole transfer finishes")
    func staleResumeAndFinishedTransfer() throws {
        var state = TransferSendState(size: 30, preferredChunkSize: 10, window: 30)
        try state.resumeReceived(offset: 10)
        #expect(state.phase == .disconnected)
        try state.connected(announcedMessageLimit: nil)
        try state.resumeReceived(offset: 30)
        #expect(state.nextStep() == .finish)
        #expect(state.nextStep() == nil)
    }

    @Test("an empty transfer sends only the finish")
    func empty() throws {
        var state = try Self.sending(size: 0, chunk: 10, window: 10)
        #expect(Self.drain(&state) == [.finish])
    }

    @Test("a window smaller than a chunk still lets one chunk fly")
    func tinyWindow() throws {
        var state = try Self.sending(size: 30, chunk: 10, window: 1)
        #expect(Self.drain(&state) == [.chunk(offset: 0, length: 10)])
    }
}
