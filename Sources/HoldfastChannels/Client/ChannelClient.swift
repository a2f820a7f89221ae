import Holdfast
import HoldfastCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The settings of a ``ChannelClient``.
public struct ChannelClientConfiguration: Sendable {
    /// The settings of the reconnecting connection; ``channelsSubprotocol`` is offered on top of
    /// any subprotocols listed there.
    public var connection: ReconnectingWebSocketConfiguration
    /// Unacknowledged publishes held at once; one more is refused. Default 1,000.
    public var outboxMaxPublishes: Int
    /// Bytes of unacknowledged publishes (as encoded) held at once. Default 16 MiB.
    public var outboxMaxBytes: Int
    /// The pause before a request the server refused for now (store unavailable, shutting down)
    /// is sent again on the same connection. Default 1 s.
    public var retryDelay: Duration

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(connection: ReconnectingWebSocketConfiguration = .init(), outboxMaxPublishes: Int = 1000,
                outboxMaxBytes: Int = 16 << 20, retryDelay: Duration = .seconds(1)) {
        self.connection = connection
        self.outboxMaxPublishes = outboxMaxPublishes
        self.outboxMaxBytes = outboxMaxBytes
        self.retryDelay = retryDelay
    }
}

/// Why the client refused a request or stopped.
public enum ChannelClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The client already holds a subscription to the channel.
    case alreadySubscribed(ChannelName)
    /// The client stopped (``ChannelClient/close()`` or the connection gave up); nothing more is
    /// sent or delivered.
    case stopped
    /// The server did not agree on ``channelsSubprotocol``: it is not a channels server. Carries
    /// the subprotocol it chose, if any.
    case subprotocolNotAgreed(String?)

    public var description: String {
        switch self {
        case .alreadySubscribed(let channel): return "already subscribed to \(channel)"
        case .stopped: return "the channel client has stopped"
        case .subprotocolNotAgreed(let chosen):
            return "the server did not agree on \(channelsSubprotocol) (it chose \(chosen ?? "none")): "
                + "not a Holdfast channels endpoint"
        }
    }
}

/// A client of Holdfast channels that survives reconnects: each subscription delivers every
/// publication exactly once and in order across reconnects (or says where history was lost),
/// and each publish is sent until the server acknowledges it.
///
/// ```swift
/// let client = ChannelClient(url: "ws://localhost:8080/")
/// try await withThrowingTaskGroup(of: Void.self) { group in
///     group.addTask { try await client.run() }
///     let room = try client.subscribe("room")
///     let ack = try await client.publish(.text("hi"), to: "room")
///     for try await event in room { … }
/// }
/// ```
///
/// It runs over a `ReconnectingWebSocket` (offering ``channelsSubprotocol``), whose backoff and
/// outbox settings apply; on every connection it sends each subscription from the last position
/// delivered, then every unacknowledged publish in order with its id, so the server stores each
/// publish once. The decisions are ``ChannelClientState``'s; this class carries them out.
public final class ChannelClient: Sendable {
    /// The connection the client runs over; read its `events` through ``connectionEvents``.
    public let webSocket: ReconnectingWebSocket
    /// The settings.
    public let configuration: ChannelClientConfiguration
    /// The connection's changes as they happen (connecting, connected, waiting, gave up).
    /// Iterate it once, or not at all.
    public let connectionEvents: AsyncStream<ReconnectEvent>

    private struct Outgoing: Sendable {
        var connection: WebSocket
        var message: WebSocketMessage
    }

    /// What the tasks of the client share: the decisions and who waits for them.
    private struct Shared {
        var state: ChannelClientState
        var connection: WebSocket?
        var subscribers: [ChannelName: Subscriber] = [:]
        var publishers: [String: CheckedContinuation<ChannelPublishAck, any Error>] = [:]
        var retryScheduled = false
        var nextSubscriberID = 0
        /// Set once the client stopped: every later request fails with it.
        var stopped: (any Error)?
    }

    private struct Subscriber {
        var id: Int
        var sink: AsyncThrowingStream<SubscriptionEvent, any Error>.Continuation
    }

    private let shared: NIOLockedValueBox<Shared>
    private let connectionEventSink: AsyncStream<ReconnectEvent>.Continuation
    private let outgoing: AsyncStream<Outgoing>
    private let outgoingSink: AsyncStream<Outgoing>.Continuation
    private let retries: AsyncStream<Void>
    private let retrySink: AsyncStream<Void>.Continuation
    private let logger: Logger

