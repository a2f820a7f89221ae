import NIOCore

/// The idle timeout of one connection: closes it once nothing has arrived for ``timeout``, or
/// once the peer has read nothing for as long while writes wait for it.
///
/// It never reads a clock: receipts and checks come with the time they happened at, and each
/// check answers with the time of the next one.
struct IdleTimeoutStateMachine: Hashable {
    /// What a check decided.
    enum CheckResult: Hashable {
        /// Nothing arrived for the whole timeout: close the connection.
        case elapsed
        /// Writes waited for the whole timeout without the peer reading any: close the
        /// connection as a slow reader.
        case readingStalled
        /// Something arrived since: check again at this time.
        case checkAgain(at: NIODeadline)
    }

    /// How long the connection may stay quiet.
    let timeout: TimeAmount
    /// When bytes last arrived (or the timeout was set, or reading last resumed).
    private(set) var lastReceived: NIODeadline

    /// Starts counting the quiet time at `now`.
    init(timeout: TimeAmount, now: NIODeadline) {
        self.timeout = timeout
        self.lastReceived = now
    }

    /// When the next check is due, counting from the last receipt.
    var nextCheck: NIODeadline { lastReceived + timeout }

    /// Bytes arrived at `now`.
    mutating func bytesReceived(at now: NIODeadline) {
        lastReceived = now
    }

    /// A scheduled check is due at `now`. A peer that has read nothing for the whole timeout
    /// while writes waited (since `writesStalledSince`, when the socket stopped taking them) is a
    /// stalled reader. Otherwise, while this side has stopped reading (a slow consumer, a full
    /// socket) the peer may well be sending: the quiet time counts from when reading resumes.
    mutating func checkDue(now: NIODeadline, readingPaused: Bool, writesStalledSince: NIODeadline? = nil) -> CheckResult {
        if let since = writesStalledSince, now - since >= timeout { return .readingStalled }
        if readingPaused { lastReceived = now }
        if now - lastReceived >= timeout { return .elapsed }
        return .checkAgain(at: writesStalledSince.map { min(nextCheck, $0 + timeout) } ?? nextCheck)
    }
}
