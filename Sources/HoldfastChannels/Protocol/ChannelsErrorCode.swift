/// Why the server refused a request of the channels protocol; sent in an `error` message with a
/// reason for people. The connection stays open: the error answers one request.
///
/// An unknown code from a newer server reads as ``other(_:)``, keeping its text.
public enum ChannelsErrorCode: Sendable, Hashable, CustomStringConvertible {
    /// The message's `type` is not one this server knows.
    case unknownType
    /// A field is missing or has the wrong type.
    case badRequest
    /// The channel name is empty, too long or contains control characters.
    case invalidChannel
    /// The connection holds as many subscriptions as the server allows.
    case tooManySubscriptions
    /// The store holds as many channels as it allows.
    case tooManyChannels
    /// The connection is already subscribed to the channel.
    case alreadySubscribed
    /// The connection is not subscribed to the channel.
    case notSubscribed
    /// The position to resume from lies beyond the end of the channel's stream in its epoch:
    /// the client claims messages the server never stored.
    case offsetFromFuture
    /// The store could not take or read the request just now; retrying later can succeed.
    case storeUnavailable
    /// The server is shutting down and takes no more publishes; retry on the next connection.
    case shuttingDown
    /// A code this version does not know.
    case other(String)

    /// The code as sent.
    public var rawValue: String {
        switch self {
        case .unknownType: return "unknown-type"
        case .badRequest: return "bad-request"
        case .invalidChannel: return "invalid-channel"
        case .tooManySubscriptions: return "too-many-subscriptions"
        case .tooManyChannels: return "too-many-channels"
        case .alreadySubscribed: return "already-subscribed"
        case .notSubscribed: return "not-subscribed"
        case .offsetFromFuture: return "offset-from-future"
        case .storeUnavailable: return "store-unavailable"
        case .shuttingDown: return "shutting-down"
        case .other(let code): return code
        }
    }

    /// Reads a code as sent.
    public init(rawValue: String) {
        let known: [ChannelsErrorCode] = [
            .unknownType, .badRequest, .invalidChannel, .tooManySubscriptions, .tooManyChannels,
            .alreadySubscribed, .notSubscribed, .offsetFromFuture, .storeUnavailable, .shuttingDown,
        ]
        self = known.first { $0.rawValue == rawValue } ?? .other(rawValue)
    }

    /// Whether the same request may succeed later unchanged: a client keeps such a publish in its
    /// outbox and sends it again.
    public var isRetryable: Bool {
        switch self {
        case .storeUnavailable, .shuttingDown: return true
        default: return false
        }
    }

    public var description: String { rawValue }
}

/// An `error` message: the code, a reason, and which request it answers.
public struct ChannelsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public var code: ChannelsErrorCode
    /// Why, for people.
    public var reason: String
    /// The channel of the request, when it named one.
    public var channel: String?
    /// The publish id of the request, when it was a publish with one.
    public var publishID: String?

    /// An error with `code` and `reason` answering the request on `channel` or with `publishID`.
    public init(_ code: ChannelsErrorCode, _ reason: String, channel: String? = nil, publishID: String? = nil) {
        self.code = code
        self.reason = reason
        self.channel = channel
        self.publishID = publishID
    }

    public var description: String { "\(code): \(reason)" }
}
