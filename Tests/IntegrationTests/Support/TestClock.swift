import NIOConcurrencyHelpers

/// A clock that moves only when the test moves it: `sleep(until:)` suspends until
/// ``advance(by:)`` or ``advanceToNextDeadline()`` carries `now` past the deadline, so a backoff is
/// waited for without the test sleeping.
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol, CustomStringConvertible {
        var offset: Duration

        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        var description: String { "t+\(offset)" }
    }

    private struct Sleeper {
        var id: Int
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var nextID = 0
        var sleepers: [Sleeper] = []
        /// Tasks waiting for someone to sleep (see ``advanceToNextDeadline()``).
        var sleeperWatchers: [CheckedContinuation<Void, Never>] = []
        /// Ids cancelled before their sleeper was registered.
        var cancelled: Set<Int> = []
    }

    private let state = NIOLockedValueBox(State())

    var now: Instant { state.withLockedValue { $0.now } }
    var minimumResolution: Duration { .nanoseconds(1) }

    /// How many tasks are sleeping on this clock.
    var sleeperCount: Int { state.withLockedValue { $0.sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        let id = state.withLockedValue { state -> Int in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Registration { case sleeping([CheckedContinuation<Void, Never>]), due, cancelled }
                let registration = state.withLockedValue { state -> Registration in
                    if state.cancelled.remove(id) != nil { return .cancelled }
                    if deadline <= state.now { return .due }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    defer { state.sleeperWatchers.removeAll() }
                    return .sleeping(state.sleeperWatchers)
                }
                switch registration {
                case .sleeping(let watchers): for watcher in watchers { watcher.resume() }
                case .due: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let sleeper = state.withLockedValue { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves `now` forward by `duration`, waking every sleeper whose deadline has come.
    func advance(by duration: Duration) {
        let due = state.withLockedValue { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Waits until some task sleeps on this clock, then moves `now` to the earliest deadline and
    /// wakes that sleeper. Returns how far the clock moved: the duration that task asked to sleep
    /// (less any time the clock moved while it slept). Throws if the waiting task is cancelled.
    @discardableResult
    func advanceToNextDeadline() async throws -> Duration {
        while true {
            try Task.checkCancellation()
            let next = state.withLockedValue { state in
                state.sleepers.min(by: { $0.deadline < $1.deadline }).map { state.now.duration(to: $0.deadline) }
            }
            if let next {
                advance(by: next)
                return next
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (watcher: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLockedValue { state -> Bool in
                        guard state.sleepers.isEmpty, !Task.isCancelled else { return true }
                        state.sleeperWatchers.append(watcher)
                        return false
                    }
                    if resumeNow { watcher.resume() }
                }
            } onCancel: {
                // Wakes every watcher; those not cancelled look again and wait again.
                let watchers = state.withLockedValue { state in
                    defer { state.sleeperWatchers.removeAll() }
                    return state.sleeperWatchers
                }
                for watcher in watchers { watcher.resume() }
            }
        }
    }
}
