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
///
/// Over a ``SharedChannelStore`` (several nodes on one database) the hub also follows what other
/// nodes store: for each channel its subscribers follow, it keeps the last offset it handed
/// them, and when the store's notices or polls show the channel further on, or a local publish
/// lands beyond it, it reads the publications in between from the store and hands them out first
/// — in the writer's sequence, so every subscriber still sees its channel in offset order.
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
    /// Over a shared store: the last offset handed to this hub's subscribers, per channel they
    /// follow. Read and written by the writer's sequence only.
    private let following = NIOLockedValueBox<[ChannelName: UInt64]>([:])
    private let sharedStore: (any SharedChannelStore)?

    /// A hub over `store`.
    public init(store: any ChannelStore, configuration: ChannelHubConfiguration = .init(),
                logger: Logger = Logger(label: "holdfast.channels")) {
        self.store = store
        self.sharedStore = store as? any SharedChannelStore
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
        if case .unavailable(let reason) = store.health { statistics.storeUnavailable = reason }
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
                    if let sharedStore {
                        group.addTask { [self] in
                            for await notice in sharedStore.appendNotices() { noteStored(notice) }
                        }
                        group.addTask { [self] in await pollPeriodically(sharedStore) }
                    }
                    while let work = await nextWork() {
                        switch work {
                        case .publishes(let batch): await store(batch)
                        case .subscriptions(let starts): await startSubscriptions(starts)
                        case .storedElsewhere(let lastOffsets): await catchUp(with: lastOffsets)
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
                guard !Task.isCancelled else { return }
                logger.warning("trimming channel history failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Asks the shared store where the followed channels stand, in case a notice was lost.
    private func pollPeriodically(_ sharedStore: any SharedChannelStore) async {
        while !Task.isCancelled {
            guard (try? await Task.sleep(for: sharedStore.pollInterval)) != nil else { return }
            let followed = following.withLockedValue { Array($0.keys) }
            guard !followed.isEmpty else { continue }
            do { noteStored(try await sharedStore.lastOffsets(of: followed)) } catch {
                logger.debug("polling the shared store failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Queues what a shared store reported for the writer, if it is news to this hub.
    private func noteStored(_ lastOffsets: [ChannelName: UInt64]) {
        let news = following.withLockedValue { following in
            lastOffsets.filter { channel, offset in following[channel].map { offset > $0 } ?? false }
        }
        guard !news.isEmpty else { return }
        let wakeUp = queue.withLockedValue { queue -> CheckedContinuation<Void, Never>? in
            queue.noteStored(news)
            defer { queue.wakeUp = nil }
            return queue.wakeUp
        }
        wakeUp?.resume()
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
        if sharedStore == nil {
            deliver(publications)
        } else {
            await deliverAfterOthers(publications)
        }
        for (publish, receipt) in zip(batch, receipts) { publish.answer(.success(receipt)) }
    }

    // MARK: - Following a shared store

    /// Hands out this node's new publications over a shared store: where a channel's offsets
    /// jump past the last one handed out, other nodes stored the ones between, and those go first.
    /// If they cannot be read now, the channel's new publications wait too (they are stored);
    /// the next poll hands them all out in order.
    private func deliverAfterOthers(_ publications: [ChannelPublication]) async {
        var ready: [ChannelPublication] = []
        var byChannel: [ChannelName: [ChannelPublication]] = [:]
        for publication in publications { byChannel[publication.channel, default: []].append(publication) }
        for (channel, mine) in byChannel {
            guard let first = mine.first, let last = mine.last else { continue }
            guard let handedOut = following.withLockedValue({ $0[channel] }) else {
                // No subscriber here follows the channel.
                continue
            }
            if first.offset > handedOut + 1 {
                guard await deliverFromStore(channel, after: handedOut, through: first.offset - 1) else { continue }
            }
            ready += mine
            following.withLockedValue { $0[channel] = max($0[channel] ?? 0, last.offset) }
        }
        deliver(ready)
    }

    /// Hands this hub's subscribers what other nodes stored up to `lastOffsets`.
    private func catchUp(with lastOffsets: [ChannelName: UInt64]) async {
        for (channel, last) in lastOffsets {
            guard let handedOut = following.withLockedValue({ $0[channel] }), last > handedOut else { continue }
            guard subscribers.withLockedValue({ $0[channel] != nil }) else {
                following.withLockedValue { _ = $0.removeValue(forKey: channel) }
                continue
            }
            _ = await deliverFromStore(channel, after: handedOut, through: last)
        }
    }

    /// Reads `channel`'s publications after `after` through `last` from the store, a page at a
    /// time, and hands them out. Returns whether all were handed out; a read that fails leaves
    /// the rest for the next poll. Publications the history no longer holds close the channel's
    /// subscribers here with 1013: they resume from their offsets and learn of the gap — never
    /// a silent hole.
    private func deliverFromStore(_ channel: ChannelName, after: UInt64, through last: UInt64) async -> Bool {
        var handedOut = after
        while handedOut < last {
            let page: [ChannelPublication]
            do {
                page = try await store.publications(of: channel, after: handedOut,
                                                    limit: min(configuration.replayPageSize, Int(last - handedOut)))
            } catch {
                logger.debug("reading what other nodes stored failed; the next poll tries again",
                             metadata: ["channel": "\(channel)", "error": "\(error)"])
                return false
            }
            guard let first = page.first, first.offset == handedOut + 1, let end = page.last else {
                closeSubscribers(of: channel,
                                 reason: "publications after offset \(handedOut) left the history before they could be sent")
                following.withLockedValue { $0[channel] = last }
                return true
            }
            deliver(page)
            counters.withLockedValue { $0.storedElsewhere += page.count }
            handedOut = end.offset
            following.withLockedValue { $0[channel] = handedOut }
        }
        return true
    }

    /// Over a shared store, forgets the channels no subscriber here follows any more once they
    /// outnumber the followed ones (amortized: the map is filtered only after it doubled), so a
    /// client that subscribes to many channels and leaves cannot grow it, or the poll's query,
    /// without bound. In the writer's sequence, like every change of the map.
    private func forgetUnfollowedChannels() {
        guard sharedStore != nil else { return }
        let followedNow = subscribers.withLockedValue { $0.count }
        guard following.withLockedValue({ $0.count }) > 2 * followedNow + 64 else { return }
        let channels = subscribers.withLockedValue { Set($0.keys) }
        following.withLockedValue { following in following = following.filter { channels.contains($0.key) } }
    }

    /// Closes every subscriber of `channel` on this hub with 1013 and `reason`.
    private func closeSubscribers(of channel: ChannelName, reason: String) {
        let handles = subscribers.withLockedValue { Array(($0[channel] ?? [:]).values) }
        counters.withLockedValue { $0.subscribersBehindHistory += handles.count }
        for handle in handles {
            handle.eventLoop.execute { handle.session.value.close(code: .tryAgainLater, reason: reason) }
        }
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
        forgetUnfollowedChannels()
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
                let followedHere = subscribers.withLockedValue { subscribers -> Bool in
                    defer { subscribers[start.channel, default: [:]][start.handle.id] = start.handle }
                    return subscribers[start.channel] != nil
                }
                if sharedStore != nil {
                    // Where a channel no subscriber here followed starts being handed out: its
                    // stream as it stands now. One already followed keeps its place; what lies
                    // between is handed out and skipped by this subscription as replayed.
                    following.withLockedValue { following in
                        if !followedHere || following[start.channel] == nil { following[start.channel] = state.position.offset }
                    }
                }
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
