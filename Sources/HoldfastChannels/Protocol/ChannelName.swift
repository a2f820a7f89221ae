/// The name of a channel: 1 to ``maxLength`` bytes of UTF-8 with no control characters (C0, DEL or C1).
///
/// Names are compared byte for byte; `room` and `Room` are two channels. The limit keeps a
/// client from making the server hold (and a store index) arbitrarily long keys.
public struct ChannelName: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The longest name in UTF-8 bytes.
    public static let maxLength = 200

    /// The name as sent.
    public let value: String

    /// Why a string is not a channel name.
    public enum Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        /// The empty string.
        case empty
        /// Longer than ``ChannelName/maxLength`` bytes; carries the length.
        case tooLong(Int)
        /// Contains a control character (U+0000–U+001F, U+007F–U+009F).
        case controlCharacter

        public var description: String {
            switch self {
            case .empty: return "a channel name may not be empty"
            case .tooLong(let length):
                return "channel name of \(length) bytes exceeds limit of \(ChannelName.maxLength) bytes"
            case .controlCharacter: return "a channel name may not contain control characters"
            }
        }
    }

    /// Validates `value` as a channel name.
    public init(validating value: String) throws(Invalid) {
        let length = value.utf8.count
        guard length > 0 else { throw .empty }
        guard length <= Self.maxLength else { throw .tooLong(length) }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw .controlCharacter
        }
        self.value = value
    }

    /// A name written in code; it must be valid (a literal is the programmer's, not the network's).
    public init(stringLiteral value: String) {
        do { try self.init(validating: value) } catch { preconditionFailure("invalid channel name literal: \(error)") }
    }

    public var description: String { value }

    public static func < (lhs: ChannelName, rhs: ChannelName) -> Bool { lhs.value < rhs.value }
}
