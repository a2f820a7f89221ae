import HoldfastChannels
import HoldfastCore
import Testing

private let room: ChannelName = "room"
private let news: ChannelName = "news"

private func publication(_ offset: UInt64, _ text: String = "m", channel: ChannelName = room,
                         epoch: String = "e1") -> ChannelsServerMessage {
    .publication(ChannelPublication(channel: channel, position: StreamPosition(epoch: epoch, offset: offset),
                                    message: .text(text)))
}

private func subscribed(_ channel: ChannelName = room, epoch: String = "e1", top: UInt64, recovered: Bool?,
                        from: UInt64) -> ChannelsServerMessage {
    .subscribed(ChannelSubscribed(channel: channel, position: StreamPosition(epoch: epoch, offset: top),
                                  recovered: recovered, from: from))
}

private func delivered(_ offset: UInt64, _ text: String = "m", channel: ChannelName = room,
                       epoch: String = "e1") -> ChannelClientState.Action {
    .deliver(channel, .publication(ChannelPublication(channel: channel,
                                                      position: StreamPosition(epoch: epoch, offset: offset),
                                                      message: .text(text))))
}

/// A state connected and subscribed fresh to `room`, positioned at `e1:top`.
private func streaming(top: UInt64 = 0) -> ChannelClientState {
    var state = ChannelClientState(publishIDPrefix: "c")
    _ = state.subscribe(room, since: nil)
    _ = state.connected(messageLimit: nil)
    _ = state.receive(subscribed(top: top, recovered: nil, from: top + 1))
    return state
}

@Suite struct ChannelClientStateSubscribeTests {
    @Test func subscribesOnConnectAndSendsTheWireForm() {
        var state = ChannelClientState(publishIDPrefix: "c")
        #expect(state.subscribe(room, since: nil).isEmpty)
        #expect(state.subscribe(news, since: StreamPosition(epoch: "e1", offset: 7)).isEmpty)
        let actions = state.connected(messageLimit: nil)
        #expect(actions == [
            .send(.subscribe(channel: news, since: StreamPosition(epoch: "e1", offset: 7))),
            .send(.subscribe(channel: room, since: nil)),
        ])
        #expect(ChannelsClientMessage.subscribe(channel: news, since: StreamPosition(epoch: "e1", offset: 7)).encoded
            == .text(#"{"channel":"news","since":{"epoch":"e1","offset":7},"type":"subscribe"}"#))
        #expect(ChannelsClientMessage.subscribe(channel: room, since: nil).encoded
            == .text(#"{"channel":"room","type":"subscribe"}"#))
    }

    @Test func subscribingWhileConnectedSendsAtOnce() {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.connected(messageLimit: nil)
        #expect(state.subscribe(room, since: nil) == [.send(.subscribe(channel: room, since: nil))])
        #expect(state.unsubscribe(room) == [.send(.unsubscribe(channel: room))])
        #expect(state.unsubscribe(room).isEmpty)
        #expect(state.receive(publication(1)).isEmpty)
    }

    @Test func deliversInOrderAndDropsRepeats() {
        var state = streaming(top: 4)
        #expect(state.receive(publication(5, "a")) == [delivered(5, "a")])
        #expect(state.receive(publication(5, "a")).isEmpty)
        #expect(state.receive(publication(3)).isEmpty)
        #expect(state.receive(publication(6, "b")) == [delivered(6, "b")])
        #expect(state.lastDelivered(on: room) == StreamPosition(epoch: "e1", offset: 6))
    }

    @Test func resubscribesFromTheLastDeliveredPositionAndDropsTheOverlap() {
        var state = streaming()
        _ = state.receive(publication(1))
        _ = state.receive(publication(2))
        state.disconnected()
        #expect(state.connected(messageLimit: nil)
            == [.send(.subscribe(channel: room, since: StreamPosition(epoch: "e1", offset: 2)))])
        #expect(state.receive(subscribed(top: 4, recovered: true, from: 3)).isEmpty)
        #expect(state.receive(publication(3)) == [delivered(3)])
        #expect(state.receive(publication(4)) == [delivered(4)])
    }

    @Test func leftoversOfTheLastConnectionAreDeliveredOnceWhenTheyComeLate() {
        var state = streaming()
        _ = state.receive(publication(1))
        state.disconnected()
        _ = state.connected(messageLimit: nil)
        // The old connection's last publication is read after the reconnect.
        #expect(state.receive(publication(2)) == [delivered(2)])
        // The server answered the since sent (1): not recovered judged from there, but 2 was
        // delivered meanwhile, so nothing is lost.
        #expect(state.receive(subscribed(top: 5, recovered: false, from: 3)).isEmpty)
        #expect(state.receive(publication(2)).isEmpty)
        #expect(state.receive(publication(3)) == [delivered(3)])
    }

    @Test func aNewEpochIsAGap() {
        var state = streaming()
        _ = state.receive(publication(1))
        _ = state.receive(publication(2))
        state.disconnected()
        _ = state.connected(messageLimit: nil)
        let gap = ChannelGap(channel: room, lastDelivered: StreamPosition(epoch: "e1", offset: 2),
                             resumesAt: StreamPosition(epoch: "e2", offset: 1))
        #expect(state.receive(subscribed(epoch: "e2", top: 0, recovered: false, from: 1)) == [.deliver(room, .gap(gap))])
        #expect(state.receive(publication(1, epoch: "e2")) == [delivered(1, epoch: "e2")])
        #expect(state.lastDelivered(on: room) == StreamPosition(epoch: "e2", offset: 1))
    }

    @Test func trimmedHistoryIsAGapInTheSameEpoch() {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.subscribe(room, since: StreamPosition(epoch: "e1", offset: 10))
        _ = state.connected(messageLimit: nil)
        let gap = ChannelGap(channel: room, lastDelivered: StreamPosition(epoch: "e1", offset: 10),
                             resumesAt: StreamPosition(epoch: "e1", offset: 40))
        #expect(state.receive(subscribed(top: 50, recovered: false, from: 40)) == [.deliver(room, .gap(gap))])
        #expect(state.receive(publication(40)) == [delivered(40)])
    }

    @Test func aGivenStartThatIsRecoveredDeliversWhatFollowsIt() {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.subscribe(room, since: StreamPosition(epoch: "e1", offset: 10))
        _ = state.connected(messageLimit: nil)
        #expect(state.receive(subscribed(top: 11, recovered: true, from: 11)).isEmpty)
        #expect(state.receive(publication(11)) == [delivered(11)])
    }

    @Test func aSkipWithoutAnAnswerResubscribesFromTheLastDelivered() {
        var state = streaming()
        _ = state.receive(publication(1))
        let last = StreamPosition(epoch: "e1", offset: 1)
        #expect(state.receive(publication(3)) == [
            .outOfOrder(room, lastDelivered: last, received: StreamPosition(epoch: "e1", offset: 3)),
            .send(.unsubscribe(channel: room)),
            .send(.subscribe(channel: room, since: last)),
        ])
        // Until the answer comes, further skips are not reported again.
        #expect(state.receive(publication(4)).isEmpty)
        #expect(state.receive(.unsubscribed(channel: room)).isEmpty)
        #expect(state.receive(subscribed(top: 4, recovered: true, from: 2)).isEmpty)
        #expect(state.receive(publication(2)) == [delivered(2)])
        #expect(state.receive(publication(3)) == [delivered(3)])
    }

    @Test func aRefusedSubscriptionFailsAndARetryableOneIsRetried() {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.subscribe(room, since: nil)
        _ = state.subscribe(news, since: nil)
        _ = state.connected(messageLimit: nil)
        let full = ChannelsError(.tooManySubscriptions, "limit 1", channel: "news")
        #expect(state.receive(.error(full)) == [.subscriptionFailed(news, full)])
        #expect(!state.isSubscribed(to: news))
        #expect(state.receive(.error(ChannelsError(.storeUnavailable, "down", channel: "room"))) == [.retryLater])
        #expect(state.retryRefused() == [.send(.subscribe(channel: room, since: nil))])
        #expect(state.retryRefused().isEmpty)
        #expect(state.receive(.error(ChannelsError(.notSubscribed, "no", channel: "room"))).isEmpty)
        let stray = ChannelsError(.badRequest, "what", channel: nil)
        #expect(state.receive(.error(stray)) == [.unmatchedError(stray)])
    }
}

