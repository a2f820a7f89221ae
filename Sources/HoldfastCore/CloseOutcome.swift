/// How a connection ended: the close frames each side sent, and the code that ended it.
public struct CloseOutcome: Sendable, Hashable, CustomStringConvertible {
    /// The close frame this endpoint sent, if any.
    public var sent: CloseFrame?
    /// The close frame the peer sent, if any.
    public var received: CloseFrame?
    /// Whether this endpoint failed the connection because of the peer's bad input or a limit.
    public var failedByUs: Bool
    /// Whether the peer started the close handshake: its close frame came first and ours answered
    /// it. A server tells a client that left (a browser page's 1001 or `holdfast.js`'s 4001) from
    /// its own 1001 answered by the client.
    public var peerClosedFirst: Bool

    /// Creates an outcome from the frames exchanged; `failedByUs` and `peerClosedFirst` default to
    /// `false`, the case of a close this endpoint started and the peer answered.
    public init(sent: CloseFrame?, received: CloseFrame?, failedByUs: Bool = false, peerClosedFirst: Bool = false) {
        self.sent = sent
        self.received = received
        self.failedByUs = failedByUs
        self.peerClosedFirst = peerClosedFirst
    }

    /// Whether the peer left of its own accord: it started the close with 1001 Going Away or 4001
    /// (``CloseCode/pageLeft``). On a server, a client that went away — a browser unloading its
    /// page, `holdfast.js` on `pagehide` — which servers count apart from failures; on a client,
    /// a server that went away first.
    public var isDeparture: Bool {
        guard peerClosedFirst, let code = received?.code else { return false }
        return code == .goingAway || code == .pageLeft
    }

    /// The code that ended the connection: the one this endpoint sent when it failed the
    /// connection, else the peer's (1005 for an empty close frame), else 1006 when no close
    /// frame arrived at all.
    public var code: CloseCode {
        if failedByUs, let sent { return sent.effectiveCode }
        return received?.effectiveCode ?? .abnormalClosure
    }

    /// The reason that goes with ``code``.
    public var reason: String {
        if failedByUs, let sent { return sent.reason }
        return received?.reason ?? ""
    }

    /// Whether both close frames were exchanged (RFC 6455 §7.1.4, "cleanly closed").
    public var wasClean: Bool { sent != nil && received != nil }

    public var description: String {
        // The reason is the peer's text: printed with its control characters escaped.
        reason.isEmpty ? "\(code)" : "\(code): \(reason.escapingControlCharacters)"
    }
}
