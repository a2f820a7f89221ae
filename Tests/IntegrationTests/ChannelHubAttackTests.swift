import Holdfast
import HoldfastChannels
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// A store whose history reads wait until the test opens the gate: a replay stands still at a
/// known point, as it does for a subscriber whose socket is full.
private final class GatedStore: ChannelStore {
    let base = InMemoryChannelStore()
    let open = NIOLockedValueBox(false)
    var limits: ChannelHistoryLimits { base.limits }
    var epoch: String { base.epoch }

    func append(_ requests: [ChannelPublishRequest]) async throws -> [ChannelPublishReceipt] { try await base.append(requests) }
    func state(of channel: ChannelName) async throws -> ChannelStreamState { try await base.state(of: channel) }
    func publications(of channel: ChannelName, after offset: UInt64, limit: Int) async throws -> [ChannelPublication] {
        while !open.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        return try await base.publications(of: channel, after: offset, limit: limit)
    }
    func trim() async throws { try await base.trim() }
    func close() async throws {}
}

/// A store whose appends wait while `hold` is set, so that publishes pile up into one batch.
private final class HeldAppendStore: ChannelStore {
    let base: InMemoryChannelStore
    let hold = NIOLockedValueBox(false)
    init(limits: ChannelHistoryLimits) { base = InMemoryChannelStore(limits: limits) }
    var limits: ChannelHistoryLimits { base.limits }
    var epoch: String { base.epoch }

    func append(_ requests: [ChannelPublishRequest]) async throws -> [ChannelPublishReceipt] {
        while hold.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        return try await base.append(requests)
    }
    func state(of channel: ChannelName) async throws -> ChannelStreamState { try await base.state(of: channel) }
    func publications(of channel: ChannelName, after offset: UInt64, limit: Int) async throws -> [ChannelPublication] {
        try await base.publications(of: channel, after: offset, limit: limit)
    }
    func trim() async throws { try await base.trim() }
    func close() async throws {}
}

