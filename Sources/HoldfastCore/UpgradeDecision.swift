import NIOHTTP1

/// A server's answer to an upgrade request: accept, handing `Context` to the connection's
/// handler, or reject with an HTTP status.
///
/// `Context` is what the decision learned about the connection — the authenticated user, the
/// room the path names — so that the handler receives it typed instead of parsing the request
/// again. Decisions without one use `UpgradeDecision<Void>`, and write `.accept` and
/// `.accept(subprotocol:headers:configuration:)` without a context.
public enum UpgradeDecision<Context: Sendable>: Sendable {
    /// Upgrade, handing `context` to the connection's handler, selecting `subprotocol` (one the
    /// client offered, or `nil`), adding `headers` to the `101 Switching Protocols` response, and
    /// applying `configuration` (limits, timeouts) to this connection instead of the server's —
    /// per-route limits.
    case accept(_ context: Context, subprotocol: String? = nil, headers: HTTPHeaders = [:],
                configuration: WebSocketConfiguration? = nil)
    /// Refuse with an HTTP status (e.g. 401 Unauthorized, 403 Forbidden, 404 Not Found) and a
    /// short text body; the connection is closed once the answer is out.
    case reject(status: HTTPResponseStatus, reason: String)

    /// The same decision with the accepted context transformed by `transform`; a rejection
    /// stays as it is.
    @inlinable
    public func map<NewContext: Sendable>(_ transform: (Context) throws -> NewContext) rethrows
        -> UpgradeDecision<NewContext>
    {
        switch self {
        case .accept(let context, let subprotocol, let headers, let configuration):
            return .accept(try transform(context), subprotocol: subprotocol, headers: headers,
                           configuration: configuration)
        case .reject(let status, let reason):
            return .reject(status: status, reason: reason)
        }
    }
}

extension UpgradeDecision where Context == Void {
    /// Upgrade with no subprotocol and no extra headers.
    public static var accept: UpgradeDecision<Void> { .accept((), subprotocol: nil, headers: [:], configuration: nil) }

    /// Upgrade, selecting `subprotocol` (one the client offered, or `nil`), adding `headers` to
    /// the `101 Switching Protocols` response, and applying `configuration` (limits, timeouts) to
    /// this connection instead of the server's — per-route limits. Defaults: none of them.
    public static func accept(subprotocol: String? = nil, headers: HTTPHeaders = [:],
                              configuration: WebSocketConfiguration? = nil) -> UpgradeDecision<Void> {
        .accept((), subprotocol: subprotocol, headers: headers, configuration: configuration)
    }
}
