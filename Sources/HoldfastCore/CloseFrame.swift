import NIOCore

/// The body of a close frame: an optional code and a reason (RFC 6455 §5.5.1).
public struct CloseFrame: Sendable, Hashable, CustomStringConvertible {
    /// The code, or `nil` for a close frame with an empty body (reported as 1005).
    public var code: CloseCode?
    /// The reason, UTF-8, at most 123 bytes on the wire.
    public var reason: String

    /// The largest reason that fits a control frame: 125 bytes less the two of the code.
    public static let maximumReasonLength = 123

    /// Creates a close frame body. A reason longer than 123 bytes is cut on a UTF-8 boundary.
    public init(code: CloseCode?, reason: String = "") {
        self.code = code
        self.reason = code == nil ? "" : Self.truncatedReason(reason)
    }

    /// The code an application sees for this frame: 1005 when the body was empty.
    public var effectiveCode: CloseCode { code ?? .noStatusReceived }

    public var description: String {
        // The reason is the peer's text: printed with its control characters escaped.
        reason.isEmpty ? "\(effectiveCode)" : "\(effectiveCode): \(reason.escapingControlCharacters)"
    }

    /// The reason of the 1013 close for a peer whose outbound backlog passed `limit` bytes
    /// (``WebSocketConfiguration/maxBacklog``): `outbound backlog exceeds limit of 4194304 bytes
    /// (reading too slowly)`. Code and words tell "you read too slowly" from "the server is
    /// leaving" (1001).
    public static func backlogExceededReason(limit: Int) -> String {
        "outbound backlog exceeds limit of \(limit) bytes (reading too slowly)"
    }

    /// The reason of a 1013 close for a peer that read nothing while writes waited for
    /// `timeout`: `nothing read for 30 s (reading too slowly)`.
    public static func readingStalledReason(after timeout: TimeAmount) -> String {
        "nothing read for \(timeout.readableDescription) (reading too slowly)"
    }

    /// The reason of the 1009 close that refuses a message over `limit` bytes —
    /// `message exceeds limit of 1048576 bytes` — in the form ``namedLimit`` reads back. Every
    /// 1009 Holdfast sends for a message, and every refusal before sending, uses these words.
    public static func messageTooBigReason(limit: Int) -> String {
        "message exceeds limit of \(limit) bytes"
    }

    /// The reason of the 1009 close that refuses a frame over `limit` bytes —
    /// `frame exceeds limit of 65536 bytes` — in the form ``namedLimit`` reads back.
    public static func frameTooBigReason(limit: Int) -> String {
        "frame exceeds limit of \(limit) bytes"
    }

    /// The byte limit a 1009 close names in its reason, as ``messageTooBigReason(limit:)``
    /// writes it: the first number followed by ` bytes`.
    public var namedLimit: Int? {
        guard code == .messageTooBig else { return nil }
        let words = reason.split(separator: " ")
        for (index, word) in words.enumerated() where index + 1 < words.count {
            if let value = Int(word), value > 0, words[index + 1].hasPrefix("byte") { return value }
        }
        return nil
    }

    /// The retry hint a shutting-down Holdfast server puts in its reason — `retry in 1500 ms` —
    /// so that its clients come back spread out rather than all at once.
    public var retryHint: Duration? {
        let words = reason.split(separator: " ")
        for index in words.indices.dropLast(2) where words[index] == "retry" && words[index + 1] == "in" {
            let amount = words[index + 2]
            if let milliseconds = Int(amount), milliseconds >= 0, index + 3 < words.count,
               words[index + 3].hasPrefix("ms") {
                return .milliseconds(milliseconds)
            }
        }
        return nil
    }

    /// A reason with a retry hint appended in the form ``retryHint`` reads. A reason too long to
    /// leave room for the hint within 123 bytes is shortened, so that the hint is never cut off.
    public static func reason(_ reason: String, retryIn delay: Duration) -> String {
        let milliseconds = ReconnectPolicy.nanoseconds(delay) / 1_000_000
        let hint = "retry in \(milliseconds) ms"
        guard !reason.isEmpty else { return hint }
        let room = max(0, maximumReasonLength - hint.utf8.count - 2)
        return "\(truncatedReason(reason, maximumLength: room)); \(hint)"
    }

    /// Cuts `reason` to at most 123 UTF-8 bytes without splitting a scalar.
    public static func truncatedReason(_ reason: String) -> String {
        truncatedReason(reason, maximumLength: maximumReasonLength)
    }

    private static func truncatedReason(_ reason: String, maximumLength: Int) -> String {
        let utf8 = reason.utf8
        guard utf8.count > maximumLength else { return reason }
        var end = utf8.index(utf8.startIndex, offsetBy: maximumLength)
        // Step back over continuation bytes (10xxxxxx) to the start of the scalar that was cut.
        while end > utf8.startIndex, utf8[end] & 0xC0 == 0x80 {
            end = utf8.index(before: end)
        }
        return String(decoding: utf8[utf8.startIndex..<end], as: UTF8.self)
    }

    /// Parses and validates a received close frame's payload.
    ///
    /// RFC 6455 §5.5.1 and §7.4: a body of one byte, or a code that may not appear on the wire, is a
    /// protocol error (1002); a reason that is not UTF-8 is 1007.
    public init(parsing payload: ByteBuffer) throws(WebSocketProtocolError) {
        var payload = payload
        switch payload.readableBytes {
        case 0:
            self.code = nil
            self.reason = ""
            return
        case 1:
            throw .protocolError("close frame with a 1-byte body")
        default:
            break
        }
        guard let raw = payload.readInteger(as: UInt16.self) else {
            throw .protocolError("close frame with a 1-byte body")
        }
        let code = CloseCode(raw)
        guard code.isAllowedOnWire else {
            throw .protocolError("invalid close code \(raw)")
        }
        var validator = UTF8Validator()
        guard validator.validate(payload.readableBytesView), validator.isComplete else {
            throw .invalidPayload("close reason is not valid UTF-8")
        }
        self.code = code
        self.reason = String(buffer: payload)
    }

    /// Writes the close frame body: the code in network order, then the reason.
    public func encode(into buffer: inout ByteBuffer) {
        guard let code else { return }
        buffer.writeInteger(code.rawValue)
        buffer.writeString(reason)
    }

    /// The close frame body as a new buffer.
    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(2 + reason.utf8.count)
        encode(into: &buffer)
        return buffer
    }
}
