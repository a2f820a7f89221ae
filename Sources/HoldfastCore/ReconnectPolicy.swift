/// When and how soon a reconnecting client connects again: exponential backoff with full jitter,
/// and which endings are worth a retry at all. Pure policy: the caller supplies the random source
/// and does the waiting.
public struct ReconnectPolicy: Sendable {
    /// The first backoff ceiling. Default 250 ms: a restarting server is usually back within a
    /// second, and full jitter spreads the first attempts of many clients over this window.
    public var initialDelay: Duration
    /// The first backoff ceiling after the server said it is going away (1001), restarting
    /// (1012) or overloaded (1013, HTTP 503) without a retry hint. Default 2 s: a server that
    /// restarts needs longer than a network blip, and when it drops every client at once, full
    /// jitter over 2 s brings them back spread over the whole window (half of them after the
    /// first second) instead of within a few hundred milliseconds.
    public var serverRestartInitialDelay: Duration
    /// The shortest retry hint honoured. Default 100 ms: a server's `retry in 0 ms` (or a hint
    /// spoiled by a proxy) must not bring every client back in the same instant.
    public var minimumRetryHint: Duration
    /// The factor the ceiling grows by per failed attempt. Default 2, the usual doubling.
    public var multiplier: Double
    /// The largest ceiling. Default 30 s: a client keeps trying about twice a minute during a
    /// long outage without hammering the server.
    public var maximumDelay: Duration
    /// Reconnection attempts (not counting the first connection) after which the client gives
    /// up; `nil` (the default) never gives up, as a long-lived client should not stop on its own.
    public var maximumAttempts: Int?
    /// A connection that stayed up this long resets the backoff to its start. Default 10 s: long
    /// enough that a server accepting and at once dropping connections is still backed off.
    public var resetAfter: Duration
    /// Overrides the built-in classification: return `true` to retry, `false` to stop, `nil` to
    /// keep the default. Codes 3000–4999 are not retried unless this says so.
    public var shouldRetry: (@Sendable (Disconnection) -> Bool?)?

    /// Creates a policy; every parameter defaults as documented on its property.
    public init(initialDelay: Duration = .milliseconds(250), serverRestartInitialDelay: Duration = .seconds(2),
                minimumRetryHint: Duration = .milliseconds(100), multiplier: Double = 2,
                maximumDelay: Duration = .seconds(30), maximumAttempts: Int? = nil,
                resetAfter: Duration = .seconds(10), shouldRetry: (@Sendable (Disconnection) -> Bool?)? = nil) {
        self.initialDelay = initialDelay
        self.serverRestartInitialDelay = serverRestartInitialDelay
        self.minimumRetryHint = minimumRetryHint
        self.multiplier = multiplier
        self.maximumDelay = maximumDelay
        self.maximumAttempts = maximumAttempts
        self.resetAfter = resetAfter
        self.shouldRetry = shouldRetry
    }

    /// How a connection, or an attempt at one, ended.
    public enum Disconnection: Sendable, Hashable {
        /// The connection closed (cleanly or not) as `outcome` tells.
        case closed(CloseOutcome)
        /// The server answered the upgrade with this HTTP status.
        case rejected(status: Int)
        /// The TCP connection or the handshake failed (refused, unreachable, timed out).
        case connectFailed(String)
        /// The server's TLS certificate was refused (not trusted, or for another host): the
        /// reason says which.
        case certificateRejected(String)
    }

    /// Whether `disconnection` is worth another attempt.
    ///
    /// Retried: 1001 (going away), 1006 (no close frame), 1011, 1012, 1013, 1014, a 1005 close,
    /// HTTP 5xx and network failures — what a restart, an overload or an outage looks like.
    /// Also 1009: the reconnect learns the peer's limit again. Not retried: 1000 (done), 1002,
    /// 1003, 1007, 1008, 1010, HTTP 4xx and a refused certificate — the same attempt would fail
    /// the same way — nor 3000–4999 unless ``shouldRetry`` says so.
    public func isRetryable(_ disconnection: Disconnection) -> Bool {
        if let decision = shouldRetry?(disconnection) { return decision }
        switch disconnection {
        case .connectFailed:
            return true
        case .certificateRejected:
            return false
        case .rejected(let status):
            return status >= 500
        case .closed(let outcome):
            switch outcome.code.rawValue {
            case 1001, 1005, 1006, 1009, 1011, 1012, 1013, 1014: return true
            default: return false
            }
        }
    }

    /// The backoff before attempt `attempt` (0 for the first retry) after `disconnection`:
    /// uniform in `0 ... min(maximumDelay, first × multiplier^attempt)` ("full jitter"), so that
    /// many clients dropped at once do not come back at once. `first` is
    /// ``initialDelay(after:)``: wider after a server's going away than after a network failure.
    /// - Parameters:
    ///   - attempt: the retry this delay comes before, from 0.
    ///   - disconnection: the ending retried; `nil`: a network failure's.
    ///   - random: where the jitter comes from (tests pass a seeded generator).
    public func delay(forAttempt attempt: Int, after disconnection: Disconnection? = nil,
                      using random: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(forAttempt: attempt, after: disconnection)
        let nanoseconds = Self.nanoseconds(ceiling)
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0...nanoseconds, using: &random))
    }

    /// How long to wait after a server's retry hint (`retry in N ms`): the hint, raised to
    /// ``minimumRetryHint`` and held to ``maximumDelay``.
    public func delay(honouring hint: Duration) -> Duration {
        min(max(hint, minimumRetryHint), maximumDelay)
    }

    /// The first backoff ceiling after `disconnection`: ``serverRestartInitialDelay`` when the
    /// server said it is going away, restarting or overloaded (1001, 1012, 1013, HTTP 503), else
    /// ``initialDelay``.
    public func initialDelay(after disconnection: Disconnection) -> Duration {
        switch disconnection {
        case .closed(let outcome) where [.goingAway, .serviceRestart, .tryAgainLater].contains(outcome.code):
            return serverRestartInitialDelay
        case .rejected(status: 503):
            return serverRestartInitialDelay
        case .closed, .rejected, .connectFailed, .certificateRejected:
            return initialDelay
        }
    }

    /// The upper bound of the backoff before attempt `attempt` after `disconnection` (`nil`: a
    /// network failure's).
    public func ceiling(forAttempt attempt: Int, after disconnection: Disconnection? = nil) -> Duration {
        let growth = power(multiplier, max(0, attempt))
        let first = disconnection.map(initialDelay(after:)) ?? initialDelay
        let initial = Double(Self.nanoseconds(first))
        let maximum = Self.nanoseconds(maximumDelay)
        let scaled = initial * growth
        guard scaled.isFinite, scaled < Double(maximum) else { return maximumDelay }
        return .nanoseconds(Int64(scaled))
    }

    /// Whether `attempts` attempts have used up ``maximumAttempts``.
    public func hasGivenUp(afterAttempts attempts: Int) -> Bool {
        maximumAttempts.map { attempts >= $0 } ?? false
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000
    }
}

/// `base` raised to `exponent` by repeated squaring (the core does not import Foundation).
private func power(_ base: Double, _ exponent: Int) -> Double {
    var result = 1.0
    var factor = base
    var remaining = exponent
    while remaining > 0 {
        if remaining & 1 == 1 { result *= factor }
        factor *= factor
        remaining >>= 1
    }
    return result
}
