import HoldfastCore
import HoldfastNIO
import NIOCore

/// A server's decision on upgrade requests, as its initializer was given it.
enum ServerDecision<Context: Sendable>: Sendable {
    /// Decides on the connection's event loop, inside the handshake: no hop, the fast path.
    case sync(@Sendable (UpgradeRequest) -> UpgradeDecision<Context>)
    /// Decides in a task of the server, while the connection waits without reading.
    case async(@Sendable (UpgradeRequest) async throws -> UpgradeDecision<Context>)
}

/// How a server decides on its connections and takes them over, made by its initializer from
/// the decision and the handler it was given. The decision's `Context` type ends here: it is
/// captured by each accepted connection's ``ServerConnectionHandover``, so the handler gets it
/// typed and the server's other parts do not know it.
///
/// The handling modes (a task per connection, or callbacks on the event loop) differ only in
/// that handover; binding, the handshake and registration are the same for both.
struct ConnectionHandling: Sendable {
    /// For one run of the server: the handshake's decider, and the handover of connections
    /// whose decision names none.
    let prepare: @Sendable (ServerRun) -> (decider: ServerUpgradeDecider?, handover: ServerConnectionHandover)

    /// Connections served by `handler`, each in a task of its own.
    static func tasks<Context: Sendable>(
        decision: ServerDecision<Context>?, sharedContext: Context?,
        handler: @escaping @Sendable (WebSocket, Context) async throws -> Void
    ) -> ConnectionHandling {
        make(decision: decision, sharedContext: sharedContext) { run, context in
            ServerConnectionHandover(upgraded: { upgraded in
                // Served even when refused at registration: that connection is already closing,
                // and its handler sees its messages end.
                _ = run.register(upgraded)
                let logger = run.logger
                let started = run.work.start {
                    await WebSocketServer.serve(upgraded, context: context, handler: handler, logger: logger)
                }
                if !started {
                    // The server has stopped: nobody would read this connection.
                    _ = upgraded.handler.value.close(CloseFrame(code: .goingAway, reason: run.drainReason))
                }
            })
        }
    }

    /// Connections served by `handler` on their event loops.
    static func eventLoop<Handler: WebSocketEventLoopHandler>(
        decision: ServerDecision<Handler.Context>?, sharedContext: Handler.Context?, handler: Handler
    ) -> ConnectionHandling {
        make(decision: decision, sharedContext: sharedContext) { run, context in
            ServerConnectionHandover(
                beforeFirstFrame: { upgraded in EventLoopDelivery.install(handler, on: upgraded, context: context) },
                upgraded: { upgraded in
                    guard run.register(upgraded) else { return }
                    handler.connectionOpened(EventLoopConnection(upgraded, context: context))
                })
        }
    }

    /// The handling that decides with `decision` and takes accepted connections over with
    /// `handover`. With a `sharedContext` (the server's decision has none: `Void`), every
    /// connection shares one handover, made once per run: nothing is made per handshake.
    private static func make<Context: Sendable>(
        decision: ServerDecision<Context>?, sharedContext: Context?,
        handover: @escaping @Sendable (ServerRun, Context) -> ServerConnectionHandover
    ) -> ConnectionHandling {
        ConnectionHandling { run in
            let shared = sharedContext.map { handover(run, $0) } ?? ServerConnectionHandover()
            let perConnection: @Sendable (Context) -> ServerConnectionHandover?
            if sharedContext != nil {
                perConnection = { _ in nil }
            } else {
                perConnection = { handover(run, $0) }
            }
            switch decision {
            case nil:
                return (nil, shared)
            case .sync(let decide):
                return (.immediate { decide($0).map(perConnection) }, shared)
            case .async(let decide):
                let work = run.work
                let decider = ServerUpgradeDecider.deferred { request, eventLoop in
                    let promise = eventLoop.makePromise(of: UpgradeDecision<ServerConnectionHandover?>.self)
                    let started = work.start {
                        do {
                            promise.succeed(try await decide(request).map(perConnection))
                        } catch {
                            promise.fail(error)
                        }
                    }
                    if !started {
                        promise.succeed(.reject(status: .serviceUnavailable, reason: "the server is shutting down"))
                    }
                    return promise.futureResult
                }
                return (decider, shared)
            }
        }
    }
}
