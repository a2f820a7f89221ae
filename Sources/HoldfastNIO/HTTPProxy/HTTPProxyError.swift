import HoldfastCore

/// Why a tunnel through an ``HTTPProxy`` could not be opened: the proxy refused the `CONNECT`
/// (with its status), answered something that is not HTTP, or went away.
public struct HTTPProxyError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Failure: Sendable, Hashable {
        case refused(status: Int, reasonPhrase: String)
        case invalidResponse(String)
        case responseHeadTooLarge(limit: Int)
        case closed
        case timedOut(milliseconds: Int64)
    }

    private let failure: Failure
    /// The proxy, as `host:port`.
    public let proxy: String
    /// The target of the `CONNECT`, as `host:port`.
    public let target: String

    private init(_ failure: Failure, proxy: String, target: String) {
        self.failure = failure
        self.proxy = proxy
        self.target = target
    }

    /// The proxy answered the `CONNECT` with a status other than 2xx (407: it wants credentials
    /// or refused them; 403: it does not allow the target; 502: it could not reach the target).
    public static func refused(status: Int, reasonPhrase: String, proxy: String, target: String) -> Self {
        Self(.refused(status: status, reasonPhrase: reasonPhrase), proxy: proxy, target: target)
    }

    /// The proxy's answer is not an HTTP response.
    public static func invalidResponse(_ detail: String, proxy: String, target: String) -> Self {
        Self(.invalidResponse(detail), proxy: proxy, target: target)
    }

    /// The proxy's response head is larger than the client reads.
    public static func responseHeadTooLarge(limit: Int, proxy: String, target: String) -> Self {
        Self(.responseHeadTooLarge(limit: limit), proxy: proxy, target: target)
    }

    /// The proxy closed the connection before answering.
    public static func closed(proxy: String, target: String) -> Self {
        Self(.closed, proxy: proxy, target: target)
    }

    /// The proxy did not answer in time.
    public static func timedOut(after milliseconds: Int64, proxy: String, target: String) -> Self {
        Self(.timedOut(milliseconds: milliseconds), proxy: proxy, target: target)
    }

    /// The HTTP status the proxy refused with, if it did.
    public var status: Int? {
        if case .refused(let status, _) = failure { return status }
        return nil
    }

    public var description: String {
        let subject = "proxy \(proxy) (CONNECT \(target))"
        switch failure {
        case .refused(let status, let reasonPhrase):
            // The proxy's phrase is its own text: printed with its control characters escaped.
            let phrase = reasonPhrase.isEmpty ? "" : " \(reasonPhrase.escapingControlCharacters)"
            let advice = status == 407 ? ": it wants credentials (http://user:password@host:port) or refused those sent" : ""
            return "\(subject) refused with HTTP \(status)\(phrase)\(advice)"
        case .invalidResponse(let detail):
            return "\(subject) answered something that is not an HTTP response: \(detail.escapingControlCharacters)"
        case .responseHeadTooLarge(let limit):
            return "\(subject) sent a response head over \(limit) bytes"
        case .closed:
            return "\(subject) closed the connection before answering"
        case .timedOut(let milliseconds):
            return "\(subject) did not answer within \(milliseconds) ms"
        }
    }
}
