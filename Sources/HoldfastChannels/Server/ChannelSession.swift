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
        do { try send(message.encoded) } catch { isClosed = true }
    }

    /// Sends an encoded publication live, under the connection's outbound budget.
    func sendLive(_ encoded: WebSocketMessage) {
        guard !isClosed else { return }
        do { try send(encoded) } catch { isClosed = true }
    }

    /// Sends replayed publications from the start of `publications` while the socket takes
    /// them: returns how many went out and, when the socket filled, the future that succeeds
    /// once it can take more (`nil`: send the rest now). Nothing is sent once the connection is closing.
    func sendReplayed(_ publications: ArraySlice<ChannelPublication>) -> (sent: Int, writable: EventLoopFuture<Void>?) {
        var sent = 0
        for publication in publications {
            guard !isClosed else { break }
            let accepted = sendPaced(ChannelsServerMessage.publication(publication).encoded)
            sent += 1
            if !isWritable() { return (sent, accepted) }
        }
        return (sent, nil)
    }

    /// Closes the connection with `code` and `reason`; nothing more goes out.
    func close(code: CloseCode, reason: String) {
        guard !isClosed else { return }
        isClosed = true
        closeConnection(code, reason)
    }

    /// The connection ended.
    func ended() { isClosed = true }
}

/// A session as the hub keeps it: its identity and event loop, readable anywhere, and the
/// session itself, usable on that loop.
struct SessionHandle: Sendable {
    let id: ObjectIdentifier
    let eventLoop: any EventLoop
    let session: NIOLoopBound<ChannelSession>
}
