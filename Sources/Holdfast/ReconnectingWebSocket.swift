import HoldfastCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// What a ``ReconnectingWebSocket`` is doing, as it happens.
public enum ReconnectEvent: Sendable, Hashable, CustomStringConvertible {
    /// An attempt to connect begins; `attempt` counts retries since the last stable connection.
    case connecting(attempt: Int)
    /// The connection is open; queued messages go out now, in order.
    case connected
    /// The connection, or the attempt, ended.
    case disconnected(ReconnectPolicy.Disconnection)
    /// The client waits `delay` before attempt `attempt`.
    case waiting(attempt: Int, delay: Duration)
    /// The client stopped trying after this ending: it cannot be fixed by retrying, or the
    /// attempts ran out.
    case gaveUp(ReconnectPolicy.Disconnection)

    public var description: String {
        switch self {
        case .connecting(let attempt): return attempt == 0 ? "connecting" : "connecting (attempt \(attempt + 1))"
        case .connected: return "connected"
        case .disconnected(let disconnection): return "disconnected: \(disconnection)"
        case .waiting(let attempt, let delay): return "retrying in \(delay.readableDescription) (attempt \(attempt + 1))"
        case .gaveUp(let disconnection): return "gave up: \(disconnection)"
        }
    }
}

extension ReconnectPolicy.Disconnection: CustomStringConvertible {
    public var description: String {
        switch self {
        case .closed(let outcome): return "\(outcome)"
        case .rejected(let status): return "upgrade refused with HTTP \(status)"
        case .connectFailed(let reason): return reason
        case .certificateRejected(let reason): return reason
        }
    }
}

/// The settings of a ``ReconnectingWebSocket``.
public struct ReconnectingWebSocketConfiguration: Sendable {
    /// The settings of each connection.
    public var client: WebSocketClientConfiguration
    /// When to reconnect and how soon.
    public var policy: ReconnectPolicy
    /// Messages that may wait for a connection at once. Default 1,000.
    public var outboxMaxMessages: Int
    /// Bytes that may wait for a connection at once. Default 16 MiB.
    public var outboxMaxBytes: Int

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(client: WebSocketClientConfiguration = .init(), policy: ReconnectPolicy = .init(),
                outboxMaxMessages: Int = 1000, outboxMaxBytes: Int = 16 << 20) {
        self.client = client
        self.policy = policy
        self.outboxMaxMessages = outboxMaxMessages
        self.outboxMaxBytes = outboxMaxBytes
    }
}

/// A client connection that survives the server going away: on 1001, 1006, 1011–1014, HTTP 5xx or
/// a network failure it connects again after an exponential backoff with full jitter (or after
/// the retry hint a shutting-down Holdfast server gives), and what is sent meanwhile waits in a
/// bounded outbox and goes out in order once connected.
///
/// ```swift
/// let ws = ReconnectingWebSocket(url: "ws://localhost:8080/feed")
/// try await withThrowingTaskGroup(of: Void.self) { group in
///     group.addTask { try await ws.run() }
///     for await event in ws.events { print(event) }
/// }
/// ```
///
/// ``send(_:)`` returns once the message has been handed to an open connection. The outbox is
/// bounded: when it holds ``ReconnectingWebSocketConfiguration/outboxMaxMessages`` messages or
/// ``ReconnectingWebSocketConfiguration/outboxMaxBytes`` bytes, a further send throws
/// ``ReconnectingWebSocket/OutboxFull`` at once (newest refused, nothing queued is dropped).
public final class ReconnectingWebSocket: Sendable {
    /// A send refused because the outbox is full.
    public struct OutboxFull: Error, Sendable, CustomStringConvertible {
        public var description: String { "the outbox of messages waiting for a connection is full" }
    }

    /// The URL connected to.
    public let url: String
    /// The settings.
    public let configuration: ReconnectingWebSocketConfiguration
    /// What the client does, as it happens. Iterate it once.
    public let events: AsyncStream<ReconnectEvent>
    /// The messages received over every connection, in order. Iterate it once.
    public let messages: AsyncStream<WebSocketMessage>

    private let eventSink: AsyncStream<ReconnectEvent>.Continuation
    private let messageSink: AsyncStream<WebSocketMessage>.Continuation
    private let outbox: Outbox
    private let openConnection = NIOLockedValueBox<WebSocket?>(nil)
    /// Waits on the injected clock.
    private let sleep: @Sendable (Duration) async throws -> Void
    /// Starts a stopwatch on the injected clock; calling the result reads it.
    private let startStopwatch: @Sendable () -> @Sendable () -> Duration
    private let random: NIOLockedValueBox<any RandomNumberGenerator & Sendable>
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger

