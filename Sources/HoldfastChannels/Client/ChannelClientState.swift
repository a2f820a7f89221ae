import HoldfastCore

/// Every decision of a channels client, without I/O: what to send on each connection, which
/// received publications to deliver, when history was lost, and what became of each publish.
///
/// The caller feeds it the application's requests (``subscribe(_:since:)``, ``publish(_:to:)``),
/// the connection's changes (``connected(messageLimit:)``, ``disconnected()``) and the server's
/// messages (``receive(_:)``), and carries out the ``Action``s returned, in order.
///
/// Per channel it keeps the last position delivered. A publication is delivered only when it is
/// the next one in that epoch; anything at or before it is a repeat (a replay overlapping what
/// was delivered) and is dropped. Whenever delivery cannot continue where it stood — a
/// `subscribed` answer in another epoch or starting further on — the application is told with a
/// ``ChannelGap``, never silently. Publishes wait in a bounded outbox until acknowledged and are
/// sent again, in order and with the same id, on every new connection; the server stores a
/// repeated id once.
public struct ChannelClientState: Sendable {
    /// What the caller does next.
    public enum Action: Sendable, Hashable {
        /// Send this message on the open connection.
        case send(ChannelsClientMessage)
        /// Hand this event to the application's subscription of the channel.
        case deliver(ChannelName, SubscriptionEvent)
        /// The publish with this id was stored at the acknowledgement's position.
        case acknowledged(publishID: String, ChannelPublishAck)
        /// The publish with this id failed; it is no longer in the outbox.
        case publishFailed(publishID: String, ChannelPublishFailure)
        /// The server refused the subscription for good; it is removed.
        case subscriptionFailed(ChannelName, ChannelsError)
        /// A publication skipped offsets (or changed epoch) without a `subscribed` saying so; the
        /// client resubscribes from the last position delivered. Worth a log line: the server
        /// broke its ordering promise. A ``ChannelGap`` follows only if the history is gone.
        case outOfOrder(ChannelName, lastDelivered: StreamPosition, received: StreamPosition)
        /// The server refused a request for now (`isRetryable`): call ``retryRefused()`` after
        /// a pause.
        case retryLater
        /// An error the client cannot match to a request of its own; worth a log line.
        case unmatchedError(ChannelsError)
    }

    private struct Subscription: Sendable {
        /// The last position delivered, or the starting position given; `nil` for a fresh
        /// subscription before its first answer.
        var cursor: StreamPosition?
        /// A subscribe was sent on this connection and its answer has not arrived.
        var awaitingAnswer = false
        /// The server refused the subscribe with a retryable code.
        var refusedForNow = false
    }

    private struct PendingPublish: Sendable {
        var id: String
        var channel: ChannelName
        var message: WebSocketMessage
        /// The size of the publish as sent: header, line feed and payload.
        var encodedSize: Int
        /// The server refused it with a retryable code on this connection.
        var refusedForNow = false

        var request: ChannelsClientMessage { .publish(channel: channel, id: id, message: message) }
    }

    /// The prefix of every publish id of this client; unique per client so that ids of two
    /// clients never collide in the server's deduplication window.
    public let publishIDPrefix: String
    /// The most publishes the outbox holds.
    public let maxPublishes: Int
    /// The most bytes (encoded) the outbox holds.
    public let maxPublishBytes: Int
    /// Whether a connection is open.
    public private(set) var isConnected = false

    private var subscriptions: [ChannelName: Subscription] = [:]
    private var outbox: [PendingPublish] = []
    private var outboxBytes = 0
    private var publishCounter: UInt64 = 0
    /// The message limit the server announced on the last connection, if it did.
    private var messageLimit: Int?
    /// The limit a server named when it closed with 1009: kept for later connections that
    /// announce none.
    private var learnedLimit: Int?

    /// A client with no subscriptions and an empty outbox.
    /// - Parameters:
    ///   - publishIDPrefix: the prefix of publish ids; pass a random one per client.
    ///   - maxPublishes: the most unacknowledged publishes held.
    ///   - maxPublishBytes: the most bytes of unacknowledged publishes held.
    public init(publishIDPrefix: String, maxPublishes: Int = 1000, maxPublishBytes: Int = 16 << 20) {
        self.publishIDPrefix = publishIDPrefix
        self.maxPublishes = maxPublishes
        self.maxPublishBytes = maxPublishBytes
    }

    /// The channels subscribed to, by name.
    public var subscribedChannels: [ChannelName] { subscriptions.keys.sorted() }

    /// The last position delivered on `channel` (or its given starting position), if any.
    public func lastDelivered(on channel: ChannelName) -> StreamPosition? { subscriptions[channel]?.cursor }

    /// The ids of the unacknowledged publishes, oldest first.
    public var pendingPublishIDs: [String] { outbox.map(\.id) }

    /// How many publishes wait for their acknowledgement.
    public var pendingPublishCount: Int { outbox.count }

    // MARK: - The application's requests

    /// Whether `channel` is subscribed to.
    public func isSubscribed(to channel: ChannelName) -> Bool { subscriptions[channel] != nil }

