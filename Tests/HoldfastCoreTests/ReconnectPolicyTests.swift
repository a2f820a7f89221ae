import HoldfastCore
import HoldfastTestSupport
import Testing

/// Backoff with full jitter, retry classification, and the retry hint of a shutting-down server.
struct ReconnectPolicyTests {
    /// An outcome whose ``CloseOutcome/code`` is `code`, as a client sees the server's close.
    static func closed(_ code: UInt16) -> ReconnectPolicy.Disconnection {
        .closed(CloseOutcome(sent: CloseFrame(code: CloseCode(code)), received: CloseFrame(code: CloseCode(code))))
    }

    // MARK: - Backoff

    @Test("ceilings start at initialDelay, grow by the multiplier and stop at maximumDelay")
    func ceilings() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), multiplier: 2, maximumDelay: .seconds(1))
        let ceilings = (0..<7).map { policy.ceiling(forAttempt: $0) }
        #expect(ceilings == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                             .seconds(1), .seconds(1), .seconds(1)])
        // Growth that overflows a Double (or an Int64 of nanoseconds) is capped, never wrapped.
        #expect(policy.ceiling(forAttempt: 2000) == .seconds(1))
        #expect(policy.ceiling(forAttempt: 63) == .seconds(1))
        // A negative attempt is treated as the first.
        #expect(policy.ceiling(forAttempt: -3) == .milliseconds(100))

        let slow = ReconnectPolicy(initialDelay: .milliseconds(250), multiplier: 1.5, maximumDelay: .seconds(1))
        #expect((0..<5).map { slow.ceiling(forAttempt: $0) }
                == [.milliseconds(250), .microseconds(375_000), .microseconds(562_500), .microseconds(843_750),
                    .seconds(1)])
    }

    @Test("the defaults: 250 ms doubling up to 30 s, never giving up, reset after 10 s")
    func defaults() {
        let policy = ReconnectPolicy()
        #expect(policy.initialDelay == .milliseconds(250))
        #expect(policy.multiplier == 2)
        #expect(policy.maximumDelay == .seconds(30))
        #expect(policy.maximumAttempts == nil)
        #expect(policy.resetAfter == .seconds(10))
        #expect(policy.ceiling(forAttempt: 6) == .seconds(16))
        #expect(policy.ceiling(forAttempt: 7) == .seconds(30))
    }

    @Test("full jitter: every delay lies in 0 ... ceiling and the delays cover that range", arguments: [1, 42, 2024])
    func fullJitter(seed: UInt64) {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), multiplier: 2, maximumDelay: .seconds(2))
        var random = SeededRandomNumberGenerator(seed: seed)
        for attempt in 0..<8 {
            let ceiling = policy.ceiling(forAttempt: attempt)
            let delays = (0..<500).map { _ in policy.delay(forAttempt: attempt, using: &random) }
            #expect(delays.allSatisfy { $0 >= .zero && $0 <= ceiling }, "attempt \(attempt)")
            // Uniform over the whole window, not clustered at the ceiling ("equal jitter") or at 0.
            #expect(delays.min()! < ceiling / 10, "attempt \(attempt)")
            #expect(delays.max()! > ceiling * 9 / 10, "attempt \(attempt)")
            #expect(Set(delays).count > 450, "attempt \(attempt): delays should hardly repeat")
        }
    }

    @Test("a server going away, restarting or overloaded gets a first window of 2 s; a network failure 250 ms")
    func firstWindowPerEnding() {
        let policy = ReconnectPolicy()
        for code: UInt16 in [1001, 1012, 1013] {
            #expect(policy.initialDelay(after: Self.closed(code)) == .seconds(2), "\(code)")
            #expect(policy.ceiling(forAttempt: 1, after: Self.closed(code)) == .seconds(4), "\(code)")
        }
        #expect(policy.initialDelay(after: .rejected(status: 503)) == .seconds(2))
        for ending in [Self.closed(1006), Self.closed(1011), .rejected(status: 502), .connectFailed("refused")] {
            #expect(policy.initialDelay(after: ending) == .milliseconds(250), "\(ending)")
        }
        #expect(policy.ceiling(forAttempt: 0) == .milliseconds(250))
    }

    @Test("100 clients sent 1001 without a hint come back spread over more than a second", arguments: [1, 42, 2024])
    func massGoingAwaySpreads(seed: UInt64) {
        var random = SeededRandomNumberGenerator(seed: seed)
        let policy = ReconnectPolicy()
        let delays = (0..<100).map { _ in policy.delay(forAttempt: 0, after: Self.closed(1001), using: &random) }.sorted()
        // The middle 80 %: from the 10th to the 90th delay.
        #expect(delays[89] - delays[10] > .seconds(1))
        // No 50 ms window holds more than a tenth of them.
        let busiest = delays.indices.map { start in delays[start...].prefix { $0 - delays[start] < .milliseconds(50) }.count }.max()
        #expect((busiest ?? 0) <= 10)
    }

    @Test("a retry hint is raised to the 100 ms floor and held to the maximum delay")
    func retryHintBounds() {
        let policy = ReconnectPolicy(maximumDelay: .seconds(30))
        #expect(policy.delay(honouring: .zero) == .milliseconds(100))
        #expect(policy.delay(honouring: .milliseconds(10)) == .milliseconds(100))
        #expect(policy.delay(honouring: .milliseconds(1500)) == .milliseconds(1500))
        #expect(policy.delay(honouring: .seconds(90)) == .seconds(30))
    }

    @Test("the same seed gives the same delays; another seed gives others")
    func seededDelaysAreReproducible() {
        let policy = ReconnectPolicy()
        func delays(seed: UInt64) -> [Duration] {
            var random = SeededRandomNumberGenerator(seed: seed)
            return (0..<20).map { policy.delay(forAttempt: $0, using: &random) }
        }
        #expect(delays(seed: 7) == delays(seed: 7))
        #expect(delays(seed: 7) != delays(seed: 8))
    }

    @Test("a zero initial delay retries at once")
    func zeroDelay() {
        let policy = ReconnectPolicy(initialDelay: .zero)
        var random = SeededRandomNumberGenerator(seed: 3)
        #expect((0..<5).map { policy.delay(forAttempt: $0, using: &random) } == Array(repeating: .zero, count: 5))
    }

    // MARK: - Giving up

    @Test("hasGivenUp: never without maximumAttempts; from maximumAttempts on with it")
    func givingUp() {
        let unlimited = ReconnectPolicy()
        #expect(![0, 1, 10, 10_000, Int.max].contains(where: unlimited.hasGivenUp(afterAttempts:)))
        let limited = ReconnectPolicy(maximumAttempts: 3)
        #expect((0...5).map(limited.hasGivenUp(afterAttempts:)) == [false, false, false, true, true, true])
        #expect(ReconnectPolicy(maximumAttempts: 0).hasGivenUp(afterAttempts: 0))
    }

    // MARK: - Classification

    @Test("close codes 1000-1015: what a restart, an outage or an overload ends with is retried; the rest not")
    func closeCodes() {
        let policy = ReconnectPolicy()
        let retried: Set<UInt16> = [1001, 1005, 1006, 1009, 1011, 1012, 1013, 1014]
        for code in UInt16(1000)...1015 {
            #expect(policy.isRetryable(Self.closed(code)) == retried.contains(code), "close \(code)")
        }
        // 1005 and 1006 as they really arise: an empty close frame, and no close frame at all.
        #expect(policy.isRetryable(.closed(CloseOutcome(sent: CloseFrame(code: .normalClosure),
                                                        received: CloseFrame(code: nil)))))
        #expect(policy.isRetryable(.closed(CloseOutcome(sent: nil, received: nil))))
        // A 1008 this endpoint sent when it failed the connection is what counts, not the peer's answer.
        #expect(!policy.isRetryable(.closed(CloseOutcome(sent: CloseFrame(code: .policyViolation),
                                                         received: CloseFrame(code: .goingAway),
                                                         failedByUs: true))))
    }

    @Test("codes 3000-4999 are not retried unless shouldRetry says so")
    func applicationCodes() {
        #expect(!ReconnectPolicy().isRetryable(Self.closed(3000)))
        #expect(!ReconnectPolicy().isRetryable(Self.closed(3999)))
        #expect(!ReconnectPolicy().isRetryable(Self.closed(4000)))
        #expect(!ReconnectPolicy().isRetryable(Self.closed(4999)))

        let retry4000 = ReconnectPolicy(shouldRetry: { disconnection in
            if case .closed(let outcome) = disconnection, outcome.code == CloseCode(4000) { return true }
            return nil
        })
        #expect(retry4000.isRetryable(Self.closed(4000)))
        #expect(!retry4000.isRetryable(Self.closed(3000)), "nil keeps the default")
        #expect(retry4000.isRetryable(Self.closed(1001)), "nil keeps the default")
        #expect(!retry4000.isRetryable(Self.closed(1000)), "nil keeps the default")

        let never = ReconnectPolicy(shouldRetry: { _ in false })
        #expect(!never.isRetryable(Self.closed(1001)), "the closure overrides the built-in classification")
        #expect(!never.isRetryable(.connectFailed("connection refused")))
        let always = ReconnectPolicy(shouldRetry: { _ in true })
        #expect(always.isRetryable(Self.closed(1000)))
        #expect(always.isRetryable(.rejected(status: 403)))
    }

    @Test("HTTP 4xx on the upgrade is not retried, 5xx is; connect failures are")
    func httpAndNetwork() {
        let policy = ReconnectPolicy()
        for status in [400, 401, 403, 404, 426] {
            #expect(!policy.isRetryable(.rejected(status: status)), "HTTP \(status)")
        }
        for status in [500, 502, 503, 504] {
            #expect(policy.isRetryable(.rejected(status: status)), "HTTP \(status)")
        }
        #expect(policy.isRetryable(.connectFailed("connection refused")))
        #expect(policy.isRetryable(.connectFailed("no upgrade response within 10 s")))
        #expect(!policy.isRetryable(.certificateRejected("TLS: certificate is not trusted")))
    }

    // MARK: - Retry hint

    @Test("retryHint reads `retry in N ms` anywhere in the reason", arguments: [
        ("server shutting down; retry in 1500 ms", Duration.milliseconds(1500)),
        ("retry in 0 ms", .zero),
        ("retry in 250 ms, please", .milliseconds(250)),
        ("going away; retry in 30000 ms", .seconds(30)),
    ])
    func retryHintParses(reason: String, hint: Duration) {
        #expect(CloseFrame(code: .goingAway, reason: reason).retryHint == hint)
    }

    @Test("retryHint is nil without a well-formed hint", arguments: [
        "", "server shutting down", "retry in 1500", "retry in ms", "retry in -5 ms", "retry in 1.5 ms",
        "retry in 1500 s", "retry 1500 ms", "in 1500 ms",
    ])
    func retryHintAbsent(reason: String) {
        #expect(CloseFrame(code: .goingAway, reason: reason).retryHint == nil)
    }

    @Test("reason(_:retryIn:) writes a hint that retryHint reads back")
    func retryHintRoundTrip() throws {
        #expect(CloseFrame.reason("server shutting down", retryIn: .milliseconds(1500))
                == "server shutting down; retry in 1500 ms")
        #expect(CloseFrame.reason("", retryIn: .seconds(2)) == "retry in 2000 ms")
        for delay: Duration in [.zero, .milliseconds(1), .milliseconds(999), .seconds(1), .seconds(90)] {
            let frame = CloseFrame(code: .goingAway, reason: CloseFrame.reason("server shutting down", retryIn: delay))
            #expect(frame.retryHint == delay)
            // The hint survives the wire.
            #expect(try CloseFrame(parsing: frame.encoded()).retryHint == delay)
        }
        // Below a millisecond the hint rounds down.
        #expect(CloseFrame(code: .goingAway, reason: CloseFrame.reason("x", retryIn: .microseconds(1500))).retryHint
                == .milliseconds(1))
    }

    @Test("a long shutdown reason is shortened so that the retry hint still fits in the close frame")
    func retryHintSurvivesLongReason() {
        let long = String(repeating: "maintenance window ", count: 10)
        let reason = CloseFrame.reason(long, retryIn: .milliseconds(2500))
        #expect(reason.utf8.count <= CloseFrame.maximumReasonLength)
        let frame = CloseFrame(code: .goingAway, reason: reason)
        #expect(frame.retryHint == .milliseconds(2500))
        #expect(frame.reason.hasPrefix("maintenance window"))
        // Multi-byte scalars are not split when the reason is shortened.
        let accented = CloseFrame.reason(String(repeating: "é", count: 100), retryIn: .seconds(1))
        #expect(accented.utf8.count <= CloseFrame.maximumReasonLength)
        #expect(CloseFrame(code: .goingAway, reason: accented).retryHint == .seconds(1))
        #expect(accented.hasPrefix("éé"))
    }
}
