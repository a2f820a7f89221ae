#if Vapor
import Holdfast
import NIOCore
import NIOHTTP1
import Vapor

extension RoutesBuilder {
    /// Adds a `GET` route that upgrades to a Holdfast WebSocket served by `onUpgrade` in a task,
    /// as Vapor's `webSocket(_:maxFrameSize:shouldUpgrade:onUpgrade:)` does with its own.
    ///
    /// The route's middleware runs first (an authenticator and a guard: `req.auth` holds the
    /// user; a middleware that throws `Abort(.unauthorized)` refuses the upgrade with 401), then
    /// `shouldUpgrade`. A `GET` that asks for no upgrade gets 426, a malformed upgrade 400, one
    /// from an origin not allowed 403, one during shutdown or past the connection limit 503.
    ///
    /// ```swift
    /// app.grouped(UserToken.authenticator(), User.guardMiddleware()).holdfast("chat") { req, ws in
    ///     let user = try req.auth.require(User.self)
    ///     try await ws.send(text: "hello, \(user.name)")
    ///     for await message in ws.messages { try await ws.send(message) }
    /// }
    /// ```
    ///
    /// `onUpgrade` runs as a child task of `app.holdfast.server`; when it returns the connection
    /// closes with 1000 (1011 if it threw); on the app's shutdown its messages end after a 1001. It keeps `Request` for the connection's lifetime: for many
    /// idle connections, the forms with a `context` keep only what it makes of the request.
    /// - Parameters:
    ///   - path: the route's path components.
    ///   - configuration: this route's limits, compression and keepalive; default the app's
    ///     (`app.holdfast.configuration`).
    ///   - subprotocol: the subprotocol to select when the client offers it.
    ///   - shouldUpgrade: decides after the middleware: headers to add to the `101`, or `nil`
    ///     to refuse with 403; a thrown error is answered as Vapor answers errors. Default: upgrade.
    ///   - onUpgrade: serves the connection, with the request as the middleware left it.
    /// - Returns: the route.
    @discardableResult
    public func holdfast(
        _ path: PathComponent...,
        configuration: WebSocketConfiguration? = nil,
        subprotocol: String? = nil,
        shouldUpgrade: (@Sendable (Request) async throws -> HTTPHeaders?)? = nil,
        onUpgrade: @escaping @Sendable (Request, Holdfast.WebSocket) async throws -> Void
    ) -> Route {
        holdfast(path, configuration: configuration, subprotocol: subprotocol, shouldUpgrade: shouldUpgrade,
                 onUpgrade: onUpgrade)
    }

    /// Adds a `GET` route that upgrades to a Holdfast WebSocket served by `onUpgrade` in a task
    /// (the variadic form's documentation tells more).
    @discardableResult
    public func holdfast(
        _ path: [PathComponent],
        configuration: WebSocketConfiguration? = nil,
        subprotocol: String? = nil,
        shouldUpgrade: (@Sendable (Request) async throws -> HTTPHeaders?)? = nil,
        onUpgrade: @escaping @Sendable (Request, Holdfast.WebSocket) async throws -> Void
    ) -> Route {
        taskRoute(path, configuration: configuration, subprotocol: subprotocol, shouldUpgrade: shouldUpgrade,
                  context: { $0 }, onUpgrade: onUpgrade)
    }

    /// Adds a `GET` route that upgrades to a Holdfast WebSocket served by `onUpgrade` in a task,
    /// with what `context` made of the request (the authenticated user, say) instead of the
    /// request itself: for many long-lived connections, each keeps only its context.
    ///
    /// ```swift
    /// members.holdfast("chat", context: { req in try req.auth.require(User.self) }) { user, ws in
    ///     try await ws.send(text: "hello, \(user.name)")
    /// }
    /// ```
    /// The route's middleware runs first, then `shouldUpgrade`, then `context` (a thrown error is
    /// answered as Vapor answers errors); otherwise as the form whose handler gets the request.
    @discardableResult
    public func holdfast<Context: Sendable>(
        _ path: PathComponent...,
        configuration: WebSocketConfiguration? = nil,
        subprotocol: String? = nil,
        shouldUpgrade: (@Sendable (Request) async throws -> HTTPHeaders?)? = nil,
        context: @escaping @Sendable (Request) throws -> Context,
        onUpgrade: @escaping @Sendable (Context, Holdfast.WebSocket) async throws -> Void
    ) -> Route {
        taskRoute(path, configuration: configuration, subprotocol: subprotocol, shouldUpgrade: shouldUpgrade,
                  context: context, onUpgrade: onUpgrade)
    }

    /// The route of the task-served forms: each connection's handler runs in a task of the app's
    /// server with what `context` made of its request.
    private func taskRoute<Context: Sendable>(
        _ path: [PathComponent],
        configuration: WebSocketConfiguration?,
        subprotocol: String?,
        shouldUpgrade: (@Sendable (Request) async throws -> HTTPHeaders?)?,
        context: @escaping @Sendable (Request) throws -> Context,
        onUpgrade: @escaping @Sendable (Context, Holdfast.WebSocket) async throws -> Void
    ) -> Route {
        holdfastRoute(path, configuration: configuration, subprotocol: subprotocol,
                      shouldUpgrade: shouldUpgrade) { request in
            let context = try context(request)
            return { server, channel, upgrade in
                let connection = try server.takeOver(channel, upgrade: upgrade)
                server.start(connection) { webSocket in try await onUpgrade(context, webSocket) }
            }
        }
    }