    /// Creates a client of the channels server at `url`; it connects when ``run()`` is called.
    /// - Parameters:
    ///   - url: the `ws://` or `wss://` URL of the channels endpoint.
    ///   - configuration: connection, outbox and retry settings.
    ///   - eventLoopGroup: where connections run; default the shared group.
    ///   - logger: where gaps, refusals and the server's unexpected messages are logged.
    public convenience init(url: String, configuration: ChannelClientConfiguration = .init(),
                            eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            logger: Logger = Logger(label: "holdfast.channels-client")) {
        var connection = configuration.connection
        if !connection.client.subprotocols.contains(channelsSubprotocol) {
            connection.client.subprotocols.insert(channelsSubprotocol, at: 0)
        }
        let webSocket = ReconnectingWebSocket(url: url, configuration: connection, eventLoopGroup: eventLoopGroup,
                                              logger: logger)
        self.init(webSocket: webSocket, configuration: configuration, logger: logger)
    }

    /// Creates a client over `webSocket`, which must offer ``channelsSubprotocol`` and must not be
    /// read or run by anyone else: the client runs it and reads its events and messages.
    /// - Parameters:
    ///   - webSocket: the reconnecting connection (its configuration is used, not
    ///     `configuration.connection`).
    ///   - configuration: outbox and retry settings.
    ///   - publishIDPrefix: the prefix of publish ids; default 16 random hexadecimal digits.
    ///   - logger: where gaps, refusals and the server's unexpected messages are logged.
    public init(webSocket: ReconnectingWebSocket, configuration: ChannelClientConfiguration = .init(),
                publishIDPrefix: String = ChannelClient.randomPublishIDPrefix(),
                logger: Logger = Logger(label: "holdfast.channels-client")) {
        self.webSocket = webSocket
        self.configuration = configuration
        self.logger = logger
        let state = ChannelClientState(publishIDPrefix: publishIDPrefix, maxPublishes: configuration.outboxMaxPublishes,
                                       maxPublishBytes: configuration.outboxMaxBytes)
        self.shared = NIOLockedValueBox(Shared(state: state))
        (self.connectionEvents, self.connectionEventSink) = AsyncStream.makeStream(of: ReconnectEvent.self)
        (self.outgoing, self.outgoingSink) = AsyncStream.makeStream(of: Outgoing.self)
        (self.retries, self.retrySink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// 16 random hexadecimal digits: a prefix no other client is likely to share.
    public static func randomPublishIDPrefix() -> String { randomIdentifier() }

    // MARK: - The application's API

    /// Subscribes to `channel`; the subscription is sent now when connected, else on connect, and
    /// again from the last position delivered after every reconnect.
    /// - Parameters:
    ///   - channel: the channel to receive.
    ///   - since: the last position the application has seen (`EPOCH:OFFSET`), to receive what
    ///     follows it; `nil` for the publications after the subscription begins.
    /// - Throws: ``ChannelClientError/alreadySubscribed(_:)``; ``ChannelClientError/stopped``.
    public func subscribe(_ channel: ChannelName, since: StreamPosition? = nil) throws -> ChannelSubscription {
        let (events, sink) = AsyncThrowingStream.makeStream(of: SubscriptionEvent.self)
        let subscriberID = try shared.withLockedValue { shared throws -> Int in
            if let stopped = shared.stopped { throw stopped }
            guard !shared.state.isSubscribed(to: channel) else { throw ChannelClientError.alreadySubscribed(channel) }
            let id = shared.nextSubscriberID
            shared.nextSubscriberID += 1
            shared.subscribers[channel] = Subscriber(id: id, sink: sink)
            _ = perform(shared.state.subscribe(channel, since: since), in: &shared)
            return id
        }
        sink.onTermination = { [weak self] termination in
            guard case .cancelled = termination else { return }
            self?.unsubscribe(channel, onlySubscriber: subscriberID)
        }
        return ChannelSubscription(channel: channel, events: events)
    }

    /// Stops the subscription to `channel`: its sequence ends, and the server is told.
    public func unsubscribe(_ channel: ChannelName) {
        unsubscribe(channel, onlySubscriber: nil)
    }

    private func unsubscribe(_ channel: ChannelName, onlySubscriber: Int?) {
        let ended = shared.withLockedValue { shared -> Subscriber? in
            guard let subscriber = shared.subscribers[channel],
                  onlySubscriber.map({ $0 == subscriber.id }) ?? true else { return nil }
            shared.subscribers[channel] = nil
            _ = perform(shared.state.unsubscribe(channel), in: &shared)
            return subscriber
        }
        ended?.sink.finish()
    }

    /// Publishes `message` to `channel` and returns once the server stored it. Until then it
    /// waits in the outbox and is sent again with the same id after each reconnect.
    /// - Returns: the acknowledgement: the publication's position, and whether an earlier copy
    ///   was stored already.
    /// - Throws: ``ChannelPublishFailure`` (refused by the server, over its announced message
    ///   limit, outbox full); ``ChannelClientError/stopped``; `CancellationError` when the task
    ///   is cancelled (the publish is withdrawn, though a copy already sent may be stored).
    public func publish(_ message: WebSocketMessage, to channel: ChannelName) async throws -> ChannelPublishAck {
        let request = NIOLockedValueBox(PublishRequest.waiting)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ChannelPublishAck, any Error>) in
                let refusal = shared.withLockedValue { shared -> (any Error)? in
                    if let stopped = shared.stopped { return stopped }
                    do {
                        let (id, actions) = try shared.state.publish(message, to: channel)
                        let accepted = request.withLockedValue { request -> Bool in
                            guard request != .cancelled else { return false }
                            request = .queued(id)
                            return true
                        }
                        guard accepted else {
                            shared.state.withdraw(publishID: id)
                            return CancellationError()
                        }
                        shared.publishers[id] = continuation
                        _ = perform(actions, in: &shared)
                        return nil
                    } catch {
                        return error
                    }
                }
                if let refusal { continuation.resume(throwing: refusal) }
            }
        } onCancel: {
            let queued = request.withLockedValue { request -> String? in
                defer { if case .waiting = request { request = .cancelled } }
                if case .queued(let id) = request { return id }
                return nil
            }
            guard let queued else { return }
            let publisher = shared.withLockedValue { shared in
                shared.state.withdraw(publishID: queued)
                return shared.publishers.removeValue(forKey: queued)
            }
            publisher?.resume(throwing: CancellationError())
        }
    }

    /// Publishes waiting for their acknowledgement (or for a connection).
    public var outboxCount: Int { shared.withLockedValue { $0.state.pendingPublishCount } }

    private enum PublishRequest: Sendable, Equatable {
        case waiting
        case queued(String)
        case cancelled
    }

    /// Connects, and connects again, until ``close()`` or until the connection gives up; then
    /// every waiting publish fails and every subscription ends. Call it once.
    /// - Throws: what stopped the connection (`ReconnectingWebSocket.ConnectionEnded`), or
    ///   ``ChannelClientError/subprotocolNotAgreed(_:)``.
    public func run() async throws {
        var failure: (any Error)?
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.followConnection() }
            group.addTask { await self.receiveMessages() }
            group.addTask { await self.sendOutgoing() }
            group.addTask { await self.retryRefusedRequests() }
            do {
                try await webSocket.run()
            } catch {
                failure = error
            }
            group.cancelAll()
        }
        let refusedSubprotocol = shared.withLockedValue { $0.stopped }
        let ending = failure ?? refusedSubprotocol
        stop(ending)
        if let ending { throw ending }
    }

    /// Closes the connection and stops the client: ``run()`` returns, waiting publishes fail
    /// with ``ChannelClientError/stopped`` and subscriptions end.
    public func close() {
        webSocket.close()
    }

    // MARK: - Carrying out the decisions

    /// Carries out `actions` while the lock is held; returns what must run after it is released
    /// (resuming waiters, ending sequences, logging).
    private func perform(_ actions: [ChannelClientState.Action], in shared: inout Shared) -> [@Sendable () -> Void] {
        var after: [@Sendable () -> Void] = []
        for action in actions {
            switch action {
            case .send(let request):
                guard let connection = shared.connection else { continue }
                outgoingSink.yield(Outgoing(connection: connection, message: request.encoded))
            case .deliver(let channel, let event):
                shared.subscribers[channel]?.sink.yield(event)
                if case .gap(let gap) = event {
                    let logger = self.logger
                    after.append { logger.warning("channel history lost", metadata: ["gap": "\(gap)"]) }
                }
            case .acknowledged(let id, let ack):
                guard let publisher = shared.publishers.removeValue(forKey: id) else { continue }
                after.append { publisher.resume(returning: ack) }
            case .publishFailed(let id, let failure):
                guard let publisher = shared.publishers.removeValue(forKey: id) else { continue }
                after.append { publisher.resume(throwing: failure) }
            case .subscriptionFailed(let channel, let error):
                guard let subscriber = shared.subscribers.removeValue(forKey: channel) else { continue }
                after.append { subscriber.sink.finish(throwing: error) }
            case .outOfOrder(let channel, let last, let received):
                let logger = self.logger
                after.append {
                    logger.warning("publication out of order; resubscribing from the last delivered position",
                                   metadata: ["channel": "\(channel)", "last-delivered": "\(last)",
                                              "received": "\(received)"])
                }
            case .retryLater:
                if !shared.retryScheduled {
                    shared.retryScheduled = true
                    retrySink.yield(())
                }
            case .unmatchedError(let error):
                let logger = self.logger
                after.append { logger.notice("the channels server reported an error", metadata: ["error": "\(error)"]) }
            }
        }
        return after
    }

    /// Runs `body` on the shared state under the lock, then what its actions left to do.
    private func update(_ body: (inout Shared) -> [ChannelClientState.Action]) {
        let after = shared.withLockedValue { shared in perform(body(&shared), in: &shared) }
        for step in after { step() }
    }

    /// Follows the connection's changes: every new connection gets the subscriptions and the
    /// unacknowledged publishes.
    private func followConnection() async {
        for await event in webSocket.events {
            // Passed on once handled: after `connected`, the subscriptions have been sent.
            defer { connectionEventSink.yield(event) }
            switch event {
            case .connected:
                guard let connection = webSocket.connection else { continue }
                guard connection.subprotocol == channelsSubprotocol else {
                    logger.error("the server did not agree on the channels subprotocol",
                                 metadata: ["subprotocol": "\(connection.subprotocol ?? "none")"])
                    shared.withLockedValue { $0.stopped = ChannelClientError.subprotocolNotAgreed(connection.subprotocol) }
                    webSocket.close(code: .protocolError, reason: "\(channelsSubprotocol) not agreed")
                    continue
                }
                update { shared in
                    guard shared.connection !== connection else { return [] }
                    shared.connection = connection
                    return shared.state.connected(messageLimit: connection.peerLimits.maxMessageSize)
                }
            case .disconnected(.closed(let outcome)) where outcome.code == .messageTooBig:
                update { shared in
                    shared.connection = nil
                    return shared.state.closedAsTooBig(namedLimit: outcome.received?.namedLimit, reason: outcome.reason)
                }
            case .disconnected:
                update { shared in
                    shared.connection = nil
                    shared.state.disconnected()
                    return []
                }
            case .connecting, .waiting, .gaveUp:
                break
            }
        }
        connectionEventSink.finish()
    }

    /// Reads the server's messages over every connection, in order.
    private func receiveMessages() async {
        for await message in webSocket.messages {
            let decoded: ChannelsServerMessage
            do {
                decoded = try ChannelsServerMessage.decode(message)
            } catch {
                logger.warning("ignored a message that is not of the channels protocol",
                               metadata: ["reason": "\(error)"])
                continue
            }
            update { $0.state.receive(decoded) }
        }
    }

    /// Sends the client's messages, one at a time and in order, each on the connection it was
    /// meant for; a send that fails means that connection is ending, and the next one sends again.
    private func sendOutgoing() async {
        for await item in outgoing {
            guard shared.withLockedValue({ $0.connection === item.connection }) else { continue }
            do {
                try await item.connection.send(item.message)
            } catch {
                logger.debug("send failed; the next connection sends again", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Sends again, after the configured pause, what the server refused for now.
    private func retryRefusedRequests() async {
        for await _ in retries {
            do {
                try await Task.sleep(for: configuration.retryDelay)
            } catch {
                return
            }
            update { shared in
                shared.retryScheduled = false
                return shared.state.retryRefused()
            }
        }
    }

    /// Fails every waiter and ends every subscription, once `run()` is over.
    private func stop(_ ending: (any Error)?) {
        let (publishers, subscribers) = shared.withLockedValue { shared in
            if shared.stopped == nil { shared.stopped = ChannelClientError.stopped }
            shared.connection = nil
            defer {
                shared.publishers = [:]
                shared.subscribers = [:]
            }
            return (Array(shared.publishers.values), Array(shared.subscribers.values))
        }
        outgoingSink.finish()
        retrySink.finish()
        for publisher in publishers { publisher.resume(throwing: ending ?? ChannelClientError.stopped) }
        for subscriber in subscribers {
            if let ending { subscriber.sink.finish(throwing: ending) } else { subscriber.sink.finish() }
        }
    }
}
