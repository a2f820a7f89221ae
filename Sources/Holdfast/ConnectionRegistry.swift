import HoldfastCore
import HoldfastNIO
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The server's open connections and shutdown state, shared by its tasks.
final class ConnectionRegistry: Sendable {
    private struct State {
        var open: [Int: NIOLoopBound<WebSocketChannelHandler>] = [:]
        var nextID = 0
        var listener: (any Channel)?
        var draining = false
        var drained: Set<Int> = []
        var report = ShutdownReport(closedCleanly: 0, cut: 0)
        var finished = false
        var waiters: [CheckedContinuation<ShutdownReport, Never>] = []
        var emptyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    var isDraining: Bool { state.withLockedValue { $0.draining } }

    /// Records the listening channel; `false` when a shutdown already began.
    func listening(on channel: any Channel) -> Bool {
        state.withLockedValue { state in
            state.listener = channel
            return !state.draining
        }
    }

    /// What ``register(_:limit:)`` made of a connection.
    enum Registration {
        /// Registered under this id.
        case registered(Int)
        /// Not registered: a shutdown began.
        case draining
        /// Not registered: `limit` connections are open.
        case full
    }

    /// The number of open connections.
    var openCount: Int { state.withLockedValue { $0.open.count } }

    /// Registers an open connection, unless draining or `limit` are open already.
    func register(_ handler: NIOLoopBound<WebSocketChannelHandler>, limit: Int?) -> Registration {
        state.withLockedValue { state in
            guard !state.draining else { return .draining }
            if let limit, state.open.count >= limit { return .full }
            let id = state.nextID
            state.nextID += 1
            state.open[id] = handler
            return .registered(id)
        }
    }

    /// Waits until every registered connection has ended.
    func waitUntilNoneOpen() async {
        await withCheckedContinuation { continuation in
            let done = state.withLockedValue { state -> Bool in
                guard !state.open.isEmpty else { return true }
                state.emptyWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Closes every connection's TCP at once (a cancelled server).
    func abortAll() {
        let open = state.withLockedValue { Array($0.open.values) }
        for handler in open {
            handler.eventLoop.execute { handler.value.abort() }
        }
    }

    /// Marks the start of a shutdown; returns the listener and the open connections, or `nil`
    /// when a shutdown already began.
    func beginDraining() -> ((any Channel)?, [NIOLoopBound<WebSocketChannelHandler>])? {
        state.withLockedValue { state in
            guard !state.draining else { return nil }
            state.draining = true
            state.drained = Set(state.open.keys)
            return (state.listener, Array(state.open.values))
        }
    }

    /// A connection ended; those open when the shutdown began are counted in the report.
    func ended(_ id: Int, outcome: CloseOutcome) {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.open[id] = nil
            if state.drained.remove(id) != nil {
                if outcome.wasClean {
                    state.report.closedCleanly += 1
                } else {
                    state.report.cut += 1
                }
            }
            guard state.open.isEmpty else { return [] }
            let waiters = state.emptyWaiters
            state.emptyWaiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The server has stopped: hand the report to whoever waits for it. Only the first call
    /// counts.
    func finish(logger: Logger) {
        let finished = state.withLockedValue { state in
            defer { state.finished = true }
            return state.finished
        }
        guard !finished else { return }
        let (report, waiters, draining) = state.withLockedValue { state in
            let waiters = state.waiters
            state.waiters.removeAll()
            return (state.report, waiters, state.draining)
        }
        if draining {
            logger.info("shut down", metadata: ["closedCleanly": "\(report.closedCleanly)", "cut": "\(report.cut)"])
        }
        for waiter in waiters { waiter.resume(returning: report) }
    }

    func waitForReport() async -> ShutdownReport {
        await withCheckedContinuation { continuation in
            let report: ShutdownReport? = state.withLockedValue { state in
                guard state.finished else {
                    state.waiters.append(continuation)
                    return nil
                }
                return state.report
            }
            if let report { continuation.resume(returning: report) }
        }
    }
}