    /// Creates a reconnecting client; it connects when ``run()`` is called.
    /// - Parameters:
    ///   - url: the `ws://` or `wss://` URL; `wss://` uses the TLS settings of `configuration.client`.
    ///   - configuration: connection settings, policy and outbox bounds.
    ///   - clock: the clock backoff delays are waited on; tests pass one they control.
    ///   - randomSource: the jitter's source; tests pass a seeded one.
    ///   - eventLoopGroup: where connections run; default the shared group.
    ///   - logger: where connection changes are logged.
    public init<C: Clock>(url: String, configuration: ReconnectingWebSocketConfiguration = .init(),
                clock: C = ContinuousClock(),
                randomSource: any RandomNumberGenerator & Sendable = SystemRandomNumberGenerator(),
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "holdfast.reconnecting-client")) where C.Duration == Duration {
        self.url = url
        self.configuration = configuration
        (self.events, self.eventSink) = AsyncStream.makeStream(of: ReconnectEvent.self)
        (self.messages, self.messageSink) = AsyncStream.makeStream(of: WebSocketMessage.self)
        self.outbox = Outbox(maxMessages: configuration.outboxMaxMessages, maxBytes: configuration.outboxMaxBytes)
        self.sleep = { try await clock.sleep(for: $0, tolerance: nil) }
        self.startStopwatch = {
            let start = clock.now
            return { start.duration(to: clock.now) }
        }
        self.random = NIOLockedValueBox(randomSource)
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// Sends a message over the current connection, or over the next one once connected.
    /// - Throws: ``OutboxFull`` when the outbox is full; a `WebSocketError` when the message is
    ///   over the limit the server announced (after a 1009 the client learns it again) or the
    ///   client has stopped.
    public func send(_ message: WebSocketMessage) async throws {
        try await outbox.send(message)
    }

    /// The connection open now, if any: for protocols layered on this client that talk to each
    /// connection in turn (a transfer's resume query after a reconnect) or read its
    /// ``WebSocket/peerLimits``. It changes after every ``ReconnectEvent/connected`` event.
    public var connection: WebSocket? { openConnection.withLockedValue { $0 } }

    /// Messages waiting in the outbox: queued while disconnected, or not yet handed to the
    /// connection.
    public var outboxCount: Int { outbox.count }

    /// Sends a text message (see ``send(_:)``).
    public func send(text: String) async throws {
        try await send(.text(text))
    }

    /// Asks ``run()`` to close the connection with `code` and return instead of reconnecting.
    /// What the outbox holds is sent first when connected.
    public func close(code: CloseCode = .normalClosure, reason: String = "") {
        outbox.requestClose(CloseFrame(code: code, reason: reason))
    }

    /// Connects, and connects again, until ``close(code:reason:)``, an ending that is not
    /// retried, or the attempts run out (the last two throw the ending). Cancelling the task
    /// closes the connection with 1001, going away.
    public func run() async throws {
        defer {
            outbox.stop(WebSocketError.connectionClosed(nil))
            eventSink.finish()
            messageSink.finish()
        }
        var attempt = 0
        while !Task.isCancelled {
            eventSink.yield(.connecting(attempt: attempt))
            let ending: ReconnectPolicy.Disconnection
            var retryHint: Duration?
            var upTime: (@Sendable () -> Duration)?
            do {
                let webSocket = try await WebSocketClient.open(
                    url: WebSocketURL(url), configuration: configuration.client, eventLoopGroup: eventLoopGroup,
                    logger: logger)
                upTime = startStopwatch()
                openConnection.withLockedValue { $0 = webSocket }
                eventSink.yield(.connected)
                let outcome = await session(webSocket)
                openConnection.withLockedValue { $0 = nil }
                ending = .closed(outcome)
                retryHint = outcome.received?.retryHint
            } catch let error as WebSocketURL.ParseError {
                throw error
            } catch let error as TLSHandshakeError where error.kind != .handshakeFailed {
                ending = .certificateRejected(error.description)
            } catch let error as HandshakeError {
                ending = error.status.map { .rejected(status: Int($0.code)) } ?? .connectFailed(error.reason)
            } catch {
                ending = .connectFailed(WebSocketClient.describeFailure(error))
            }
            eventSink.yield(.disconnected(ending))
            if Task.isCancelled || outbox.closeRequest != nil { return }
            if let upTime, upTime() >= configuration.policy.resetAfter { attempt = 0 }
            guard configuration.policy.isRetryable(ending), !configuration.policy.hasGivenUp(afterAttempts: attempt) else {
                eventSink.yield(.gaveUp(ending))
                throw ConnectionEnded(ending: ending)
            }
            // A server's hint is honoured within the policy's floor and maximum; without one the
            // backoff's first window depends on how the connection ended.
            let delay = retryHint.map(configuration.policy.delay(honouring:)) ?? random.withLockedValue { random in
                configuration.policy.delay(forAttempt: attempt, after: ending, using: &random)
            }
            attempt += 1
            eventSink.yield(.waiting(attempt: attempt, delay: delay))
            do {
                try await sleep(delay)
            } catch {
                return
            }
        }
    }

    /// The ending that stopped ``run()``.
    public struct ConnectionEnded: Error, Sendable, CustomStringConvertible {
        /// How the last connection or attempt ended.
        public let ending: ReconnectPolicy.Disconnection
        public var description: String { "connection ended and will not be retried: \(ending)" }
    }

    /// One connection's life: receive into ``messages``, send from the outbox, and close with
    /// 1001 when cancelled or as asked by ``close(code:reason:)``.
    private func session(_ webSocket: WebSocket) async -> CloseOutcome {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in webSocket.messages { self.messageSink.yield(message) }
            }
            group.addTask { await self.pump(into: webSocket) }
            await group.next()
            group.cancelAll()
        }
        if Task.isCancelled {
            return await webSocket.close(code: .goingAway, reason: "client going away")
        }
        return await webSocket.closeOutcome
    }

    /// Sends what the outbox holds, in order, until the connection closes or a close is asked for.
    private func pump(into webSocket: WebSocket) async {
        while let next = await outbox.next() {
            switch next {
            case .close(let frame):
                await webSocket.close(code: frame.code ?? .normalClosure, reason: frame.reason)
                return
            case .message(let id, let message):
                if let refusal = webSocket.peerLimits.refusal(ofMessageSize: message.data.readableBytes) {
                    outbox.fail(id, refusal)
                    continue
                }
                do {
                    try await webSocket.sendConfirmed(message)
                    outbox.delivered(id)
                } catch {
                    // Not written: it stays first in the outbox for the next connection.
                    return
                }
            }
        }
    }
}

