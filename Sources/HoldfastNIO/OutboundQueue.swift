import HoldfastCore
import NIOConcurrencyHelpers
import NIOCore

/// What tasks send on a connection, waiting for its event loop to write it.
///
/// A send from a task appends here and returns at once while the connection can take more; the
/// first send after a write schedules one event-loop task that writes everything queued and
/// flushes once. So a task sending many small messages costs one thread hop per batch rather than
/// one per message, and suspends only while the socket is not writable or more than
/// ``highWatermark`` bytes wait.
public final class OutboundQueue: Sendable {
    /// One thing to send.
    public enum Item: Sendable {
        /// A whole message.
        case message(WebSocketMessage)
        /// The next piece of a message sent fragment by fragment.
        case fragment(ByteBuffer, kind: WebSocketMessage.Kind, isFinal: Bool)
    }

    private struct State {
        var items: [Item] = []
        var bytes = 0
        var drainScheduled = false
        var writable = true
        var refusal: WebSocketError?
        var waiters: [CheckedContinuation<Void, any Error>] = []

        var canTakeMore: Bool { writable && bytes <= OutboundQueue.highWatermark }
    }

    /// Queued bytes above which senders wait for the event loop to catch up. 256 KiB: a few
    /// socket buffers' worth, so the socket never starves, while memory per connection stays small.
    public static let highWatermark = 256 * 1024

    private let state = NIOLockedValueBox(State())
    private let drain: @Sendable () -> Void

    /// Creates a queue whose `drain` runs on the event loop and takes the items.
    init(drain: @escaping @Sendable () -> Void) {
        self.drain = drain
    }

    /// Queues `item` of `size` payload bytes; suspends while the connection cannot take more.
    /// - Throws: why nothing more can be sent, once the close handshake has begun.
    public func enqueue(_ item: Item, size: Int) async throws {
        let (scheduleDrain, mustWait) = try state.withLockedValue { state throws -> (Bool, Bool) in
            if let refusal = state.refusal { throw refusal }
            state.items.append(item)
            state.bytes += size
            let scheduleDrain = !state.drainScheduled
            state.drainScheduled = true
            return (scheduleDrain, !state.canTakeMore)
        }
        if scheduleDrain { drain() }
        guard mustWait else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready: Result<Void, any Error>? = state.withLockedValue { state in
                if let refusal = state.refusal { return .failure(refusal) }
                if state.canTakeMore { return .success(()) }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Takes everything queued (on the event loop, when draining).
    func takeAll() -> [Item] {
        state.withLockedValue { state in
            let items = state.items
            state.items.removeAll(keepingCapacity: true)
            state.bytes = 0
            state.drainScheduled = false
            return items
        }
    }

    /// Records whether the channel is writable, resuming waiting senders when it is.
    func setWritable(_ writable: Bool) {
        let resumed = state.withLockedValue { state -> [CheckedContinuation<Void, any Error>] in
            state.writable = writable
            guard state.canTakeMore else { return [] }
            let waiters = state.waiters
            state.waiters.removeAll()
            return waiters
        }
        for waiter in resumed { waiter.resume() }
    }

    /// Refuses every later send with `error`, and the senders waiting now.
    func refuse(_ error: WebSocketError) {
        let failed = state.withLockedValue { state -> [CheckedContinuation<Void, any Error>] in
            guard state.refusal == nil else { return [] }
            state.refusal = error
            let waiters = state.waiters
            state.waiters.removeAll()
            return waiters
        }
        for waiter in failed { waiter.resume(throwing: error) }
    }
}
