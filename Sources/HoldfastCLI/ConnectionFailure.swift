import Foundation
import Holdfast

/// Why the tool could not reach a WebSocket server, as one line a person can act on: the URL and
/// a short cause (`cannot connect to ws://127.0.0.1:1/: connection refused`,
/// `cannot connect to wss://localhost:8443/: TLS: certificate is not trusted (…)`), never NIO's dump of
/// an error's fields. Commands that connect (`probe`, `connect`) report failures through it.
enum ConnectionFailure {
    /// The URL checked before any connection: a `ws://` or `wss://` URL, or a one-line error.
    static func checkedURL(_ url: String) throws -> WebSocketURL {
        do {
            return try WebSocketURL(url)
        } catch {
            // Most reasons quote the URL already; the others get it in front.
            throw Terminal.fail(error.reason.contains(url) ? error.reason : "invalid URL '\(url)': \(error.reason)")
        }
    }

    /// The one line for a failed connection to `url`.
    /// A proxy in use is named, since it is the proxy that a refused or timed-out connect was to.
    static func message(connectingTo url: String, through proxy: HTTPProxy? = nil, _ error: any Error) -> String {
        let route = proxy.map { " through proxy \($0)" } ?? ""
        return "cannot connect to \(url)\(route): \(WebSocketClient.describeFailure(error))"
    }
}
