import HoldfastCloseCodes
import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore

/// What one run of a ``WebSocketServer`` gives every connection it accepts, whichever way the
/// connection is handled: registration, so that a shutdown reaches it and its end is counted and
/// logged, and the queue of work for the server's tasks.
struct ServerRun: Sendable {
    let connections: ConnectionRegistry
    let metrics: ServerMetrics
    let logger: Logger
    /// The reason of the 1001 sent to a connection upgraded once a shutdown began.
    let drainReason: String
    let maxConnections: Int?
    /// Handlers and deferred decisions run here, as children of ``WebSocketServer/run()``.
    let work: ServerWork

    /// Registers a connection just upgraded, on its event loop. A connection that completed its
    /// handshake after a shutdown began, or while others filled the server on other threads, is
    /// closed instead (1001 or 1013) and `false` returned.
    func register(_ upgraded: UpgradedConnection) -> Bool {
        let handler = upgraded.handler.value
        let id: Int
        switch connections.register(upgraded.handler, limit: maxConnections) {
        case .registered(let registered):
            id = registered
        case .draining:
            handler.stopDelivering()
            _ = handler.close(CloseFrame(code: .goingAway, reason: drainReason))
            return false
        case .full:
            // Others were upgraded on other threads since this one passed the check.
            handler.stopDelivering()
            _ = handler.close(CloseFrame(code: .tryAgainLater, reason: "too many connections"))
            return false
        }
        metrics.connectionOpened()
        // Only the request is kept for the log line: the rest of the handshake (the response's
        // headers) is not held for the connection's lifetime.
        let (connections, metrics, logger) = (self.connections, self.metrics, self.logger)
        // It runs before the application hears of the end, so that the end is already counted.
        handler.whenClosed(runFirst: true) { [request = upgraded.request] outcome in
            metrics.connectionClosed(outcome)
            Self.logClose(outcome, request: request, logger: logger)
            connections.ended(id, outcome: outcome)
        }
        return true
    }

    /// Logs how a connection ended, with its code's name and meaning: at debug level for the
    /// ordinary ends (1000, 1001), at info level for the others.
    private static func logClose(_ outcome: CloseOutcome, request: UpgradeRequest, logger: Logger) {
        let code = outcome.code
        let level: Logger.Level = code == .normalClosure || code == .goingAway ? .debug : .info
        logger.log(level: level, "connection closed: \(outcome.explanation())", metadata: [
            "code": "\(code.rawValue)", "name": "\(code.name)", "clean": "\(outcome.wasClean)",
            "path": "\(request.path)",
        ])
    }
}
