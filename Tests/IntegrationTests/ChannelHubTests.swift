import Holdfast
import HoldfastChannels
import NIOCore
import Testing

/// The channels protocol against a ``ChannelHub``, spoken by hand: answers, replays, refusals.
@Suite("Channels hub — subscribe, publish, resume by offset, refuse bad requests", .timeLimit(.minutes(1)))
struct ChannelHubTests {
    @Test("a publication reaches a subscriber with its offset, and the publisher's ack names the same place")
    func publishReachesSubscriber() async throws {
        let store = InMemoryChannelStore()
        try await withChannelServer(store: store) { _, port in
            try await withChannelsPeer(port: port) { subscriber in
                try await subscriber.send(.subscribe(channel: "room", since: nil))
                let answer = try await subscriber.next()
                #expect(answer == .subscribed(ChannelSubscribed(channel: "room", position: StreamPosition(epoch: store.epoch, offset: 0),
                                                                recovered: nil, from: 1)))
                try await withChannelsPeer(port: port) { publisher in
                    try await publisher.send(.publish(channel: "room", id: "p-1", message: .text("hello")))
                    let ack = try await publisher.next()
                    let position = StreamPosition(epoch: store.epoch, offset: 1)
                    #expect(ack == .ack(ChannelPublishAck(id: "p-1", channel: "room", position: position, duplicate: false)))
                    #expect(try await subscriber.next()
                            == .publication(ChannelPublication(channel: "room", position: position, message: .text("hello"))))
                    try await publisher.send(.publish(channel: "room", id: nil, message: .binary([0, 10, 255])))
                    _ = try await publisher.next()
                    #expect(try await subscriber.next() == .publication(ChannelPublication(
                        channel: "room", position: StreamPosition(epoch: store.epoch, offset: 2), message: .binary([0, 10, 255]))))
                }
            }
        }
    }

    @Test("a publish sent right after a fresh subscribe reaches that subscriber: the subscription starts before it is stored")
    func subscribeThenPublishAtOnce() async throws {
        try await withChannelServer { _, port in
            try await withChannelsPeer(port: port) { peer in
                for index in 0..<100 {
                    let channel = try ChannelName(validating: "race-\(index)")
                    try await peer.send(.subscribe(channel: channel, since: nil))
                    try await peer.send(.publish(channel: channel, id: nil, message: .text("\(index)")))
                    // The ack may come before the answer; the publication always after it.
                    var answered = false
                    var delivered = false
                    var acknowledged = false
                    while !(delivered && acknowledged) {
                        switch try await peer.next() {
                        case .subscribed(let answer):
                            #expect(answer.from == 1)
                            answered = true
                        case .publication(let publication):
                            #expect(answered, "the publication came before the subscribe's answer")
                            #expect(publication.offset == 1)
                            delivered = true
                        case .ack: acknowledged = true
                        case let other: Issue.record("unexpected \(other)")
                        }
                    }
                }
            }
        }
    }

    @Test("a subscriber resuming after offset 2 of 5 gets 3, 4, 5 from history and then 6 live, recovered")
    func resumeReplaysThenLive() async throws {
        let store = InMemoryChannelStore()
        try await withChannelServer(store: store) { _, port in
            try await withChannelsPeer(port: port) { publisher in
                for index in 1...5 {
                    try await publisher.send(.publish(channel: "news", id: nil, message: .text("m\(index)")))
                    _ = try await publisher.next()
                }
                try await withChannelsPeer(port: port) { subscriber in
                    try await subscriber.send(.subscribe(channel: "news", since: StreamPosition(epoch: store.epoch, offset: 2)))
                    #expect(try await subscriber.next() == .subscribed(ChannelSubscribed(
                        channel: "news", position: StreamPosition(epoch: store.epoch, offset: 5), recovered: true, from: 3)))
                    for offset in 3...5 {
                        guard case .publication(let publication) = try await subscriber.next() else {
                            Issue.record("expected publication \(offset)")
                            return
                        }
                        #expect(publication.offset == UInt64(offset))
                        #expect(publication.message == .text("m\(offset)"))
                    }
                    try await publisher.send(.publish(channel: "news", id: nil, message: .text("m6")))
                    guard case .publication(let live) = try await subscriber.next() else {
                        Issue.record("expected the live publication")
                        return
                    }
                    #expect(live.offset == 6)
                }
            }
        }
    }

    @Test("a position in another epoch is not recovered: the answer says so and the new stream follows")
    func otherEpochNotRecovered() async throws {
        let store = InMemoryChannelStore()
        try await withChannelServer(store: store) { hub, port in
            try await withChannelsPeer(port: port) { peer in
                try await peer.send(.publish(channel: "news", id: nil, message: .text("first in the new stream")))
                _ = try await peer.next()
                try await peer.send(.subscribe(channel: "news", since: StreamPosition(epoch: "0123456789abcdef", offset: 40)))
                #expect(try await peer.next() == .subscribed(ChannelSubscribed(
                    channel: "news", position: StreamPosition(epoch: store.epoch, offset: 1), recovered: false, from: 1)))
                guard case .publication(let publication) = try await peer.next() else {
                    Issue.record("expected the new stream's publication")
                    return
                }
                #expect(publication.message == .text("first in the new stream"))
                #expect(hub.statistics.recoveriesFailed == 1)
            }
        }
    }

    @Test("a publish repeated with the same id is acknowledged twice with one offset and delivered once")
    func duplicatePublishStoredOnce() async throws {
        let store = InMemoryChannelStore()
        try await withChannelServer(store: store) { hub, port in
            try await withChannelsPeer(port: port) { peer in
                try await peer.send(.subscribe(channel: "c", since: nil))
                _ = try await peer.next()
                try await peer.send(.publish(channel: "c", id: "retry-me", message: .text("once")))
                var acks: [ChannelPublishAck] = []
                var publications: [ChannelPublication] = []
                try await peer.send(.publish(channel: "c", id: "retry-me", message: .text("once")))
                try await peer.send(.publish(channel: "c", id: "after", message: .text("twice")))
                while acks.count < 3 {
                    switch try await peer.next() {
                    case .ack(let ack): acks.append(ack)
                    case .publication(let publication): publications.append(publication)
                    case let other: Issue.record("unexpected \(other)")
                    }
                }
                while publications.count < 2 {
                    guard case .publication(let publication) = try await peer.next() else { continue }
                    publications.append(publication)
                }
                #expect(acks.map(\.position.offset) == [1, 1, 2])
                #expect(acks.map(\.duplicate) == [false, true, false])
                #expect(publications.map(\.offset) == [1, 2])
                #expect(publications.map(\.message) == [.text("once"), .text("twice")])
                #expect(hub.statistics.duplicates == 1)
                #expect(hub.statistics.published == 2)
            }
        }
    }

    @Test("bad requests get their error code and the connection goes on")
    func badRequests() async throws {
        try await withChannelServer(configuration: .init(maxSubscriptionsPerConnection: 2)) { _, port in
            try await withChannelsPeer(port: port) { peer in
                try await peer.webSocket.send(text: #"{"type":"teleport","channel":"x"}"#)
                #expect(try await peer.next() == .error(ChannelsError(.unknownType, "unknown message type \"teleport\"", channel: "x")))

                try await peer.webSocket.send(text: #"{"type":"subscribe","channel":"\#(String(repeating: "n", count: 201))"}"#)
                guard case .error(let tooLong) = try await peer.next() else { Issue.record("expected an error"); return }
                #expect(tooLong.code == .invalidChannel)
                #expect(tooLong.reason == "channel name of 201 bytes exceeds limit of 200 bytes")

                try await peer.send(.subscribe(channel: "a", since: StreamPosition(epoch: "e", offset: 0)))
                guard case .subscribed(let first) = try await peer.next() else { Issue.record("expected subscribed"); return }
                try await peer.send(.subscribe(channel: "b", since: StreamPosition(epoch: first.position.epoch, offset: 7)))
                guard case .error(let future) = try await peer.next() else { Issue.record("expected an error"); return }
                #expect(future.code == .offsetFromFuture)
                #expect(future.channel == "b")

                try await peer.send(.subscribe(channel: "a", since: nil))
                guard case .error(let again) = try await peer.next() else { Issue.record("expected an error"); return }
                #expect(again.code == .alreadySubscribed)
                try await peer.send(.subscribe(channel: "b", since: nil))
                _ = try await peer.next()
                try await peer.send(.subscribe(channel: "c", since: nil))
                guard case .error(let tooMany) = try await peer.next() else { Issue.record("expected an error"); return }
                #expect(tooMany.code == .tooManySubscriptions)
                try await peer.send(.unsubscribe(channel: "c"))
                guard case .error(let notSubscribed) = try await peer.next() else { Issue.record("expected an error"); return }
                #expect(notSubscribed.code == .notSubscribed)
                try await peer.send(.unsubscribe(channel: "b"))
                #expect(try await peer.next() == .unsubscribed(channel: "b"))
            }
        }
    }

    @Test("a message that is not of the protocol closes the connection with 1007 and a reason")
    func notAChannelsMessage() async throws {
        try await withChannelServer { _, port in
            try await withChannelsPeer(port: port) { peer in
                try await peer.webSocket.send(text: "hello?")
                #expect(await peer.ends())
                #expect(await peer.webSocket.closeOutcome.code == .invalidFramePayloadData)
                #expect(await peer.webSocket.closeOutcome.reason == "not a JSON object of the channels protocol")
            }
        }
    }

    @Test("a client that does not offer the subprotocol is closed with 1002 naming it")
    func plainClientRefused() async throws {
        try await withChannelServer { _, port in
            try await connect("ws://127.0.0.1:\(port)/") { webSocket in
                var messages = webSocket.messages.makeAsyncIterator()
                #expect(await messages.next() == nil)
                #expect(await webSocket.closeOutcome.code == .protocolError)
                #expect(await webSocket.closeOutcome.reason == "offer the subprotocol holdfast.channels.v1")
            }
        }
    }
}
