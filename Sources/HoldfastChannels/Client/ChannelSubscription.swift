/// The events of one subscribed channel, in stream order: each publication once, and a gap
/// wherever history was lost. Iterate it once.
///
/// The sequence ends when the client stops (throwing the reason if it failed) or throws the
/// server's ``ChannelsError`` when it refused the subscription. Ending the iteration early
/// (breaking out, cancelling the task) unsubscribes. Events wait in memory until read: read
/// them as fast as the channel publishes.
public struct ChannelSubscription: AsyncSequence, Sendable {
    /// A delivered event.
    public typealias Element = SubscriptionEvent
    /// Why the sequence ended early.
    public typealias Failure = any Error

    /// The channel subscribed to.
    public let channel: ChannelName
    private let events: AsyncThrowingStream<SubscriptionEvent, any Error>

    init(channel: ChannelName, events: AsyncThrowingStream<SubscriptionEvent, any Error>) {
        self.channel = channel
        self.events = events
    }

    /// Starts the iteration.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: events.makeAsyncIterator()) }

    /// Iterates the events of the subscription.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<SubscriptionEvent, any Error>.AsyncIterator

        /// The next event, or `nil` once the subscription ended.
        public mutating func next() async throws -> SubscriptionEvent? { try await base.next() }
    }
}
