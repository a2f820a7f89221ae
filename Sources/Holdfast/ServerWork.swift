import NIOConcurrencyHelpers
import NIOCore

/// The work a running server does in tasks: connection handlers and deferred upgrade decisions,
/// queued from event-loop callbacks and run as child tasks of ``WebSocketServer/run()``.
///
/// An event-loop callback must not start a task of its own (it would outlive the server); it
/// queues the work here instead, and the server's task group takes it. Every job queued before
/// ``finish()`` is handed out, even to a cancelled server (where it starts cancelled), so a job
/// that completes a promise always does.
final class ServerWork: Sendable {
    typealias Job = @Sendable () async -> Void

    private struct State {
        var queue = CircularBuffer<Job>()
        var waiter: CheckedContinuation<Job?, Never>?
        var finished = false
    }

    private let state = NIOLockedValueBox(State())

    /// Queues `job`; `false` when the server has stopped taking work (the job is dropped).
    func start(_ job: @escaping Job) -> Bool {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Job?, Never>?? in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return .some(waiter)
            }
            state.queue.append(job)
            return .some(nil)
        }
        guard let waiter else { return false }
        waiter?.resume(returning: job)
        return true
    }

    /// The next job; `nil` once ``finish()`` was called and every queued job was handed out.
    /// One consumer at a time.
    func next() async -> Job? {
        await withCheckedContinuation { continuation in
            let ready = state.withLockedValue { state -> Job?? in
                if let job = state.queue.popFirst() { return .some(job) }
                if state.finished { return .some(nil) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Takes no more work; what is queued is still handed out.
    func finish() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Job?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.queue.isEmpty ? state.waiter : nil
        }
        waiter?.resume(returning: nil)
    }
}