    /// Subscribes to `channel`: after `since` when given (the application has seen the stream
    /// up to there), else from the publications that follow the subscription.
    /// - Returns: the subscribe to send when connected; nothing when not (it is sent on connect).
    /// - Precondition: not subscribed to `channel` (see ``isSubscribed(to:)``).
    public mutating func subscribe(_ channel: ChannelName, since: StreamPosition?) -> [Action] {
        precondition(subscriptions[channel] == nil, "already subscribed to \(channel)")
        subscriptions[channel] = Subscription(cursor: since, awaitingAnswer: isConnected)
        return isConnected ? [.send(.subscribe(channel: channel, since: since))] : []
    }

    /// Stops delivering `channel`. Publications of it that still arrive are dropped.
    public mutating func unsubscribe(_ channel: ChannelName) -> [Action] {
        guard subscriptions.removeValue(forKey: channel) != nil, isConnected else { return [] }
        return [.send(.unsubscribe(channel: channel))]
    }

    /// Queues a publish of `message` to `channel` under a new id.
    /// - Returns: the id, and the publish to send when connected.
    /// - Throws: ``ChannelPublishFailure/tooBig(_:)`` when it exceeds the message limit of the
    ///   last connection; ``ChannelPublishFailure/outboxFull(maxPublishes:maxBytes:)``.
    public mutating func publish(_ message: WebSocketMessage, to channel: ChannelName)
        throws(ChannelPublishFailure) -> (id: String, actions: [Action])
    {
        let id = "\(publishIDPrefix)-\(publishCounter + 1)"
        let request = ChannelsClientMessage.publish(channel: channel, id: id, message: message)
        let size = request.encoded.data.readableBytes
        if let refusal = AnnouncedLimits(maxMessageSize: messageLimit, maxFrameSize: nil).refusal(ofMessageSize: size) {
            throw .tooBig(refusal)
        }
        guard outbox.count < maxPublishes, outboxBytes + size <= maxPublishBytes else {
            throw .outboxFull(maxPublishes: maxPublishes, maxBytes: maxPublishBytes)
        }
        publishCounter += 1
        outbox.append(PendingPublish(id: id, channel: channel, message: message, encodedSize: size))
        outboxBytes += size
        return (id, isConnected ? [.send(request)] : [])
    }

    /// Takes the publish with `id` out of the outbox (the application stopped waiting for it); it
    /// is not sent again, though a copy already sent may still be stored.
    /// - Returns: whether it was still waiting.
    @discardableResult
    public mutating func withdraw(publishID id: String) -> Bool {
        guard let index = outbox.firstIndex(where: { $0.id == id }) else { return false }
        removePublish(at: index)
        return true
    }

    // MARK: - The connection

    /// A connection opened and agreed on ``channelsSubprotocol``: every subscription is sent
    /// again from its last delivered position, then every unacknowledged publish in order.
    /// - Parameter messageLimit: the largest message the server announced, if it did; queued
    ///   publishes over it fail.
    public mutating func connected(messageLimit: Int?) -> [Action] {
        isConnected = true
        self.messageLimit = [messageLimit, learnedLimit].compactMap { $0 }.min()
        var actions: [Action] = []
        for channel in subscriptions.keys.sorted() {
            subscriptions[channel]?.awaitingAnswer = true
            subscriptions[channel]?.refusedForNow = false
            actions.append(.send(.subscribe(channel: channel, since: subscriptions[channel]?.cursor)))
        }
        let limits = AnnouncedLimits(maxMessageSize: self.messageLimit, maxFrameSize: nil)
        var index = 0
        while index < outbox.count {
            let pending = outbox[index]
            if let refusal = limits.refusal(ofMessageSize: pending.encodedSize) {
                removePublish(at: index)
                actions.append(.publishFailed(publishID: pending.id, .tooBig(refusal)))
                continue
            }
            outbox[index].refusedForNow = false
            actions.append(.send(pending.request))
            index += 1
        }
        return actions
    }

    /// The connection closed: nothing is sent until the next ``connected(messageLimit:)``.
    public mutating func disconnected() {
        isConnected = false
        for channel in subscriptions.keys { subscriptions[channel]?.awaitingAnswer = false }
    }

    /// The connection was closed with 1009 (message too big): a publish was over a limit the
    /// server did not announce. Without this, the publish would be sent again on every
    /// connection and close each one.
    /// - Parameters:
    ///   - namedLimit: the limit the close reason named, if it did: publishes over it fail on
    ///     the next connection, and later ones at once.
    ///   - reason: the close reason, for the failure when no limit was named.
    /// - Returns: when no limit was named, the failure of the largest unacknowledged publish,
    ///   the likeliest cause.
    public mutating func closedAsTooBig(namedLimit: Int?, reason: String) -> [Action] {
        disconnected()
        if let namedLimit {
            learnedLimit = min(namedLimit, learnedLimit ?? namedLimit)
            messageLimit = min(namedLimit, messageLimit ?? namedLimit)
            return []
        }
        guard let largest = outbox.indices.max(by: { outbox[$0].encodedSize < outbox[$1].encodedSize }) else { return [] }
        let pending = outbox[largest]
        removePublish(at: largest)
        return [.publishFailed(publishID: pending.id,
                               .tooBig(.messageTooBig(size: pending.encodedSize, limit: nil, reason: reason)))]
    }

