import HoldfastChannels
import Testing

@Suite struct RecoveryPlanTests {
    let stream = StreamPosition(epoch: "e1", offset: 100)

    func plan(since: StreamPosition?, oldest: UInt64 = 1, maxReplay: Int = 1000) -> Result<RecoveryPlan, ChannelsError> {
        RecoveryPlan.plan(channel: "c", since: since, stream: stream, oldestRetained: oldest, maxReplay: maxReplay)
    }

    @Test func withoutAPositionOnlyLivePublicationsFollow() throws {
        let planned = try plan(since: nil).get()
        #expect(planned.answer == ChannelSubscribed(channel: "c", position: stream, recovered: nil, from: 101))
        #expect(planned.replayAfter == 100)
    }

    @Test func aGapInHistoryIsReplayedAndRecovered() throws {
        let planned = try plan(since: StreamPosition(epoch: "e1", offset: 60), oldest: 40).get()
        #expect(planned.answer.recovered == true)
        #expect(planned.answer.from == 61)
        #expect(planned.replayAfter == 60)
        // Up to date: nothing to replay, still recovered.
        let current = try plan(since: StreamPosition(epoch: "e1", offset: 100)).get()
        #expect(current.answer.recovered == true)
        #expect(current.replayAfter == 100)
        // The oldest kept publication is exactly the next one wanted.
        #expect(try plan(since: StreamPosition(epoch: "e1", offset: 39), oldest: 40).get().answer.recovered == true)
    }

    @Test func aTrimmedGapIsNotRecoveredAndStartsAtTheOldestKept() throws {
        let planned = try plan(since: StreamPosition(epoch: "e1", offset: 38), oldest: 40).get()
        #expect(planned.answer.recovered == false)
        #expect(planned.answer.from == 40)
        #expect(planned.replayAfter == 39)
    }

    @Test func aGapOverTheReplayLimitKeepsTheMostRecent() throws {
        let planned = try plan(since: StreamPosition(epoch: "e1", offset: 10), maxReplay: 25).get()
        #expect(planned.answer.recovered == false)
        #expect(planned.answer.from == 76)
        #expect(planned.replayAfter == 75)
    }

    @Test func anotherEpochGetsTheNewStreamUnrecovered() throws {
        let planned = try plan(since: StreamPosition(epoch: "e0", offset: 500), oldest: 90).get()
        #expect(planned.answer.recovered == false)
        #expect(planned.answer.from == 90)
        #expect(planned.answer.position == stream)
    }

    @Test func anOffsetFromTheFutureIsRefused() {
        guard case .failure(let refusal) = plan(since: StreamPosition(epoch: "e1", offset: 101)) else {
            Issue.record("expected a refusal")
            return
        }
        #expect(refusal.code == .offsetFromFuture)
        #expect(refusal.channel == "c")
    }
}

@Suite struct SubscriberStreamTests {
    func publication(_ offset: UInt64, bytes: Int = 10) -> ChannelPublication {
        ChannelPublication(channel: "c", position: StreamPosition(epoch: "e", offset: offset),
                           message: .binary(Array(repeating: 1, count: bytes)))
    }

    @Test func liveDuringReplayWaitsThenGoesOutOnceInOrder() {
        var stream = SubscriberStream(id: 1)
        #expect(!stream.isLive)
        // Stored while the history was read: 10 (also in the replay), 11 and 12 arrive live.
        #expect(stream.live(publication(10)) == .held)
        #expect(stream.live(publication(11)) == .held)
        #expect(stream.live(publication(12)) == .held)
        let released = stream.replayFinished(through: 10)
        #expect(released.map(\.offset) == [11, 12])
        #expect(stream.isLive)
        #expect(stream.live(publication(12)) == .skip)
        #expect(stream.live(publication(13)) == .send)
        #expect(stream.live(publication(13)) == .skip)
    }

    @Test func heldBytesCountWhatWaitsUntilTheReplayFinishes() {
        var stream = SubscriberStream(id: 1)
        #expect(stream.live(publication(1, bytes: 10)) == .held)
        #expect(stream.live(publication(2, bytes: 15)) == .held)
        #expect(stream.heldBytes == 25 + 2 * SubscriberStream.heldOverhead)
        #expect(stream.replayFinished(through: 0).map(\.offset) == [1, 2])
        #expect(stream.heldBytes == 0)
    }
}
