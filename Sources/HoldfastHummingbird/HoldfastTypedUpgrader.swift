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
    /// Holds the connection's reads while the decision runs.
    let reads: ReadsHeldWhileDeciding

    init(eventLoop: any EventLoop) {
        promise = eventLoop.makePromise()
        reads = ReadsHeldWhileDeciding(eventLoop: eventLoop)
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
            if let request {
                reads.hold()
                request.answer.futureResult.whenComplete { [reads] _ in reads.release() }
            } else {
                reads.release()
            }
            promise.succeed(request)
        } else {
            request?.answer.fail(ChannelError.inappropriateOperationForState)
        }
    }
}

/// Reads nothing more from a connection while its upgrade is decided: NIO's upgrade handling
/// would keep whatever a client sends meanwhile, and a client must not make the server buffer
/// while a decision waits (on a session store, say). The first handler of the pipeline; it
/// leaves once the decision is made.
final class ReadsHeldWhileDeciding: ChannelOutboundHandler, RemovableChannelHandler, Sendable {
    typealias OutboundIn = Any

    private struct State {
        var context: ChannelHandlerContext?
        var holding = false
        var readPending = false
    }

    private let state: NIOLoopBoundBox<State>

    init(eventLoop: any EventLoop) {
        state = NIOLoopBoundBox(State(), eventLoop: eventLoop)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        state.value.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        state.value.context = nil
    }

    func read(context: ChannelHandlerContext) {
        if state.value.holding {
            state.value.readPending = true
        } else {
            context.read()
        }
    }

    /// Holds reads from now on; on the event loop.
    func hold() {
        state.value.holding = true
    }

    /// The decision is made, or there is none to make: the held read goes on, and the handler
    /// leaves the pipeline. On the event loop.
    func release() {
        state.value.holding = false
        guard let context = state.value.context else { return }
        if state.value.readPending {
            state.value.readPending = false
            context.read()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
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
