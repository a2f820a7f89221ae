import Holdfast
import HoldfastCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// The server side of channels: takes subscribes and publishes from connections that speak
/// ``channelsSubprotocol``, stores publishes in a ``ChannelStore`` and delivers every
/// publication to every subscriber in offset order, replaying history to those that resume.
///
/// Publishes go to the store in batches from one task — whatever waits when the store is free,
/// in one transaction — and are acknowledged after they are stored and handed to subscribers,
/// so an acknowledged publish is never lost by the hub. Run the hub (``run()``, or as a
/// `Service` before the server in a `ServiceGroup`) and hand it each connection's events, or let
/// ``ChannelsHandler`` do that:
///
/// ```swift
/// let hub = ChannelHub(store: InMemoryChannelStore())
/// let server = WebSocketServer(configuration: .init(port: 8080, subprotocols: [channelsSubprotocol]),
///                              eventLoopHandler: ChannelsHandler(hub: hub))
/// let group = ServiceGroup(services: [server, hub], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
///
/// On graceful shutdown the hub stores and delivers what waits, refuses later publishes with the
/// retryable `shutting-down`, and returns; the server's 1001 then follows what was delivered.
public final class ChannelHub: Service, Sendable {
    /// Where the streams live.
    public let store: any ChannelStore
    /// The settings.
    public let configuration: ChannelHubConfiguration
    private let logger: Logger
    private let queue = NIOLockedValueBox(WriterQueue())
    private let subscribers = NIOLockedValueBox<[ChannelName: [ObjectIdentifier: SessionHandle]]>([:])
    private let sessions = NIOLockedValueBox<[ObjectIdentifier: SessionHandle]>([:])
    private let counters = NIOLockedValueBox(ChannelHubStatistics())

    /// A hub over `store`.
    public init(store: any ChannelStore, configuration: ChannelHubConfiguration = .init(),
                logger: Logger = Logger(label: "holdfast.channels")) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// What the hub has done, and its subscriptions now.
    public var statistics: ChannelHubStatistics {
        var statistics = counters.withLockedValue { $0 }
        subscribers.withLockedValue { subscribers in
            statistics.channels = subscribers.count
            statistics.subscriptions = subscribers.values.reduce(0) { $0 + $1.count }
        }
        return statistics
    }

    // MARK: - Running