@Suite struct ChannelClientStatePublishTests {
    @Test func publishesGetPrefixedIdsAndTheWireForm() throws {
        var state = ChannelClientState(publishIDPrefix: "ab12")
        _ = state.connected(messageLimit: nil)
        let first = try state.publish(.text("hi"), to: room)
        #expect(first.id == "ab12-1")
        #expect(first.actions == [.send(.publish(channel: room, id: "ab12-1", message: .text("hi")))])
        #expect(try state.publish(.text("again"), to: room).id == "ab12-2")
        let wire = ChannelsClientMessage.publish(channel: room, id: "ab12-1", message: .text("hi")).encoded
        #expect(wire == .binary(Array(#"{"channel":"room","id":"ab12-1","kind":"text","type":"publish"}"#.utf8)
            + [0x0A] + Array("hi".utf8)))
    }

    @Test func anAckResolvesAndAnotherCopyOfItIsIgnored() throws {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.connected(messageLimit: nil)
        let id = try state.publish(.text("hi"), to: room).id
        let ack = ChannelPublishAck(id: id, channel: room, position: StreamPosition(epoch: "e1", offset: 9),
                                    duplicate: false)
        #expect(state.receive(.ack(ack)) == [.acknowledged(publishID: id, ack)])
        #expect(state.receive(.ack(ack)).isEmpty)
        #expect(state.pendingPublishIDs.isEmpty)
    }

    @Test func unacknowledgedPublishesAreSentAgainInOrderAfterTheSubscribes() throws {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.subscribe(room, since: nil)
        _ = state.connected(messageLimit: nil)
        _ = try state.publish(.text("1"), to: room)
        state.disconnected()
        let queued = try state.publish(.text("2"), to: news)
        #expect(queued.actions.isEmpty)
        #expect(state.connected(messageLimit: nil) == [
            .send(.subscribe(channel: room, since: nil)),
            .send(.publish(channel: room, id: "c-1", message: .text("1"))),
            .send(.publish(channel: news, id: "c-2", message: .text("2"))),
        ])
    }

    @Test func errorsFailOrKeepAPublishByWhetherTheyAreRetryable() throws {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.connected(messageLimit: nil)
        _ = try state.publish(.text("1"), to: room)
        _ = try state.publish(.text("2"), to: room)
        #expect(state.receive(.error(ChannelsError(.shuttingDown, "bye", channel: "room", publishID: "c-1")))
            == [.retryLater])
        let refusal = ChannelsError(.invalidChannel, "no", channel: "room", publishID: "c-2")
        #expect(state.receive(.error(refusal)) == [.publishFailed(publishID: "c-2", .refused(refusal))])
        #expect(state.pendingPublishIDs == ["c-1"])
        #expect(state.retryRefused() == [.send(.publish(channel: room, id: "c-1", message: .text("1")))])
        // An error about a publish no longer waiting is not taken for a subscription's.
        _ = state.subscribe(room, since: nil)
        #expect(state.receive(.error(refusal)).isEmpty)
        #expect(state.isSubscribed(to: room))
    }

    @Test func theOutboxIsBoundedByCountAndBytesAndRefusesTheNewest() throws {
        var state = ChannelClientState(publishIDPrefix: "c", maxPublishes: 2, maxPublishBytes: 200)
        _ = try state.publish(.text("1"), to: room)
        _ = try state.publish(.text("2"), to: room)
        #expect(throws: ChannelPublishFailure.outboxFull(maxPublishes: 2, maxBytes: 200)) {
            try state.publish(.text("3"), to: room)
        }
        #expect(state.pendingPublishIDs == ["c-1", "c-2"])
        var small = ChannelClientState(publishIDPrefix: "c", maxPublishes: 10, maxPublishBytes: 100)
        #expect(throws: ChannelPublishFailure.outboxFull(maxPublishes: 10, maxBytes: 100)) {
            try small.publish(.text(String(repeating: "x", count: 60)), to: room)
        }
        let absent = small.withdraw(publishID: "c-1")
        #expect(!absent)
        let withdrawn = state.withdraw(publishID: "c-1")
        #expect(withdrawn)
        #expect(state.pendingPublishIDs == ["c-2"])
    }

    @Test func aPublishOverTheAnnouncedLimitFailsBeforeItIsSent() throws {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.connected(messageLimit: 80)
        let big = WebSocketMessage.text(String(repeating: "x", count: 40))
        #expect {
            try state.publish(big, to: room)
        } throws: { error in
            guard case .tooBig(let refusal) = error as? ChannelPublishFailure else { return false }
            return refusal.peerLimit == 80
        }
        // While disconnected the last connection's limit still holds.
        state.disconnected()
        #expect(throws: ChannelPublishFailure.self) { try state.publish(big, to: room) }
        // Queued before any limit was known, it fails once a server announces a smaller one.
        var offline = ChannelClientState(publishIDPrefix: "c")
        _ = try offline.publish(big, to: room)
        let actions = offline.connected(messageLimit: 60)
        guard case .publishFailed(let id, .tooBig)? = actions.first else {
            Issue.record("expected the publish to fail, got \(actions)")
            return
        }
        #expect(id == "c-1")
        #expect(offline.pendingPublishIDs.isEmpty)
    }

    @Test("a close with 1009 naming a limit fails the publishes over it on the next connection, even if none is announced")
    func aNamedLimitFromACloseIsKept() throws {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.connected(messageLimit: nil)
        let big = try state.publish(.text(String(repeating: "x", count: 100)), to: room).id
        _ = try state.publish(.text("small"), to: room)
        #expect(state.closedAsTooBig(namedLimit: 100, reason: "message exceeds limit of 100 bytes").isEmpty)
        #expect(!state.isConnected)
        let actions = state.connected(messageLimit: nil)
        guard case .publishFailed(big, .tooBig(let refusal))? = actions.first else {
            Issue.record("expected the big publish to fail, got \(actions)")
            return
        }
        #expect(refusal.peerLimit == 100)
        #expect(actions.dropFirst() == [.send(.publish(channel: room, id: "c-2", message: .text("small")))])
        #expect(throws: ChannelPublishFailure.self) { try state.publish(.text(String(repeating: "x", count: 100)), to: room) }
    }

    @Test("a close with 1009 naming no limit fails the largest unacknowledged publish")
    func anUnnamedLimitFailsTheLargest() throws {
        var state = ChannelClientState(publishIDPrefix: "c")
        _ = state.connected(messageLimit: nil)
        _ = try state.publish(.text("small"), to: room)
        let big = try state.publish(.text(String(repeating: "x", count: 100)), to: room).id
        let actions = state.closedAsTooBig(namedLimit: nil, reason: "too big")
        guard case .publishFailed(big, .tooBig)? = actions.first, actions.count == 1 else {
            Issue.record("expected the big publish to fail, got \(actions)")
            return
        }
        #expect(state.pendingPublishIDs == ["c-1"])
    }
}
