#if Hummingbird
import Holdfast
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// An upgrade request waiting for the connection's task to decide on it.
struct DecisionRequest: Sendable {
    let head: HTTPRequestHead
    /// Succeeds with the `101`'s headers, or fails: no upgrade.
    let answer: EventLoopPromise<HTTPHeaders>
}

/// Hands a connection's upgrade request, once NIO has read it, to the connection's task; or
/// `nil` when there is none to decide (plain HTTP, or the connection closed first).
final class DecisionHandoff: Sendable {
    private let promise: EventLoopPromise<DecisionRequest?>
    private let completed = NIOLockedValueBox(false)

    init(eventLoop: any EventLoop) {
        promise = eventLoop.makePromise()
    }

    /// Completes once: with the request to decide, or `nil`.
    var requested: EventLoopFuture<DecisionRequest?> { promise.futureResult }

    func request(_ request: DecisionRequest) { complete(request) }
    func noDecision() { complete(nil) }

    private func complete(_ request: DecisionRequest?) {
        let first = completed.withLockedValue { completed in
            defer { completed = true }
            return !completed
        }
        if first {
            promise.succeed(request)
        } else {
            request?.answer.fail(ChannelError.inappropriateOperationForState)
        }
    }
}

/// Holdfast's upgrader for NIO's typed HTTP upgrade handling, made per connection: it asks the
/// connection's task for a decision (``DecisionHandoff``), answers with the hosted server's
/// `101` headers, and takes the connection over once the `101` is out.
final class HoldfastTypedUpgrader: NIOTypedHTTPServerProtocolUpgrader, Sendable {
    typealias UpgradeResult = HoldfastHTTP1ChannelOutcome

    let supportedProtocol = "websocket"
    /// None that NIO checks: the hosted server validates the request and says what is wrong.
    let requiredUpgradeHeaders: [String] = []
    private let server: HostedWebSocketServer
    private let decision: DecisionHandoff
    private let state = NIOLockedValueBox<(plan: UpgradePlan, upgrade: HostedUpgrade)?>(nil)
    private let refused = NIOLockedValueBox<Response?>(nil)

    init(server: HostedWebSocketServer, decision: DecisionHandoff) {
        self.server = server
        self.decision = decision
    }

    /// The response refusing the upgrade, once refused.
    var refusal: Response? { refused.withLockedValue { $0 } }

    func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead,
                              initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
        let answer = channel.eventLoop.makePromise(of: HTTPHeaders.self)
        decision.request(DecisionRequest(head: upgradeRequest, answer: answer))
        return answer.futureResult
    }

    func accept(_ plan: UpgradePlan, upgrade: HostedUpgrade, answering request: DecisionRequest) {
        state.withLockedValue { $0 = (plan, upgrade) }
        request.answer.succeed(upgrade.responseHeaders)
    }

    func refuse(_ response: Response, answering request: DecisionRequest) {
        refused.withLockedValue { $0 = response }
        request.answer.fail(UpgradeRefused())
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        channel.eventLoop.makeCompletedFuture {
            guard let (plan, upgrade) = state.withLockedValue({ $0 }) else { throw UpgradeRefused() }
            return .upgraded(task: try plan.takeOver(channel, server, upgrade))
        }
    }

    /// The decision refused the upgrade: NIO then serves the request as plain HTTP, which
    /// writes the refusal.
    struct UpgradeRefused: Error {}
}
#endif
