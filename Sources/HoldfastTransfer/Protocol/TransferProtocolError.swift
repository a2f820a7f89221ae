/// A transfer message that could not be decoded, and why.
public struct TransferProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the message.
    public let reason: String

    /// Creates an error with its reason.
    public init(_ reason: String) { self.reason = reason }

    static func truncated(_ what: String) -> TransferProtocolError {
        TransferProtocolError("transfer message ends inside its \(what)")
    }

    public var description: String { reason }
}