    /// Sends again what the server refused for now on this connection: subscribes, then
    /// publishes in order. Nothing when disconnected (the next connection sends everything).
    public mutating func retryRefused() -> [Action] {
        guard isConnected else { return [] }
        var actions: [Action] = []
        for channel in subscriptions.keys.sorted() where subscriptions[channel]?.refusedForNow == true {
            subscriptions[channel]?.refusedForNow = false
            subscriptions[channel]?.awaitingAnswer = true
            actions.append(.send(.subscribe(channel: channel, since: subscriptions[channel]?.cursor)))
        }
        for index in outbox.indices where outbox[index].refusedForNow {
            outbox[index].refusedForNow = false
            actions.append(.send(outbox[index].request))
        }
        return actions
    }

    // MARK: - The server's messages

    /// What to do about a message from the server.
    public mutating func receive(_ message: ChannelsServerMessage) -> [Action] {
        switch message {
        case .subscribed(let answer): return receiveSubscribed(answer)
        case .publication(let publication): return receivePublication(publication)
        case .ack(let ack): return receiveAck(ack)
        case .error(let error): return receiveError(error)
        case .unsubscribed:
            // Subscriptions are removed when the application asks; the answer changes nothing.
            return []
        }
    }

    private mutating func receiveSubscribed(_ answer: ChannelSubscribed) -> [Action] {
        guard var subscription = subscriptions[answer.channel] else { return [] }
        subscription.awaitingAnswer = false
        let epoch = answer.position.epoch
        // The position just before the first one this subscription delivers.
        let before = StreamPosition(epoch: epoch, offset: answer.from > 0 ? answer.from - 1 : 0)
        var actions: [Action] = []
        if let cursor = subscription.cursor {
            // Decided by what was delivered, not by `recovered` alone: the server judged the
            // position sent, and publications of the last connection may have arrived since.
            let continues = cursor.epoch == epoch && before.offset <= cursor.offset
            if !continues {
                let resumesAt = StreamPosition(epoch: epoch, offset: before.offset + 1)
                actions.append(.deliver(answer.channel, .gap(ChannelGap(channel: answer.channel, lastDelivered: cursor,
                                                                        resumesAt: resumesAt))))
                subscription.cursor = before
            }
        } else {
            subscription.cursor = before
        }
        subscriptions[answer.channel] = subscription
        return actions
    }

    private mutating func receivePublication(_ publication: ChannelPublication) -> [Action] {
        // A fresh subscription places nothing before its answer; what arrives then is left over
        // from an earlier subscription.
        guard var subscription = subscriptions[publication.channel], let cursor = subscription.cursor else { return [] }
        let position = publication.position
        if position.epoch == cursor.epoch {
            if position.offset <= cursor.offset { return [] }
            if position.offset - cursor.offset == 1 {
                subscription.cursor = position
                subscriptions[publication.channel] = subscription
                return [.deliver(publication.channel, .publication(publication))]
            }
        }
        // Offsets skipped, or another epoch, without an answer saying so. While a subscribe is
        // on its way its answer settles where delivery continues.
        guard !subscription.awaitingAnswer else { return [] }
        subscription.awaitingAnswer = true
        subscriptions[publication.channel] = subscription
        return [
            .outOfOrder(publication.channel, lastDelivered: cursor, received: position),
            .send(.unsubscribe(channel: publication.channel)),
            .send(.subscribe(channel: publication.channel, since: cursor)),
        ]
    }

    private mutating func receiveAck(_ ack: ChannelPublishAck) -> [Action] {
        // An ack for an id no longer waiting answers a copy sent on an earlier connection.
        guard let id = ack.id, let index = outbox.firstIndex(where: { $0.id == id }) else { return [] }
        removePublish(at: index)
        return [.acknowledged(publishID: id, ack)]
    }

    private mutating func receiveError(_ error: ChannelsError) -> [Action] {
        if let id = error.publishID {
            guard let index = outbox.firstIndex(where: { $0.id == id }) else { return [] }
            if error.code.isRetryable {
                outbox[index].refusedForNow = true
                return [.retryLater]
            }
            removePublish(at: index)
            return [.publishFailed(publishID: id, .refused(error))]
        }
        guard let name = error.channel, let channel = try? ChannelName(validating: name),
              let subscription = subscriptions[channel]
        else {
            return [.unmatchedError(error)]
        }
        switch error.code {
        case .notSubscribed:
            // An unsubscribe crossed the server's end of a subscription.
            return []
        case _ where !subscription.awaitingAnswer:
            return [.unmatchedError(error)]
        case _ where error.code.isRetryable:
            subscriptions[channel]?.awaitingAnswer = false
            subscriptions[channel]?.refusedForNow = true
            return [.retryLater]
        default:
            subscriptions[channel] = nil
            return [.subscriptionFailed(channel, error)]
        }
    }

    private mutating func removePublish(at index: Int) {
        outboxBytes -= outbox[index].encodedSize
        outbox.remove(at: index)
    }
}
