import HoldfastCore

// What waits for the hub's writer task: publishes to store in batches, and subscriptions to start
// between two batches.

/// A publish waiting for the store, with the way to answer its publisher.
struct PendingPublish: Sendable {
    let request: ChannelPublishRequest
    let answer: @Sendable (Result<ChannelPublishReceipt, ChannelsError>) -> Void
}

/// A subscription waiting to start in the writer's sequence.
struct PendingSubscription: Sendable {
    let channel: ChannelName
    let id: UInt64
    let since: StreamPosition?
    let handle: SessionHandle
}

/// What the writer does next: store a batch of publishes, or start subscriptions.
enum PendingWork: Sendable {
    case publishes([PendingPublish])
    case subscriptions([PendingSubscription])
}

/// The publishes (in arrival order) and the subscriptions waiting for the writer, and the writer
/// waiting for them.
struct WriterQueue {
    private var waiting: [PendingPublish] = []
    private var subscriptions: [PendingSubscription] = []
    private(set) var waitingPublishes = 0
    private(set) var waitingBytes = 0
    var hasWork: Bool { !waiting.isEmpty || !subscriptions.isEmpty }
    var wakeUp: CheckedContinuation<Void, Never>?
    var draining = false

    mutating func append(_ publish: PendingPublish) {
        waiting.append(publish)
        waitingPublishes += 1
        waitingBytes += publish.request.message.data.readableBytes
    }

    mutating func append(_ subscription: PendingSubscription) {
        subscriptions.append(subscription)
    }

    /// The subscriptions waiting, all of them, before any publish: a subscription may start
    /// between any two batches, and need not wait behind publishes. Else the leading publishes,
    /// at most `maxBatch`.
    mutating func take(maxBatch: Int) -> PendingWork? {
        if !subscriptions.isEmpty {
            defer { subscriptions = [] }
            return .subscriptions(subscriptions)
        }
        guard !waiting.isEmpty else { return nil }
        let batch = Array(waiting.prefix(maxBatch))
        waiting.removeFirst(batch.count)
        waitingPublishes -= batch.count
        waitingBytes -= batch.reduce(0) { $0 + $1.request.message.data.readableBytes }
        return .publishes(batch)
    }
}
