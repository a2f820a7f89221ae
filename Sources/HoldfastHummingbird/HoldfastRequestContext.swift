#if Hummingbird
import Holdfast
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// A request context that can carry a Holdfast route's decision from the router, where the
/// app's middleware runs, to the upgrade of the connection.
public protocol HoldfastRequestContext: RequestContext, InitializableFromSource<ApplicationRequestContextSource> {
    /// Where a Holdfast route leaves its decision; make one per context (`HoldfastRouteSlot()`).
    var holdfast: HoldfastRouteSlot { get }
}

/// The request context of a router with Holdfast routes and nothing else of its own: use it, or
/// add a ``HoldfastRouteSlot`` to your own context (e.g. one that carries an authenticated user).
public struct BasicHoldfastRequestContext: HoldfastRequestContext {
    /// Hummingbird's own storage (logger, parameters, allocator).
    public var coreContext: CoreRequestContextStorage
    /// Where a Holdfast route leaves its decision.
    public let holdfast = HoldfastRouteSlot()

    /// Creates the context of one request.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// Where a Holdfast route leaves its decision to upgrade, for the channel that asked the router:
/// set at most once per request, read once.
public final class HoldfastRouteSlot: Sendable {
    private let plan = NIOLockedValueBox<UpgradePlan?>(nil)

    /// Creates an empty slot.
    public init() {}

    func accept(_ plan: UpgradePlan) { self.plan.withLockedValue { $0 = plan } }
    func take() -> UpgradePlan? { plan.withLockedValue { plan in defer { plan = nil }; return plan } }
}

/// What a Holdfast route's handler gets beside the connection: the upgrade request as
/// Hummingbird saw it, and the request context as the app's middleware left it (an
/// authenticated user, say).
public struct HoldfastRouteContext<Context: RequestContext>: Sendable {
    /// The upgrade request.
    public let request: Request
    /// The request's context after the router's middleware ran.
    public let requestContext: Context
}

/// A route's answer to an upgrade request.
public enum HoldfastShouldUpgrade: Sendable {
    /// Upgrade, selecting `subprotocol` if the client offers it, adding `headers` to the `101`,
    /// with this route's `configuration` (limits, compression; default the server's).
    case upgrade(subprotocol: String? = nil, headers: HTTPHeaders = [:], configuration: WebSocketConfiguration? = nil)
    /// Do not upgrade: the client gets 403 Forbidden. (Throw an `HTTPError` for another status.)
    case dontUpgrade

    /// Upgrade with the server's settings and no subprotocol.
    public static var upgrade: HoldfastShouldUpgrade { .upgrade() }
}

/// An accepted route's plan for its connection, type-erased from the route's context.
struct UpgradePlan: Sendable {
    let subprotocol: String?
    let headers: HTTPHeaders
    let configuration: WebSocketConfiguration?
    /// Takes the connection over on its event loop and returns what its task then does
    /// (`nil`: served on the event loop, nothing to run).
    typealias TakeOver = @Sendable (any Channel, HostedWebSocketServer, HostedUpgrade) throws -> (@Sendable () async -> Void)?
    let takeOver: TakeOver
}
#endif