/// Hostile clients, as a review found them: each test failed before the fix it names.
@Suite("Channels hub — hostile clients", .timeLimit(.minutes(2)))
struct ChannelHubAttackTests {
    @Test("a replay of an unsubscribed subscription does not leak into a new subscription of the same channel")
    func resubscribeDuringReplay() async throws {
        let store = GatedStore()
        let history = (1...20).map { ChannelPublishRequest(channel: "r", message: .text("h\($0)")) }
        _ = try await store.append(history)
        try await withChannelServer(store: store) { _, port in
            try await withChannelsPeer(port: port) { peer in
                try await peer.send(.subscribe(channel: "r", since: StreamPosition(epoch: store.epoch, offset: 0)))
                guard case .subscribed = try await peer.next() else { Issue.record("expected subscribed"); return }
                // The replay waits in the store; the client changes its mind and subscribes afresh.
                try await peer.send(.unsubscribe(channel: "r"))
                #expect(try await peer.next() == .unsubscribed(channel: "r"))
                try await peer.send(.subscribe(channel: "r", since: nil))
                guard case .subscribed(let fresh) = try await peer.next() else { Issue.record("expected subscribed"); return }
                #expect(fresh.from == 21)
                store.open.withLockedValue { $0 = true }
                try await peer.send(.publish(channel: "r", id: "live", message: .text("live")))
                // Everything up to the live publication: no offset below `from` may arrive.
                while true {
                    switch try await peer.next() {
                    case .publication(let publication):
                        #expect(publication.offset >= fresh.from,
                                "offset \(publication.offset) of the abandoned replay reached the new subscription (from \(fresh.from))")
                        if publication.offset == 21 { return }
                    case .ack: continue
                    case let other: Issue.record("unexpected \(other)"); return
                    }
                }
            }
        }
    }

    @Test("publications held behind a stalled replay are bounded even when their payloads are empty")
    func heldBudgetCountsEmptyPayloads() async throws {
        let store = GatedStore()
        _ = try await store.append([ChannelPublishRequest(channel: "h", message: .binary([1]))])
        try await withChannelServer(store: store, configuration: .init(maxHeldDuringReplay: 64 << 10)) { hub, port in
            try await withChannelsPeer(port: port) { subscriber in
                try await subscriber.send(.subscribe(channel: "h", since: StreamPosition(epoch: store.epoch, offset: 0)))
                guard case .subscribed = try await subscriber.next() else { Issue.record("expected subscribed"); return }
                try await withChannelsPeer(port: port) { publisher in
                    // Each held publication costs the server its header and bookkeeping (and, from
                    // the wire, the whole received frame) but counts 0 bytes against the budget.
                    for round in 0..<20 {
                        for index in 0..<1000 {
                            try await publisher.send(.publish(channel: "h", id: "\(round)-\(index)", message: .binary([])))
                        }
                        for _ in 0..<1000 { _ = try await publisher.next() }
                    }
                }
                #expect(hub.statistics.slowSubscribersClosed == 1,
                        "20,000 publications are held for a stalled replay; the subscriber was not closed")
                store.open.withLockedValue { $0 = true }
            }
        }
    }

    @Test("at the channel limit, a publish to an existing channel is not refused because a new channel's publish shared its batch")
    func channelLimitDoesNotPoisonTheBatch() async throws {
        let store = HeldAppendStore(limits: .init(maxChannels: 1))
        _ = try await store.append([ChannelPublishRequest(channel: "existing", message: .text("0"))])
        try await withChannelServer(store: store) { _, port in
            try await withChannelsPeer(port: port) { victim in
                store.hold.withLockedValue { $0 = true }
                try await victim.send(.publish(channel: "existing", id: "v-1", message: .text("1")))
                try await Task.sleep(for: .milliseconds(200))  // the writer waits in append with v-1
                try await withChannelsPeer(port: port) { attacker in
                    try await attacker.send(.publish(channel: "brand-new", id: "a-1", message: .text("x")))
                    try await Task.sleep(for: .milliseconds(100))
                    try await victim.send(.publish(channel: "existing", id: "v-2", message: .text("2")))
                    try await Task.sleep(for: .milliseconds(100))
                    store.hold.withLockedValue { $0 = false }
                    guard case .error(let refusal) = try await attacker.next() else { Issue.record("expected a refusal"); return }
                    #expect(refusal.code == .tooManyChannels)
                }
                for id in ["v-1", "v-2"] {
                    let answer = try await victim.next()
                    guard case .ack(let ack) = answer else {
                        Issue.record("publish \(id) to an existing channel was refused: \(answer)")
                        continue
                    }
                    #expect(ack.id == id)
                }
            }
        }
    }

    @Test("one connection's publishes waiting for the store are bounded; the next is refused as retryable, the others go on")
    func publishesInFlightPerConnection() async throws {
        let store = HeldAppendStore(limits: .init())
        let configuration = ChannelHubConfiguration(maxPublishesInFlightPerConnection: 5)
        try await withChannelServer(store: store, configuration: configuration) { _, port in
            try await withChannelsPeer(port: port) { flooder in
                store.hold.withLockedValue { $0 = true }
                for index in 0..<6 {
                    try await flooder.send(.publish(channel: "c", id: "f-\(index)", message: .text("x")))
                }
                guard case .error(let refusal) = try await flooder.next() else { Issue.record("expected a refusal"); return }
                #expect(refusal.code == .storeUnavailable)
                #expect(refusal.code.isRetryable)
                #expect(refusal.publishID == "f-5")
                #expect(refusal.reason == "5 publishes of this connection wait for the store")
                try await withChannelsPeer(port: port) { other in
                    try await other.send(.publish(channel: "c", id: "o-1", message: .text("y")))
                    store.hold.withLockedValue { $0 = false }
                    guard case .ack(let ack) = try await other.next() else { Issue.record("expected an ack"); return }
                    #expect(ack.id == "o-1")
                }
                for _ in 0..<5 {
                    guard case .ack = try await flooder.next() else { Issue.record("expected the five acks"); return }
                }
            }
        }
    }
}
