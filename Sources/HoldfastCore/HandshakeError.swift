import NIOHTTP1

/// Why an opening handshake failed, with the HTTP status involved.
///
/// On the server it is the answer sent instead of `101 Switching Protocols`; on the client it
/// describes the server's answer, so that a caller can tell a refusal (4xx) from an outage (5xx).
public struct HandshakeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status: sent by a server refusing the upgrade, or received by a client.
    public var status: HTTPResponseStatus?
    /// What was wrong, for a person to act on.
    public var reason: String
    /// Extra headers a refusing server sends (e.g. `Sec-WebSocket-Version: 13` with a 426).
    public var headers: HTTPHeaders

    /// Creates a handshake error.
    public init(status: HTTPResponseStatus?, reason: String, headers: HTTPHeaders = [:]) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    public var description: String {
        // Both the reason and the phrase may come from the server: printed with their control
        // characters escaped.
        let reason = reason.escapingControlCharacters
        guard let status else { return "WebSocket handshake failed: \(reason)" }
        return "WebSocket handshake failed: \(reason) (HTTP \(status.code) \(status.reasonPhrase.escapingControlCharacters))"
    }

    /// The HTTP header value lists of RFC 9110 §5.6.1: whether `name` holds `token`, ignoring case.
    static func headers(_ headers: HTTPHeaders, name: String, containToken token: String) -> Bool {
        headers[canonicalForm: name].contains { $0.lowercased() == token }
    }
}