/// The messages waiting for a connection, and the senders waiting for them to go out.
final class Outbox: Sendable {
    enum Next: Sendable {
        case message(id: Int, WebSocketMessage)
        case close(CloseFrame)
    }

    private struct Entry {
        var id: Int
        var message: WebSocketMessage
        var sender: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var entries: [Entry] = []
        var bytes = 0
        var nextID = 0
        var closeRequest: CloseFrame?
        var stopped: (any Error)?
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())
    let maxMessages: Int
    let maxBytes: Int

    init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    var closeRequest: CloseFrame? { state.withLockedValue { $0.closeRequest } }

    var count: Int { state.withLockedValue { $0.entries.count } }

    func send(_ message: WebSocketMessage) async throws {
        try await withCheckedThrowingContinuation { (sender: CheckedContinuation<Void, any Error>) in
            let (refusal, waiter) = state.withLockedValue { state -> ((any Error)?, CheckedContinuation<Void, Never>?) in
                if let stopped = state.stopped { return (stopped, nil) }
                let size = message.data.readableBytes
                guard state.entries.count < maxMessages, state.bytes + size <= maxBytes else {
                    return (ReconnectingWebSocket.OutboxFull(), nil)
                }
                state.entries.append(Entry(id: state.nextID, message: message, sender: sender))
                state.nextID += 1
                state.bytes += size
                defer { state.waiter = nil }
                return (nil, state.waiter)
            }
            if let refusal { sender.resume(throwing: refusal) }
            waiter?.resume()
        }
    }

    func requestClose(_ frame: CloseFrame) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.closeRequest = frame
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The next thing to send (the first message stays queued until ``delivered(_:)``), or `nil`
    /// when the calling task is cancelled.
    func next() async -> Next? {
        while !Task.isCancelled {
            let ready: Next? = state.withLockedValue { state in
                if let first = state.entries.first { return .message(id: first.id, first.message) }
                if let close = state.closeRequest { return .close(close) }
                return nil
            }
            if let ready { return ready }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLockedValue { state -> Bool in
                        if !state.entries.isEmpty || state.closeRequest != nil || Task.isCancelled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
        }
        return nil
    }

    func delivered(_ id: Int) { finish(id, with: .success(())) }

    func fail(_ id: Int, _ error: any Error) { finish(id, with: .failure(error)) }

    private func finish(_ id: Int, with result: Result<Void, any Error>) {
        let sender = state.withLockedValue { state -> CheckedContinuation<Void, any Error>? in
            guard let index = state.entries.firstIndex(where: { $0.id == id }) else { return nil }
            let entry = state.entries.remove(at: index)
            state.bytes -= entry.message.data.readableBytes
            return entry.sender
        }
        sender?.resume(with: result)
    }

    /// Fails every waiting sender, and every later send, with `error`.
    func stop(_ error: any Error) {
        let senders = state.withLockedValue { state -> [CheckedContinuation<Void, any Error>] in
            state.stopped = error
            let senders = state.entries.map(\.sender)
            state.entries.removeAll()
            state.bytes = 0
            return senders
        }
        for sender in senders { sender.resume(throwing: error) }
    }
}
