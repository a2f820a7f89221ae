import Foundation
import NIOConcurrencyHelpers

/// Nanoseconds on the monotonic clock. Publisher and subscribers live in this one process, so a
/// timestamp written into a payload at sending can be subtracted from the time it is read.
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// A counting semaphore for tasks: bounds the publishes awaiting their ack, and the
/// subscribers connecting at once (1,000 simultaneous SYNs overflow a listen backlog).
final class Permits: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Bool, Never>] = []
        var head = 0
        var closed = false
    }

    private let state: NIOLockedValueBox<State>

    init(_ count: Int) { state = NIOLockedValueBox(State(available: count)) }

    /// Waits for a permit; `false` once ``close()`` was called (nothing more will be granted).
    @discardableResult
    func acquire() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let answer = state.withLockedValue { state -> Bool? in
                if state.closed { return false }
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return nil
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    /// Wakes every waiter with `false`: what they waited for will not come (the connection ended).
    func close() {
        let waiting = state.withLockedValue { state in
            defer { state.closed = true; state.waiters = []; state.head = 0 }
            return Array(state.waiters[state.head...])
        }
        for waiter in waiting { waiter.resume(returning: false) }
    }

    /// Returns a permit, handing it to the oldest waiter if there is one.
    func release() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
            guard state.head < state.waiters.count else {
                state.available += 1
                return nil
            }
            defer {
                state.head += 1
                if state.head == state.waiters.count { state.waiters = []; state.head = 0 }
            }
            return state.waiters[state.head]
        }
        waiter?.resume(returning: true)
    }
}

/// Publish→deliver latencies in log-linear buckets: exact below 1,024 ns, then 64 buckets per
/// power of two (under 1.6 % error), so 20 million deliveries need a few kilobytes and no sort.
struct LatencyHistogram: Sendable {
    private static let linear = 1024
    private static let subBuckets = 64
    private var counts = [UInt64](repeating: 0, count: linear + 54 * subBuckets)
    private(set) var count: UInt64 = 0
    private(set) var maximum: UInt64 = 0

    private static func bucket(_ value: UInt64) -> Int {
        guard value >= UInt64(linear) else { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount  // ≥ 10
        let sub = Int((value >> UInt64(exponent - 6)) & UInt64(subBuckets - 1))
        return linear + (exponent - 10) * subBuckets + sub
    }

    private static func lowerBound(_ bucket: Int) -> UInt64 {
        guard bucket >= linear else { return UInt64(bucket) }
        let exponent = (bucket - linear) / subBuckets + 10
        let sub = UInt64((bucket - linear) % subBuckets)
        return (UInt64(subBuckets) + sub) << UInt64(exponent - 6)
    }

    mutating func record(_ nanoseconds: UInt64) {
        counts[min(Self.bucket(nanoseconds), counts.count - 1)] += 1
        count += 1
        maximum = max(maximum, nanoseconds)
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        count += other.count
        maximum = max(maximum, other.maximum)
    }

    /// The value at quantile `q` (0…1), in nanoseconds: the lower bound of its bucket.
    func quantile(_ q: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = min(count - 1, UInt64((Double(count) * q).rounded(.down)))
        var seen: UInt64 = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount > 0 {
            seen += bucketCount
            if seen > rank { return Self.lowerBound(index) }
        }
        return maximum
    }
}

/// A failure of the benchmark itself (not a measurement), said to the user.
struct LoadFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A name no earlier run used, so runs against one long-lived server do not meet old history.
func freshChannelPrefix() -> String {
    "bench-" + String(UInt32.random(in: .min ... .max), radix: 16) + "-" + String(monotonicNanoseconds() % 1_000_000, radix: 16)
}
