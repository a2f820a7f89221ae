#if Vapor
import Holdfast
import Logging
import NIOCore
import NIOHTTP1
import Vapor

/// The upgrader a Holdfast route's `101` carries: Vapor writes the `101` with the headers the
/// hosted server's answer gave, removes its HTTP handlers, then asks it to upgrade — which hands
/// the channel to the server, on its event loop. The request is not kept.
struct HoldfastUpgrader: Upgrader {
    /// Hands the channel over to the server and starts its handler; on the channel's event loop.
    typealias TakeOver = @Sendable (HostedWebSocketServer, any Channel, HostedUpgrade) throws -> Void

    let server: HostedWebSocketServer
    let upgrade: HostedUpgrade
    let takeOver: TakeOver
    let logger: Logger

    func applyUpgrade(req: Request, res: Response) -> any HTTPServerProtocolUpgrader {
        ProtocolUpgrader(upgrader: self)
    }

    /// NIO's side of the upgrade, which Vapor's upgrade handler calls on the channel's event loop
    /// (and keeps there, in a loop-bound box).
    final class ProtocolUpgrader: HTTPServerProtocolUpgrader {
        let upgrader: HoldfastUpgrader
        /// Catches what Vapor's HTTP decoder forwards as it leaves the pipeline.
        private var replay: UpgradeReplayHandler?

        let supportedProtocol = "websocket"
        let requiredUpgradeHeaders: [String] = []

        init(upgrader: HoldfastUpgrader) {
            self.upgrader = upgrader
        }

        /// The `101`'s headers: Vapor replaces the response's with these (and adds `date`).
        /// Called before Vapor's HTTP handlers leave: the replay handler goes in now, at the end
        /// of the pipeline, where the bytes its HTTP decoder held (frames the client sent with
        /// its request) arrive as the decoder is removed.
        func buildUpgradeResponse(channel: any Channel, upgradeRequest: HTTPRequestHead,
                                  initialResponseHeaders: HTTPHeaders) -> EventLoopFuture<HTTPHeaders> {
            let replay = UpgradeReplayHandler()
            do {
                try channel.pipeline.syncOperations.addHandler(replay, name: "holdfast.upgrade-replay")
                self.replay = replay
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            return channel.eventLoop.makeSucceededFuture(upgrader.upgrade.responseHeaders)
        }

        /// Called once the `101` is written and Vapor's HTTP handlers are gone: Holdfast's handler
        /// goes in after the replay handler, which then hands it what it held; Vapor replays what
        /// its own buffer held after this returns.
        func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
            let channel = context.channel
            do {
                try upgrader.takeOver(upgrader.server, channel, upgrader.upgrade)
            } catch {
                upgrader.logger.warning("Holdfast could not take over an upgraded connection: \(error)")
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
            if let replay {
                self.replay = nil
                replay.release()
                // After Vapor's replay, which comes without a read completion.
                let loopBound = NIOLoopBound(replay, eventLoop: channel.eventLoop)
                channel.eventLoop.execute { loopBound.value.finish() }
            }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
    }
}

/// Holds the bytes that reach the end of the pipeline during Vapor's upgrade — frames a client
/// sent right behind its request, which Vapor's HTTP decoder forwards as it is removed, before
/// Holdfast's handler is there — and hands them to Holdfast's handler once it is. It then passes
/// everything on and, once Vapor has replayed what its own upgrade buffer held, completes that
/// read (Vapor's replay has no read completion, without which nothing read is delivered or
/// answered) and leaves the pipeline.
final class UpgradeReplayHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var context: ChannelHandlerContext?
    private var held: [ByteBuffer] = []
    private var holding = true
    /// Bytes were passed on since the last read completion.
    private var readPending = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !holding else {
            held.append(unwrapInboundIn(data))
            return
        }
        readPending = true
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !holding { readPending = false }
        context.fireChannelReadComplete()
    }

    /// Passes on what it held, as one read, and everything after.
    func release() {
        holding = false
        guard let context, !held.isEmpty else { return }
        let held = self.held
        self.held = []
        for bytes in held { context.fireChannelRead(wrapInboundOut(bytes)) }
        context.fireChannelReadComplete()
    }

    /// Completes a read passed on without its completion, and leaves the pipeline.
    func finish() {
        guard let context else { return }
        if readPending {
            readPending = false
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
#endif
