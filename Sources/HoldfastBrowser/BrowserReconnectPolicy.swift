import HoldfastCore

/// A `ReconnectPolicy` as `holdfast.js` reads it: the figures in milliseconds, and which close
/// codes are retried and which widen the first backoff, found by asking the policy about every
/// code from 1000 to 4999. The browser client and the Swift client therefore retry after the
/// same endings, a custom `shouldRetry` included, and cannot drift apart: the served module
/// embeds this, it keeps no table of its own.
///
/// A browser never sees the HTTP status of a refused upgrade nor the cause of a failed connect:
/// both reach a page as 1006, which the policy retries.
public struct BrowserReconnectPolicy: Encodable, Sendable, Hashable {
    /// `ReconnectPolicy.initialDelay`.
    public var initialDelayMs: Int64
    /// `ReconnectPolicy.serverRestartInitialDelay`.
    public var serverRestartInitialDelayMs: Int64
    /// `ReconnectPolicy.minimumRetryHint`.
    public var minimumRetryHintMs: Int64
    /// `ReconnectPolicy.multiplier`.
    public var multiplier: Double
    /// `ReconnectPolicy.maximumDelay`.
    public var maximumDelayMs: Int64
    /// `ReconnectPolicy.resetAfter`.
    public var resetAfterMs: Int64
    /// `ReconnectPolicy.maximumAttempts`; `nil`: never give up.
    public var maximumAttempts: Int?
    /// The close codes (1000–4999) after which the client connects again.
    public var retriedCloseCodes: [Int]
    /// The close codes whose first backoff is ``serverRestartInitialDelayMs``.
    public var serverRestartCloseCodes: [Int]
    /// The code the client closes with when its page is hidden or unloaded: 4001.
    public var pageLeftCode: Int
    /// The reason sent with ``pageLeftCode``.
    public var pageLeftReason: String

    /// The browser's view of `policy`.
    public init(_ policy: ReconnectPolicy = ReconnectPolicy()) {
        func milliseconds(_ duration: Duration) -> Int64 {
            let (seconds, attoseconds) = duration.components
            return seconds * 1000 + attoseconds / 1_000_000_000_000_000
        }
        initialDelayMs = milliseconds(policy.initialDelay)
        serverRestartInitialDelayMs = milliseconds(policy.serverRestartInitialDelay)
        minimumRetryHintMs = milliseconds(policy.minimumRetryHint)
        multiplier = policy.multiplier
        maximumDelayMs = milliseconds(policy.maximumDelay)
        resetAfterMs = milliseconds(policy.resetAfter)
        maximumAttempts = policy.maximumAttempts
        let endings = (UInt16(1000)...4999).map { code in
            (code: Int(code), ending: ReconnectPolicy.Disconnection.closed(
                CloseOutcome(sent: nil, received: CloseFrame(code: CloseCode(code)))))
        }
        retriedCloseCodes = endings.filter { policy.isRetryable($0.ending) }.map(\.code)
        serverRestartCloseCodes = endings.filter {
            policy.initialDelay(after: $0.ending) == policy.serverRestartInitialDelay
                && policy.serverRestartInitialDelay != policy.initialDelay
        }.map(\.code)
        pageLeftCode = Int(CloseCode.pageLeft.rawValue)
        pageLeftReason = "page left"
    }
}
