import Holdfast
import NIOConcurrencyHelpers
import NIOCore

/// The chat room of `holdfast serve --mode broadcast`: every message goes to every other member.
///
/// Members live on different event loops, and a ``ServeConnection`` may only be used on its
/// own, so the room keeps each one bound to its loop and hands a message to another loop with
/// `execute`; per-loop order keeps each sender's messages in order for every receiver.
final class BroadcastRoom: Sendable {
    private let members = NIOLockedValueBox<[ObjectIdentifier: NIOLoopBound<ServeConnection>]>([:])

    /// `connection` takes part from now on.
    func join(_ connection: ServeConnection) {
        let bound = NIOLoopBound(connection, eventLoop: connection.eventLoop)
        members.withLockedValue { $0[connection.id] = bound }
    }

    /// `connection` has gone.
    func leave(_ connection: ServeConnection) {
        _ = members.withLockedValue { $0.removeValue(forKey: connection.id) }
    }

    /// Sends `message` to every member but `sender`.
    func broadcast(_ message: WebSocketMessage, from sender: ServeConnection) {
        // A copy of the dictionary is a reference count, not a copy of its storage.
        let members = self.members.withLockedValue { $0 }
        for (id, member) in members where id != sender.id {
            if member.eventLoop.inEventLoop {
                // A member that is closing takes nothing more.
                try? member.value.send(message)
            } else {
                member.eventLoop.execute { try? member.value.send(message) }
            }
        }
    }
}