    /// Adds a `GET` route that upgrades to a Holdfast WebSocket served on its event loop by
    /// `handler`: no task per connection and no thread hop per message, the fastest path.
    ///
    /// The route's middleware runs first, then `shouldUpgrade`, then `context` makes what the
    /// handler gets with the connection (`EventLoopConnection.context`) from the request as
    /// the middleware left it — the authenticated user, say; a thrown error is answered as Vapor
    /// answers errors (`Abort(.unauthorized)`: 401). Only the context is kept, not the request.
    ///
    /// ```swift
    /// struct Greeter: WebSocketEventLoopHandler {
    ///     func connectionOpened(_ connection: EventLoopConnection<String>) {
    ///         try? connection.send(.text("hello, \(connection.context)"))
    ///     }
    ///     func received(_ message: WebSocketMessage, on connection: EventLoopConnection<String>) {}
    /// }
    /// protected.holdfast("greet", handler: Greeter()) { req in try req.auth.require(User.self).name }
    /// ```
    /// - Parameters:
    ///   - path: the route's path components.
    ///   - configuration: this route's limits, compression and keepalive; default the app's.
    ///   - subprotocol: the subprotocol to select when the client offers it.
    ///   - shouldUpgrade: decides after the middleware: headers to add to the `101`, or `nil`
    ///     to refuse with 403. Default: upgrade.
    ///   - handler: serves every connection of the route, on their event loops.
    ///   - context: what `handler` gets with each connection, made from its request.
    /// - Returns: the route.
    @discardableResult
    public func holdfast<Handler: WebSocketEventLoopHandler>(
        _ path: PathComponent...,
        configuration: WebSocketConfiguration? = nil,
        subprotocol: String? = nil,
        shouldUpgrade: (@Sendable (Request) async throws -> HTTPHeaders?)? = nil,
        handler: Handler,
        context: @escaping @Sendable (Request) throws -> Handler.Context
    ) -> Route {
        holdfastRoute(path, configuration: configuration, subprotocol: subprotocol,
                      shouldUpgrade: shouldUpgrade) { request in
            let context = try context(request)
            return { server, channel, upgrade in
                try server.takeOver(channel, upgrade: upgrade, handler: handler, context: context)
            }
        }
    }

    /// Adds a `GET` route that upgrades to a Holdfast WebSocket served on its event loop by
    /// `handler`, whose connections carry no context (the form with a `context` tells more).
    ///
    /// ```swift
    /// struct Echo: WebSocketEventLoopHandler {
    ///     func received(_ message: WebSocketMessage, on connection: EventLoopWebSocket) {
    ///         try? connection.send(message)
    ///     }
    /// }
    /// app.holdfast("echo", handler: Echo())
    /// ```
    @discardableResult
    public func holdfast<Handler: WebSocketEventLoopHandler>(
        _ path: PathComponent...,
        configuration: WebSocketConfiguration? = nil,
        subprotocol: String? = nil,
        shouldUpgrade: (@Sendable (Request) async throws -> HTTPHeaders?)? = nil,
        handler: Handler
    ) -> Route where Handler.Context == Void {
        holdfastRoute(path, configuration: configuration, subprotocol: subprotocol,
                      shouldUpgrade: shouldUpgrade) { _ in
            { server, channel, upgrade in
                try server.takeOver(channel, upgrade: upgrade, handler: handler, context: ())
            }
        }
    }

    /// The route every variant is: `shouldUpgrade` (when given) in a task, then on the request's
    /// event loop `prepare` (which may throw: Vapor answers), the server's answer, and the `101`
    /// with an upgrader that hands the connection over.
    private func holdfastRoute(
        _ path: [PathComponent],
        configuration: WebSocketConfiguration?,
        subprotocol: String?,
        shouldUpgrade: (@Sendable (Request) async throws -> HTTPHeaders?)?,
        prepare: @escaping @Sendable (Request) throws -> HoldfastUpgrader.TakeOver
    ) -> Route {
        on(.GET, path) { request -> EventLoopFuture<Response> in
            let decided: EventLoopFuture<HTTPHeaders?>
            if let shouldUpgrade {
                decided = request.eventLoop.makeFutureWithTask { try await shouldUpgrade(request) }
            } else {
                decided = request.eventLoop.makeSucceededFuture([:])
            }
            // Callbacks of `decided` run on the request's event loop, the connection's.
            return decided.flatMapThrowing { headers -> Response in
                guard let headers else {
                    return Response(status: .forbidden, headers: ["Content-Type": "text/plain; charset=utf-8"],
                                    body: .init(string: "the upgrade was refused\n"))
                }
                let server = request.application.holdfast.made(running: true)
                let head = HTTPRequestHead(version: request.version, method: request.method,
                                           uri: request.url.string, headers: request.headers)
                switch server.answer(head, remoteAddress: request.remoteAddress, subprotocol: subprotocol,
                                     headers: headers, configuration: configuration) {
                case .refuse(let refusal):
                    return Response(status: refusal.status, headers: refusal.headers, body: .init(buffer: refusal.body))
                case .upgrade(let upgrade):
                    let takeOver = try prepare(request)
                    let response = Response(status: .switchingProtocols)
                    response.upgrader = HoldfastUpgrader(server: server, upgrade: upgrade, takeOver: takeOver,
                                                         logger: request.logger)
                    return response
                }
            }
        }
    }
}
#endif
