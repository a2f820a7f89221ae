import HoldfastCore

/// A message as it stands in a channel's stream: where it is and what it carries.
public struct ChannelPublication: Sendable, Hashable {
    /// The channel it was published to.
    public var channel: ChannelName
    /// Its place in the channel's stream.
    public var position: StreamPosition
    /// The message, text or binary, as published.
    public var message: WebSocketMessage

    /// A publication of `message` at `position` of `channel`.
    public init(channel: ChannelName, position: StreamPosition, message: WebSocketMessage) {
        self.channel = channel
        self.position = position
        self.message = message
    }

    /// The offset within the channel.
    public var offset: UInt64 { position.offset }
}
