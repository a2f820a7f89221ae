import Holdfast
import HoldfastCore
import NIOCore

/// One connection's side of the channels protocol, used on its event loop only: its
/// subscriptions and how it sends. The hub reaches it through a ``SessionHandle``.
final class ChannelSession {
    let id: ObjectIdentifier
    private let send: (WebSocketMessage) throws -> Void
    private let sendPaced: (WebSocketMessage) -> EventLoopFuture<Void>
    private let isWritable: () -> Bool
    private let closeConnection: (CloseCode, String) -> Void
    /// The subscriptions, each with its delivery state.
    var subscriptions: [ChannelName: SubscriberStream] = [:]
    /// The id of the connection's latest subscription (see ``SubscriberStream/id``).
    private var lastSubscriptionID: UInt64 = 0

    /// A new subscription's delivery state, with the next id.
    func makeSubscription() -> SubscriberStream {
        lastSubscriptionID += 1
        return SubscriberStream(id: lastSubscriptionID)
    }

    /// Whether subscription `id` to `channel` is still the connection's current one.
    func isCurrent(_ id: UInt64, on channel: ChannelName) -> Bool {
        subscriptions[channel]?.id == id
    }

    /// Publishes of this connection not yet answered.
    var publishesInFlight = 0
    /// Bytes of live publications waiting, over every subscription, for replays to finish.
    var heldBytes = 0
    /// Set once the connection ends or is being closed: nothing more goes out.
    private(set) var isClosed = false

    init<Context>(_ connection: EventLoopConnection<Context>) {
        id = connection.id
        send = { try connection.send($0) }
        sendPaced = { connection.sendPaced($0) }
        isWritable = { connection.isWritable }
        closeConnection = { connection.close(code: $0, reason: $1) }
    }

    /// Sends `message` unless the connection is closing; a refusal means it is.
    func reply(_ message: ChannelsServerMessage) {
        guard !isClosed else { return }
        sendLive(message.encoded)
    }

    /// Sends an encoded publication live, under the connection's outbound budget.
    func sendLive(_ encoded: WebSocketMessage) {
        guard !isClosed else { return }
        do { try send(encoded) } catch { isClosed = true }
    }

    /// Bytes one turn of a replay sends at most before it lets the event loop flush them: small
    /// messages wait in the handler's batch until the flush, so the socket's writability alone
    /// would not stop a turn in time.
    static let replayTurnBytes = 256 << 10

    /// Sends replayed publications from the start of `publications` while the socket takes them,
    /// up to ``replayTurnBytes``: returns how many went out and, when the socket filled, the
    /// future that succeeds once it can take more (`nil`: send the rest on the next turn).
    /// Nothing is sent once the connection is closing.
    func sendReplayed(_ publications: ArraySlice<ChannelPublication>) -> (sent: Int, writable: EventLoopFuture<Void>?) {
        var sent = 0
        var bytes = 0
        for publication in publications {
            guard !isClosed, bytes < Self.replayTurnBytes else { break }
            let message = ChannelsServerMessage.publication(publication).encoded
            let accepted = sendPaced(message)
            sent += 1
            bytes += message.data.readableBytes
            if !isWritable() { return (sent, accepted) }
        }
        return (sent, nil)
    }

    /// Whether a replay is sending on this connection; the others wait their turn, so that
    /// resuming many channels at once sends one replay at a time.
    private var replaying = false
    private var replaysWaiting: [EventLoopPromise<Void>] = []

    /// Succeeds when this replay may send: at once when no other replay is sending.
    func beginReplay(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        guard replaying else {
            replaying = true
            return eventLoop.makeSucceededVoidFuture()
        }
        let turn = eventLoop.makePromise(of: Void.self)
        replaysWaiting.append(turn)
        return turn.futureResult
    }

    /// The replay that was sending has finished: the next one waiting may send.
    func endReplay() {
        guard !replaysWaiting.isEmpty else {
            replaying = false
            return
        }
        replaysWaiting.removeFirst().succeed()
    }

    /// Closes the connection with `code` and `reason`; nothing more goes out.
    func close(code: CloseCode, reason: String) {
        guard !isClosed else { return }
        isClosed = true
        closeConnection(code, reason)
    }

    /// The connection ended: replays waiting for their turn go on, find it closed and stop.
    func ended() {
        isClosed = true
        let waiting = replaysWaiting
        replaysWaiting = []
        for turn in waiting { turn.succeed() }
    }
}

/// A session as the hub keeps it: its identity and event loop, readable anywhere, and the
/// session itself, usable on that loop.
struct SessionHandle: Sendable {
    let id: ObjectIdentifier
    let eventLoop: any EventLoop
    let session: NIOLoopBound<ChannelSession>
}
