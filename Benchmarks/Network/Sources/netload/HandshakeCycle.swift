import HoldfastCore
import NIOCore

/// One handshake cycle on a fresh connection: (TLS), upgrade, close(1000), the server's close
/// reply, then the server closing the TCP connection (the client closes it after 1 s if not). Succeeds with the handshake latency (connect → validated 101)
/// once the channel is closed.
final class HandshakeCycle: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State { case upgrading, closing, closed, failed }

    private let settings: LoadSettings
    private let upgrade: Upgrade
    private let startedAt: UInt64
    private let done: EventLoopPromise<UInt64>
    private var state = State.upgrading
    private var requestSent = false
    private var buffer = ByteBuffer()
    private var reader = ServerFrameReader(allowCompression: true)
    private var handshakeNanoseconds: UInt64 = 0

    init(settings: LoadSettings, startedAt: UInt64, done: EventLoopPromise<UInt64>) {
        self.settings = settings
        upgrade = Upgrade(offer: settings.offer)
        self.startedAt = startedAt
        self.done = done
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendUpgrade(context: context) }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: settings.timeout) {
            let (cycle, context) = bound.value
            if cycle.state == .upgrading || cycle.state == .closing { cycle.fail("cycle timed out", context: context) }
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendUpgrade(context: context)
        context.fireChannelActive()
    }

    private func sendUpgrade(context: ChannelHandlerContext) {
        guard !requestSent else { return }
        requestSent = true
        context.writeAndFlush(wrapOutboundOut(upgrade.request(for: settings.target)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        do {
            switch state {
            case .upgrading:
                buffer.writeBuffer(&bytes)
                guard let agreement = try upgrade.response(from: &buffer) else { return }
                if settings.offer != nil, agreement == nil {
                    throw LoadError("the server did not accept permessage-deflate")
                }
                handshakeNanoseconds = nowNanoseconds() &- startedAt
                state = .closing
                context.writeAndFlush(wrapOutboundOut(maskedCloseFrame()), promise: nil)
                if buffer.readableBytes > 0 { try readFrames(buffer, context: context) }
            case .closing:
                try readFrames(bytes, context: context)
            case .closed, .failed:
                break
            }
        } catch {
            fail("\(error)", context: context)
        }
    }

    private func readFrames(_ bytes: ByteBuffer, context: ChannelHandlerContext) throws {
        try reader.read(bytes) { event in
            switch event {
            case .close(let code):
                guard code == 1000 else { throw LoadError("close reply with code \(code.map(String.init) ?? "none")") }
                guard state == .closing else { return }
                state = .closed
                // RFC 6455 §7.1.1: the client waits for the server to close the TCP connection
                // (the server then holds the TIME_WAIT), and closes it itself only after a while.
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .seconds(1)) { bound.value.close(promise: nil) }
            case .message:
                throw LoadError("a message from the server during the close handshake")
            case .ping, .pong:
                break
            }
        }
    }

    private func fail(_ message: String, context: ChannelHandlerContext) {
        guard state == .upgrading || state == .closing else { return }
        state = .failed
        done.fail(LoadError(message))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .closed: done.succeed(handshakeNanoseconds)
        case .upgrading, .closing: fail("connection closed by the server before its close reply", context: context)
        case .failed: break
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // After the close reply, an unclean TLS shutdown by the server does not spoil the cycle.
        if state == .closed { return }
        fail("\(error)", context: context)
    }
}
