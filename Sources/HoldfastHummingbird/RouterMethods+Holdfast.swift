#if Hummingbird
import Holdfast
import Hummingbird
import NIOCore

extension RouterMethods where Context: HoldfastRequestContext {
    /// Adds a route that upgrades to a Holdfast WebSocket served by `handler` in the
    /// connection's task. The router's middleware runs first (authentication, say: a middleware
    /// that throws `HTTPError(.unauthorized)` refuses the upgrade with 401), then
    /// `shouldUpgrade`. A GET without an upgrade gets 426 Upgrade Required.
    ///
    /// ```swift
    /// router.holdfast("/chat") { request, context in .upgrade } handler: { ws, route in
    ///     for await message in ws.messages { try await ws.send(message) }
    /// }
    /// ```
    /// When `handler` returns the connection closes with 1000 (1011 if it threw).
    @discardableResult
    public func holdfast(
        _ path: RouterPath = "",
        shouldUpgrade: @escaping @Sendable (Request, Context) async throws -> HoldfastShouldUpgrade = { _, _ in .upgrade },
        handler: @escaping @Sendable (WebSocket, HoldfastRouteContext<Context>) async throws -> Void
    ) -> Self {
        route(path, shouldUpgrade: shouldUpgrade) { request, context in
            let route = HoldfastRouteContext(request: request, requestContext: context)
            return { channel, server, upgrade in
                let connection = try server.takeOver(channel, upgrade: upgrade)
                return { await connection.serve { webSocket in try await handler(webSocket, route) } }
            }
        }
    }

    /// Adds a route that upgrades to a Holdfast WebSocket served on its event loop by
    /// `eventLoopHandler` (no task per connection, no hop per message: the fastest way),
    /// each connection with the context `makeContext` builds from the request and the context
    /// the middleware left. The router's middleware runs first, then `shouldUpgrade`.
    @discardableResult
    public func holdfast<Handler: WebSocketEventLoopHandler>(
        _ path: RouterPath = "",
        shouldUpgrade: @escaping @Sendable (Request, Context) async throws -> HoldfastShouldUpgrade = { _, _ in .upgrade },
        eventLoopHandler: Handler,
        context makeContext: @escaping @Sendable (Request, Context) throws -> Handler.Context
    ) -> Self {
        route(path, shouldUpgrade: shouldUpgrade) { request, context in
            let connectionContext = try makeContext(request, context)
            return { channel, server, upgrade in
                try server.takeOver(channel, upgrade: upgrade, handler: eventLoopHandler, context: connectionContext)
                return nil
            }
        }
    }

    /// Adds a route served on the event loop by `eventLoopHandler`, whose connections need no
    /// context.
    @discardableResult
    public func holdfast<Handler: WebSocketEventLoopHandler>(
        _ path: RouterPath = "",
        shouldUpgrade: @escaping @Sendable (Request, Context) async throws -> HoldfastShouldUpgrade = { _, _ in .upgrade },
        eventLoopHandler: Handler
    ) -> Self where Handler.Context == Void {
        holdfast(path, shouldUpgrade: shouldUpgrade, eventLoopHandler: eventLoopHandler, context: { _, _ in () })
    }

    /// The GET route behind both forms: an upgrade request the route accepts leaves its plan in
    /// the context's slot; a plain GET gets 426.
    private func route(
        _ path: RouterPath,
        shouldUpgrade: @escaping @Sendable (Request, Context) async throws -> HoldfastShouldUpgrade,
        plan: @escaping @Sendable (Request, Context) throws -> UpgradePlan.TakeOver
    ) -> Self {
        on(path, method: .get) { request, context -> Response in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                return Response(UpgradeRefusal.notAnUpgrade.response)
            }
            switch try await shouldUpgrade(request, context) {
            case .dontUpgrade:
                return Response(status: .forbidden, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: "the route refused the upgrade\n")))
            case .upgrade(let subprotocol, let headers, let configuration):
                context.holdfast.accept(UpgradePlan(subprotocol: subprotocol, headers: headers, configuration: configuration,
                                                    takeOver: try plan(request, context)))
                return Response(status: .switchingProtocols)
            }
        }
    }
}
#endif
