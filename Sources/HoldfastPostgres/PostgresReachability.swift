import HoldfastChannels
import HoldfastCore
import Logging
import Metrics
import NIOConcurrencyHelpers
import PostgresNIO

/// Whether PostgreSQL can be reached, decided from what operations see: a connection that
/// failed marks it unreachable, and from then on operations fail at once (a publish gets the
/// retryable `store-unavailable` in milliseconds, not after a connect timeout) while one probe
/// tries again with full-jitter backoff, 50 ms doubling to 5 s, until a query succeeds.
///
/// Metrics: the gauge `holdfast_postgres_reachable` (1 or 0) and the counter
/// `holdfast_postgres_outages_total`, with the dimension `store` (`channels`, `transfers`).
final class PostgresReachability: Sendable {
    private struct State {
        var problem: String?
        var probing = false
        var closed = false
    }

    private let state = NIOLockedValueBox(State())
    private let logger: Logger
    /// Runs the probe's query; the store passes one on its pool.
    private let probe: @Sendable () async throws -> Void

    private let reachableGauge: Gauge
    private let outages: Counter

    /// Reachability of the store named `store` in metrics, tried again with `probe`.
    init(store: String, logger: Logger, probe: @escaping @Sendable () async throws -> Void) {
        self.logger = logger
        self.probe = probe
        self.reachableGauge = Gauge(label: "holdfast_postgres_reachable", dimensions: [("store", store)])
        self.outages = Counter(label: "holdfast_postgres_outages_total", dimensions: [("store", store)])
        reachableGauge.record(1)
    }

    /// What failed, while PostgreSQL cannot be reached; `nil` when it can.
    var problem: String? { state.withLockedValue { $0.problem } }

    /// Throws `ChannelStoreError.unavailable` at once while PostgreSQL cannot be reached.
    func check() throws(ChannelStoreError) {
        if let problem { throw .unavailable(problem) }
    }

    /// Records `error` from an operation: a failed connection (or a server going down) makes the
    /// store unreachable and starts the probe; an error of the statement itself does not.
    /// Returns the error to throw.
    func failed(_ error: any Error, doing what: String) -> ChannelStoreError {
        if let storeError = error as? ChannelStoreError { return storeError }
        if error is CancellationError { return .unavailable("cancelled while trying to \(what)") }
        let reason = "PostgreSQL: cannot \(what): \(PostgresFailure.readable(error))"
        guard Self.isConnectionFailure(error) else { return .unavailable(reason) }
        let startProbe = state.withLockedValue { state -> Bool in
            if state.problem == nil { state.problem = reason }
            defer { state.probing = true }
            return !state.probing && !state.closed
        }
        if startProbe {
            reachableGauge.record(0)
            outages.increment()
            logger.warning("PostgreSQL is out of reach; publishes are refused (retryable) until it is back",
                           metadata: ["error": "\(reason)"])
            Task { await probeUntilReached() }
        }
        return .unavailable(reason)
    }

    /// Stops probing.
    func close() {
        state.withLockedValue { $0.closed = true }
    }

    private func probeUntilReached() async {
        var attempt = 0
        while !state.withLockedValue({ $0.closed }) {
            await sleepBeforeRetry(attempt)
            attempt += 1
            do {
                try await probe()
                state.withLockedValue {
                    $0.problem = nil
                    $0.probing = false
                }
                reachableGauge.record(1)
                logger.notice("PostgreSQL is reachable again", metadata: ["attempts": "\(attempt)"])
                return
            } catch {
                state.withLockedValue { $0.problem = "PostgreSQL: out of reach: \(PostgresFailure.readable(error))" }
            }
        }
    }

    /// Whether `error` means the connection (or the server) failed, rather than the statement.
    static func isConnectionFailure(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return true }
        guard error.code == .server else { return true }
        // SQLSTATE classes 08 (connection exception) and 57 (operator intervention: the server
        // shutting down or starting), and 53 (insufficient resources: too many connections).
        let state = error.serverInfo?[.sqlState] ?? ""
        return state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("53")
    }
}

/// Waits before another attempt to reach PostgreSQL: full jitter, up to 50 ms doubling per
/// failed attempt to 5 s, at least 50 ms.
func sleepBeforeRetry(_ attempt: Int) async {
    let ceiling = min(5.0, 0.05 * Double(1 << min(attempt, 10)))
    try? await Task.sleep(for: .milliseconds(Int(Double.random(in: 0.05...max(0.05, ceiling)) * 1000)))
}

/// Runs `operation`, but gives up after `limit`, or when the calling task is cancelled (a hub
/// shutting down does not wait for a trim stuck on a dead connection): the caller gets
/// ``TimedOut`` or `CancellationError` and the operation is cancelled (a connection it waits for
/// is no longer asked for; a transaction that checks for cancellation rolls back) and finishes on
/// its own.
func withTimeLimit<Result: Sendable>(_ limit: Duration,
                                     _ operation: @escaping @Sendable () async throws -> Result) async throws -> Result {
    let waiter = NIOLockedValueBox(TimeLimitWaiter<Result>())
    let finish: @Sendable (Swift.Result<Result, any Error>) -> Void = { result in
        let (continuation, work, timer) = waiter.withLockedValue { state in
            defer { state.continuation = nil }
            return (state.continuation, state.work, state.timer)
        }
        guard let continuation else { return }
        if case .failure = result { work?.cancel() }
        timer?.cancel()
        continuation.resume(with: result)
    }
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            let cancelledAlready = waiter.withLockedValue { state in
                state.continuation = continuation
                return state.cancelled
            }
            guard !cancelledAlready else { return finish(.failure(CancellationError())) }
            let timer = Task {
                guard (try? await Task.sleep(for: limit)) != nil else { return }
                finish(.failure(TimedOut(limit: limit)))
            }
            let work = Task {
                do { finish(.success(try await operation())) } catch { finish(.failure(error)) }
            }
            waiter.withLockedValue { state in
                state.timer = timer
                state.work = work
            }
        }
    } onCancel: {
        waiter.withLockedValue { $0.cancelled = true }
        finish(.failure(CancellationError()))
    }
}

/// The caller of ``withTimeLimit(_:_:)``, until the first of the result, the time limit and
/// cancellation resumes it, and the tasks to cancel then.
private struct TimeLimitWaiter<Result: Sendable> {
    var continuation: CheckedContinuation<Result, any Error>?
    var cancelled = false
    var work: Task<Void, Never>?
    var timer: Task<Void, Never>?
}

/// An operation on PostgreSQL took longer than its limit.
struct TimedOut: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "PostgreSQL did not answer within \(limit.readableDescription)" }
}
