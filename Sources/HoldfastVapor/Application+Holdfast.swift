#if Vapor
import Holdfast
import Logging
import Vapor

extension Application {
    /// This app's Holdfast WebSockets: the one `HostedWebSocketServer` that serves every
    /// connection its Holdfast routes upgrade, its settings, and its part in the app's lifecycle.
    public var holdfast: Holdfast { Holdfast(application: self) }

    /// This app's Holdfast WebSockets (`app.holdfast`).
    ///
    /// The server is made on first use — reading `server`, or the first upgrade on a Holdfast
    /// route (setting `configuration` makes nothing) — with `configuration`; it joins the app's
    /// lifecycle then: its
    /// `HostedWebSocketServer.run()` task starts when the app boots (or at once, when made by a
    /// request), and `app.asyncShutdown()` first closes every connection with 1001 (spread, with
    /// retry hints) and waits for the close handshakes, so that Vapor's HTTP server then finds
    /// no WebSocket open: no wait for its 10-s shutdown limit, no client seeing 1006.
    public struct Holdfast: Sendable {
        let application: Application

        /// The settings of the app's server: each connection's limits, compression and
        /// keepalive (`HostedWebSocketConfiguration.webSocket`, overridden per route), the
        /// connection limit, and the shutdown's drain timeout, spread and reason.
        ///
        /// Set it before first use, in `configure(_:)` before the routes serve: the server is
        /// made once with what it says then. Setting it later changes nothing (and logs a warning).
        public var configuration: HostedWebSocketConfiguration {
            get { withState { $0.configuration } }
            nonmutating set {
                let ignored = withState { state in
                    guard state.server == nil else { return true }
                    state.configuration = newValue
                    return false
                }
                if ignored {
                    application.logger.warning(
                        "app.holdfast.configuration was set after the Holdfast server was made; the change is ignored")
                }
            }
        }

        /// The app's server, made on first use: its `HostedWebSocketServer.statistics`, or a
        /// `HostedWebSocketServer.shutdown()` of the WebSockets alone.
        public var server: HostedWebSocketServer { made(running: false) }

        /// The server, made if need be, with its `run()` task started when `running` (a request
        /// asks: the app is booted).
        func made(running: Bool) -> HostedWebSocketServer {
            // Every upgrade asks: read without the lock's write-back once made and running.
            if let state = application.storage[Key.self], let server = state.server, state.run != nil || !running {
                return server
            }
            let (server, isNew) = withState { state -> (HostedWebSocketServer, Bool) in
                let isNew = state.server == nil
                let server = state.server ?? HostedWebSocketServer(configuration: state.configuration,
                                                                   logger: application.logger)
                state.server = server
                if running { state.startRunning() }
                return (server, isNew)
            }
            if isNew { application.lifecycle.use(HoldfastLifecycle()) }
            return server
        }

        /// Starts the server's `run()` task, once (the app booted).
        func startRunning() {
            withState { $0.startRunning() }
        }

        /// Closes every connection with 1001 and waits until all have ended, then for the
        /// `run()` task; logs how they ended.
        func shutdown() async {
            let (server, run) = withState { ($0.server, $0.run) }
            guard let server else { return }
            let started = ContinuousClock.now
            let report = await server.shutdown()
            await run?.value
            application.logger.info("Holdfast WebSockets shut down: \(report)", metadata: [
                "closed_cleanly": "\(report.closedCleanly)", "cut": "\(report.cut)",
                "duration": "\(started.duration(to: .now))",
            ])
        }

        /// Begins the shutdown without waiting: for Vapor's synchronous `shutdown()`.
        func beginShutdown() {
            withState { $0.server }?.beginShutdown()
        }

        private func withState<Result>(_ body: (inout State) -> Result) -> Result {
            application.locks.lock(for: Key.self).withLock {
                var state = application.storage[Key.self] ?? State()
                defer { application.storage[Key.self] = state }
                return body(&state)
            }
        }

        struct State: Sendable {
            var configuration = HostedWebSocketConfiguration()
            var server: HostedWebSocketServer?
            var run: Task<Void, Never>?

            mutating func startRunning() {
                guard run == nil, let server else { return }
                run = Task { try? await server.run() }
            }
        }

        struct Key: StorageKey, LockKey {
            typealias Value = State
        }
    }
}

/// Ties the app's Holdfast server to the app's lifecycle: runs it from boot, and shuts its
/// connections down first thing in the app's shutdown, before Vapor's HTTP server waits for its
/// open connections.
struct HoldfastLifecycle: LifecycleHandler {
    func didBoot(_ application: Application) throws {
        application.holdfast.startRunning()
    }

    func shutdownAsync(_ application: Application) async {
        await application.holdfast.shutdown()
    }

    func shutdown(_ application: Application) {
        application.holdfast.beginShutdown()
    }
}
#endif