    /// Stores publishes as they come and trims history, until graceful shutdown or cancellation;
    /// then stores what waits and returns.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { [self] in await trimPeriodically() }
                    while let work = await nextWork() {
                        switch work {
                        case .publishes(let batch): await store(batch)
                        case .subscriptions(let starts): await startSubscriptions(starts)
                        }
                    }
                    group.cancelAll()
                }
            } onCancel: {
                self.beginDraining()
            }
        } onGracefulShutdown: {
            self.beginDraining()
        }
    }

    private func trimPeriodically() async {
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: configuration.trimInterval)) != nil else { return }
            do { try await store.trim() } catch {
                logger.warning("trimming channel history failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Stops taking publishes: what waits is still stored, then ``run()`` returns.
    private func beginDraining() {
        let wakeUp = queue.withLockedValue { queue -> CheckedContinuation<Void, Never>? in
            queue.draining = true
            defer { queue.wakeUp = nil }
            return queue.wakeUp
        }
        wakeUp?.resume()
    }

    /// What waits now, in arrival order: a batch of publishes, or the subscriptions that came
    /// before the next publish; `nil` once draining and nothing waits.
    private func nextWork() async -> PendingWork? {
        while true {
            enum Next { case work(PendingWork), finished, wait }
            let next: Next = queue.withLockedValue { queue in
                if let work = queue.take(maxBatch: configuration.maxBatch) { return .work(work) }
                return queue.draining ? .finished : .wait
            }
            switch next {
            case .work(let work): return work
            case .finished: return nil
            case .wait:
                await withCheckedContinuation { continuation in
                    let resumeNow = queue.withLockedValue { queue in
                        if queue.hasWork || queue.draining { return true }
                        queue.wakeUp = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }

    /// Stores `batch` in one transaction, hands the new publications to their subscribers and
    /// then answers each publisher.
    private func store(_ batch: [PendingPublish]) async {
        let receipts: [ChannelPublishReceipt]
        do {
            receipts = try await store.append(batch.map(\.request))
        } catch ChannelStoreError.tooManyChannels where batch.count > 1 {
            // One publish to a new channel must not cost the others of its batch their place:
            // each is stored, or refused, on its own.
            for publish in batch { await store([publish]) }
            return
        } catch {
            let refusal: ChannelsErrorCode
            if case ChannelStoreError.tooManyChannels = error { refusal = .tooManyChannels } else { refusal = .storeUnavailable }
            logger.warning("storing publishes failed", metadata: ["count": "\(batch.count)", "error": "\(error)"])
            counters.withLockedValue { $0.publishesRefused += batch.count }
            for publish in batch { publish.answer(.failure(ChannelsError(refusal, "\(error)"))) }
            return
        }
        var publications: [ChannelPublication] = []
        for (publish, receipt) in zip(batch, receipts) where !receipt.duplicate {
            publications.append(ChannelPublication(channel: publish.request.channel, position: receipt.position,
                                                   message: publish.request.message))
        }
        counters.withLockedValue {
            $0.published += publications.count
            $0.duplicates += batch.count - publications.count
        }
        deliver(publications)
        for (publish, receipt) in zip(batch, receipts) { publish.answer(.success(receipt)) }
    }

    /// Hands `publications` to their channels' subscribers: one task per event loop, so each
    /// subscriber gets them in order on its loop.
    private func deliver(_ publications: [ChannelPublication]) {
        guard !publications.isEmpty else { return }
        // Each publication encoded once, for every subscriber of its channel.
        var byChannel: [ChannelName: [(ChannelPublication, WebSocketMessage)]] = [:]
        for publication in publications {
            byChannel[publication.channel, default: []].append((publication, ChannelsServerMessage.publication(publication).encoded))
        }
        let audience = subscribers.withLockedValue { subscribers in byChannel.keys.map { ($0, subscribers[$0] ?? [:]) } }
        var byLoop: [ObjectIdentifier: (any EventLoop, [(SessionHandle, [(ChannelPublication, WebSocketMessage)])])] = [:]
        for (channel, handles) in audience {
            guard let items = byChannel[channel] else { continue }
            for handle in handles.values {
                byLoop[ObjectIdentifier(handle.eventLoop), default: (handle.eventLoop, [])].1.append((handle, items))
            }
        }
        for (eventLoop, work) in byLoop.values {
            eventLoop.execute { [self] in
                for (handle, items) in work { deliverLive(items, to: handle.session.value) }
            }
        }
    }

    /// On `session`'s loop: each publication goes out, waits for its replay, or is dropped as
    /// already sent.
    private func deliverLive(_ items: [(ChannelPublication, WebSocketMessage)], to session: ChannelSession) {
        for (publication, encoded) in items {
            // Decided in place: a copy of the stream would copy what it holds for its replay.
            guard !session.isClosed, let decision = session.subscriptions[publication.channel]?.live(publication) else {
                continue
            }
            switch decision {
            case .send: session.sendLive(encoded)
            case .skip: break
            case .held:
                session.heldBytes += SubscriberStream.heldOverhead + publication.message.data.readableBytes
                guard session.heldBytes > configuration.maxHeldDuringReplay else { break }
                counters.withLockedValue { $0.slowSubscribersClosed += 1 }
                session.close(code: .tryAgainLater,
                              reason: "publications held during replay exceed \(configuration.maxHeldDuringReplay) bytes (reading too slowly)")
            }
        }
    }

    // MARK: - Connections

    /// `connection` speaks the channels protocol from now on. Call on its event loop.
    public func connectionOpened<Context>(_ connection: EventLoopConnection<Context>) {
        let handle = SessionHandle(id: connection.id, eventLoop: connection.eventLoop,
                                   session: NIOLoopBound(ChannelSession(connection), eventLoop: connection.eventLoop))
        sessions.withLockedValue { $0[connection.id] = handle }
    }

    /// `connection` ended: its subscriptions end with it. Call on its event loop.
    public func connectionClosed<Context>(_ connection: EventLoopConnection<Context>) {
        guard let handle = sessions.withLockedValue({ $0.removeValue(forKey: connection.id) }) else { return }
        let session = handle.session.value
        session.ended()
        unregister(handle, from: Array(session.subscriptions.keys))
        session.subscriptions = [:]
    }

    /// Handles a message of `connection`. Call on its event loop.
    public func received<Context>(_ message: WebSocketMessage, on connection: EventLoopConnection<Context>) {
        guard let handle = sessions.withLockedValue({ $0[connection.id] }) else { return }
        let session = handle.session.value
        let decoded: Result<ChannelsClientMessage, ChannelsError>
        do { decoded = try ChannelsClientMessage.decode(message) } catch {
            session.close(code: .invalidFramePayloadData, reason: error.description)
            return
        }
        switch decoded {
        case .failure(let error):
            session.reply(.error(error))
        case .success(.subscribe(let channel, let since)):
            subscribe(handle, to: channel, since: since)
        case .success(.unsubscribe(let channel)):
            guard let ended = session.subscriptions.removeValue(forKey: channel) else {
                session.reply(.error(ChannelsError(.notSubscribed, "not subscribed to \(channel)", channel: channel.value)))
                return
            }
            session.heldBytes -= ended.heldBytes
            unregister(handle, from: [channel])
            session.reply(.unsubscribed(channel: channel))
        case .success(.publish(let channel, let id, let message)):
            publish(ChannelPublishRequest(channel: channel, id: id, message: message), from: handle)
        }
    }

    private func unregister(_ handle: SessionHandle, from channels: [ChannelName]) {
        subscribers.withLockedValue { subscribers in
            for channel in channels {
                subscribers[channel]?[handle.id] = nil
                if subscribers[channel]?.isEmpty == true { subscribers[channel] = nil }
            }
        }
    }

    private func publish(_ request: ChannelPublishRequest, from handle: SessionHandle) {
        let session = handle.session.value
        let limit = configuration.maxPublishesInFlightPerConnection
        guard session.publishesInFlight < limit else {
            counters.withLockedValue { $0.publishesRefused += 1 }
            session.reply(.error(ChannelsError(.storeUnavailable, "\(limit) publishes of this connection wait for the store",
                                               channel: request.channel.value, publishID: request.id)))
            return
        }
        session.publishesInFlight += 1
        let answer: @Sendable (Result<ChannelPublishReceipt, ChannelsError>) -> Void = { result in
            handle.eventLoop.execute {
                handle.session.value.publishesInFlight -= 1
                switch result {
                case .success(let receipt):
                    handle.session.value.reply(.ack(ChannelPublishAck(id: request.id, channel: request.channel,
                                                                      position: receipt.position, duplicate: receipt.duplicate)))
                case .failure(var error):
                    error.channel = request.channel.value
                    error.publishID = request.id
                    handle.session.value.reply(.error(error))
                }
            }
        }
        let (refusal, wakeUp) = queue.withLockedValue { queue -> (ChannelsError?, CheckedContinuation<Void, Never>?) in
            if queue.draining { return (ChannelsError(.shuttingDown, "the server is shutting down"), nil) }
            if queue.waitingPublishes >= configuration.maxWaitingPublishes
                || queue.waitingBytes + request.message.data.readableBytes > configuration.maxWaitingBytes
            {
                return (ChannelsError(.storeUnavailable,
                                      "\(queue.waitingPublishes) publishes (\(queue.waitingBytes) bytes) wait for the store"), nil)
            }
            queue.append(PendingPublish(request: request, answer: answer))
            defer { queue.wakeUp = nil }
            return (nil, queue.wakeUp)
        }
        if let refusal {
            counters.withLockedValue { $0.publishesRefused += 1 }
            answer(.failure(refusal))
        }
        wakeUp?.resume()
    }

    // MARK: - Subscribing and replaying

    private func subscribe(_ handle: SessionHandle, to channel: ChannelName, since: StreamPosition?) {
        let session = handle.session.value
        guard session.subscriptions[channel] == nil else {
            session.reply(.error(ChannelsError(.alreadySubscribed, "already subscribed to \(channel)", channel: channel.value)))
            return
        }
        let limit = configuration.maxSubscriptionsPerConnection
        guard session.subscriptions.count < limit else {
            session.reply(.error(ChannelsError(.tooManySubscriptions, "a connection may hold at most \(limit) subscriptions",
                                               channel: channel.value)))
            return
        }
        // The subscription starts in the writer's sequence, between two batches of publishes:
        // where the stream stands then is exactly what was stored before it, and everything
        // stored after it is handed to it live (waiting while the replay runs).
        let subscription = session.makeSubscription()
        session.subscriptions[channel] = subscription
        if since != nil { counters.withLockedValue { $0.recoveries += 1 } }
        let start = PendingSubscription(channel: channel, id: subscription.id, since: since, handle: handle)
        let (startNow, wakeUp) = queue.withLockedValue { queue -> (Bool, CheckedContinuation<Void, Never>?) in
            // Once the hub drains, nothing more is stored: the subscription may start at once.
            if queue.draining { return (true, nil) }
            queue.append(start)
            defer { queue.wakeUp = nil }
            return (false, queue.wakeUp)
        }
        wakeUp?.resume()
        if startNow { Task { await startSubscriptions([start]) } }
    }

    /// Reads where each stream stands, registers each subscription for live publications, and
    /// starts its replay. Called between batches of publishes, so nothing is stored meanwhile.
    private func startSubscriptions(_ starts: [PendingSubscription]) async {
        for start in starts {
            let state: ChannelStreamState
            do {
                state = try await store.state(of: start.channel)
            } catch {
                await endSubscription(start, answer: ChannelsError(.storeUnavailable, "\(error)", channel: start.channel.value))
                continue
            }
            switch RecoveryPlan.plan(channel: start.channel, since: start.since, stream: state.position,
                                     oldestRetained: state.oldestRetained, maxReplay: store.limits.maxReplay) {
            case .success(let plan):
                subscribers.withLockedValue { $0[start.channel, default: [:]][start.handle.id] = start.handle }
                Task { await replay(plan, of: start) }
            case .failure(let refusal):
                await endSubscription(start, answer: refusal)
            }
        }
    }

    /// Answers a subscribe and replays what its plan covers, a page at a time, sending while the
    /// socket takes more; then releases the live publications that waited.
    private func replay(_ plan: RecoveryPlan, of start: PendingSubscription) async {
        let (channel, id, handle) = (start.channel, start.id, start.handle)
        if plan.answer.recovered == false { counters.withLockedValue { $0.recoveriesFailed += 1 } }
        let answered = await onLoop(handle) { session -> Bool in
            guard session.isCurrent(id, on: channel) else {
                // Unsubscribed meanwhile: its registration goes, unless a newer subscription to
                // the channel holds it now.
                if session.subscriptions[channel] == nil { self.unregister(handle, from: [channel]) }
                return false
            }
            session.reply(.subscribed(plan.answer))
            return !session.isClosed
        }
        guard answered == true else {
            // The connection is gone: its subscriptions were unregistered, perhaps before this one
            // was registered.
            if answered == nil { unregister(handle, from: [channel]) }
            return
        }

        let top = plan.answer.position.offset
        var after = plan.replayAfter
        if after < top {
            // One replay sends at a time on a connection; this one waits for its turn.
            guard let turn = await onLoop(handle, { $0.beginReplay(on: handle.eventLoop) }) else { return }
            _ = try? await turn.get()
            await replayPages(after: &after, through: top, of: start)
            await onLoop(handle) { $0.endReplay() }
        }
        let replayedThrough = max(after, top)
        await onLoop(handle) { session in
            guard session.isCurrent(id, on: channel), var stream = session.subscriptions[channel] else { return }
            session.heldBytes -= stream.heldBytes
            let waiting = stream.replayFinished(through: replayedThrough)
            session.subscriptions[channel] = stream
            for publication in waiting { session.reply(.publication(publication)) }
        }
    }

    /// Sends the publications after `after` up to `top` a page at a time, each turn while the
    /// socket takes more; `after` ends at the last offset sent. Returns early when the
    /// subscription or the connection ends.
    private func replayPages(after: inout UInt64, through top: UInt64, of start: PendingSubscription) async {
        let (channel, id, handle) = (start.channel, start.id, start.handle)
        while after < top {
            let page: [ChannelPublication]
            do {
                page = try await store.publications(of: channel, after: after, limit: min(configuration.replayPageSize, Int(top - after)))
            } catch {
                logger.warning("reading channel history failed", metadata: ["channel": "\(channel)", "error": "\(error)"])
                await onLoop(handle) { $0.close(code: .tryAgainLater, reason: "channel history could not be read") }
                return
            }
            guard let last = page.last else { break }
            var remaining = page[...]
            while !remaining.isEmpty {
                let pending = remaining
                guard let (sent, writable) = await onLoop(handle, { session -> (Int, EventLoopFuture<Void>?)? in
                    guard session.isCurrent(id, on: channel) else { return nil }
                    return session.sendReplayed(pending)
                }), sent > 0 else { return }
                counters.withLockedValue { $0.replayed += sent }
                remaining = remaining.dropFirst(sent)
                if let writable { guard (try? await writable.get()) != nil else { return } }
            }
            after = last.offset
        }
    }

    /// Removes a subscription that could not start and tells the client why.
    private func endSubscription(_ start: PendingSubscription, answer: ChannelsError) async {
        await onLoop(start.handle) { session in
            guard session.isCurrent(start.id, on: start.channel),
                  let ended = session.subscriptions.removeValue(forKey: start.channel) else { return }
            session.heldBytes -= ended.heldBytes
            session.reply(.error(answer))
        }
    }

    /// Runs `body` on the session's loop with the session, if the connection is still there.
    @discardableResult
    private func onLoop<Value: Sendable>(_ handle: SessionHandle, _ body: @escaping @Sendable (ChannelSession) -> Value?) async -> Value? {
        try? await handle.eventLoop.submit {
            let session = handle.session.value
            return session.isClosed ? nil : body(session)
        }.get()
    }
}
