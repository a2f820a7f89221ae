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

/// What the writer does next: store a batch of publishes, start subscriptions, or hand this
/// node's subscribers what other nodes stored (a shared store's channels and last offsets).
enum PendingWork: Sendable {
    case publishes([PendingPublish])
    case subscriptions([PendingSubscription])
    case storedElsewhere([ChannelName: UInt64])
}

/// The publishes (in arrival order) and the subscriptions waiting for the writer, and the writer
/// waiting for them.
struct WriterQueue {
    private var waiting: [PendingPublish] = []
    private var subscriptions: [PendingSubscription] = []
    /// The last offsets a shared store reported, the highest per channel.
    private var storedElsewhere: [ChannelName: UInt64] = [:]
    private(set) var waitingPublishes = 0
    private(set) var waitingBytes = 0
    var hasWork: Bool { !waiting.isEmpty || !subscriptions.isEmpty || !storedElsewhere.isEmpty }
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

    /// Notes where channels stand in a shared store; reports waiting for the writer merge.
    mutating func noteStored(_ lastOffsets: [ChannelName: UInt64]) {
        storedElsewhere.merge(lastOffsets) { max($0, $1) }
    }

    /// The subscriptions waiting, all of them, before any publish: a subscription may start
    /// between any two batches, and need not wait behind publishes. Then what a shared store
    /// reported, so that other nodes' publications do not wait behind a stream of local ones.
    /// Else the leading publishes, at most `maxBatch`.
    mutating func take(maxBatch: Int) -> PendingWork? {
        if !subscriptions.isEmpty {
            defer { subscriptions = [] }
            return .subscriptions(subscriptions)
        }
        if !storedElsewhere.isEmpty {
            defer { storedElsewhere = [:] }
            return .storedElsewhere(storedElsewhere)
        }
        guard !waiting.isEmpty else { return nil }
        let batch = Array(waiting.prefix(maxBatch))
        waiting.removeFirst(batch.count)
        waitingPublishes -= batch.count
        waitingBytes -= batch.reduce(0) { $0 + $1.request.message.data.readableBytes }
        return .publishes(batch)
    }
}
