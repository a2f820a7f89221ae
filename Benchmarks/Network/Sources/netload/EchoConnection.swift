import HoldfastCore
import NIOCore

/// One echo connection: upgrades, then keeps `pipeline` messages in flight from the pool, counts
/// and times every echo by its frame headers, checks the first echo's bytes, and at the end drains
/// the pipeline and does the close handshake.
final class EchoConnection: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State { case upgrading, upgraded, running, closing, done }

    private let settings: LoadSettings
    private let upgrade: Upgrade
    private let upgradedPromise: EventLoopPromise<UpgradedConnection>
    private var state = State.upgrading
    private var context: ChannelHandlerContext?
    private var handshakeBuffer = ByteBuffer()
    private var requestSent = false
    private var reader = ServerFrameReader(allowCompression: false)
    private var plan: EchoPlan?
    private var result = ConnectionResult()
    private var sending = false
    private var nextIndex = 0
    // The messages in flight, oldest first: pool index and send time.
    private var ringIndex: [Int] = []
    private var ringTime: [UInt64] = []
    private var ringHead = 0
    private var ringCount = 0
    private var outgoing = ByteBuffer()
    private var needsFlush = false

    init(settings: LoadSettings, upgraded: EventLoopPromise<UpgradedConnection>) {
        self.settings = settings
        upgrade = Upgrade(offer: settings.offer)
        upgradedPromise = upgraded
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendUpgrade(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        sendUpgrade(context: context)
        context.fireChannelActive()
    }

    private func sendUpgrade(context: ChannelHandlerContext) {
        guard state == .upgrading, !requestSent else { return }
        requestSent = true
        context.writeAndFlush(wrapOutboundOut(upgrade.request(for: settings.target)), promise: nil)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: settings.timeout) {
            if bound.value.state == .upgrading { bound.value.fail("upgrade timed out") }
        }
    }

    /// Starts the load; called on the channel's event loop.
    func start(_ plan: EchoPlan) {
        guard state == .upgraded, let context else {
            plan.result.succeed(ConnectionResult(error: result.error ?? "connection lost before the start"))
            return
        }
        self.plan = plan
        state = .running
        sending = true
        reader.collectNextMessage = true
        nextIndex = plan.firstIndex % plan.pool.frames.count
        ringIndex = Array(repeating: 0, count: plan.pipeline)
        ringTime = Array(repeating: 0, count: plan.pipeline)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(plan.measureEnd)) { bound.value.stopSending() }
        context.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(plan.deadline)) {
            let connection = bound.value
            if connection.state != .done {
                connection.fail("timed out at the end: \(connection.ringCount) echoes missing or no close reply")
            }
        }
        for _ in 0..<plan.pipeline { queueNext(context: context) }
        flush(context: context)
    }

    private func queueNext(context: ChannelHandlerContext) {
        let plan = self.plan!
        let frame = plan.pool.frames[nextIndex]
        let slot = (ringHead + ringCount) % ringIndex.count
        ringIndex[slot] = nextIndex
        ringTime[slot] = nowNanoseconds()
        ringCount += 1
        nextIndex += 1
        if nextIndex == plan.pool.frames.count { nextIndex = 0 }
        if frame.readableBytes <= 4096 {
            // Small frames of one read go out together in one buffer: one write, one TLS record.
            outgoing.writeImmutableBuffer(frame)
        } else {
            writeOutgoing(context: context)
            context.write(wrapOutboundOut(frame), promise: nil)
        }
        needsFlush = true
    }

    private func writeOutgoing(context: ChannelHandlerContext) {
        guard outgoing.readableBytes > 0 else { return }
        context.write(wrapOutboundOut(outgoing), promise: nil)
        outgoing = context.channel.allocator.buffer(capacity: 1024)
    }

    private func flush(context: ChannelHandlerContext) {
        guard needsFlush else { return }
        writeOutgoing(context: context)
        needsFlush = false
        context.flush()
    }

    private func stopSending() {
        guard state == .running else { return }
        sending = false
        if ringCount == 0 { sendClose() }
    }

    private func sendClose() {
        guard let context, state == .running else { return }
        state = .closing
        writeOutgoing(context: context)
        context.writeAndFlush(wrapOutboundOut(maskedCloseFrame()), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        do {
            switch state {
            case .upgrading:
                var input = bytes
                handshakeBuffer.writeBuffer(&input)
                guard let agreement = try upgrade.response(from: &handshakeBuffer) else { return }
                if settings.offer != nil, agreement == nil {
                    throw LoadError("the server did not accept permessage-deflate")
                }
                reader.allowCompression = agreement != nil
                state = .upgraded
                upgradedPromise.succeed(UpgradedConnection(
                    compression: agreement, handler: NIOLoopBound(self, eventLoop: context.eventLoop)))
                if handshakeBuffer.readableBytes > 0 { try readFrames(handshakeBuffer, context: context) }
            case .upgraded:
                throw LoadError("data from the server before any message was sent")
            case .running, .closing:
                try readFrames(bytes, context: context)
            case .done:
                break
            }
        } catch {
            fail("\(error)")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush(context: context)
        context.fireChannelReadComplete()
    }

    private func readFrames(_ bytes: ByteBuffer, context: ChannelHandlerContext) throws {
        try reader.read(bytes) { event in
            switch event {
            case .message(let compressed, let wireBytes, let payload):
                try echoed(compressed: compressed, wireBytes: wireBytes, payload: payload, context: context)
            case .ping(let payload):
                outgoing.writeImmutableBuffer(maskedPong(payload))
                needsFlush = true
            case .pong:
                break
            case .close(let code):
                guard state == .closing else { throw LoadError("the server closed the connection (code \(code.map(String.init) ?? "none"))") }
                guard code == 1000 else { throw LoadError("close reply with code \(code.map(String.init) ?? "none"), not 1000") }
                state = .done
                plan?.result.succeed(result)
                context.close(promise: nil)
            }
        }
    }

    private func echoed(compressed: Bool, wireBytes: Int, payload: ByteBuffer?, context: ChannelHandlerContext) throws {
        guard let plan, ringCount > 0 else { throw LoadError("an echo of a message that was not sent") }
        let index = ringIndex[ringHead]
        let sentAt = ringTime[ringHead]
        ringHead = (ringHead + 1) % ringIndex.count
        ringCount -= 1
        if compressed {
            result.compressedEchoes += 1
        } else {
            result.uncompressedEchoes += 1
            guard wireBytes == plan.pool.messageSize
            else { throw LoadError("echo of \(wireBytes) bytes for a message of \(plan.pool.messageSize)") }
        }
        if let payload {
            let expected = plan.pool.payloads[index]
            let received = compressed ? inflateMessage(payload, expectedSize: expected.count) : Array(payload.readableBytesView)
            guard received == expected else { throw LoadError("the first echo differs from the message sent") }
            result.verified += 1
        }
        let now = nowNanoseconds()
        if now >= plan.measureStart && now < plan.measureEnd {
            result.messages += 1
            result.echoWireBytes += wireBytes
            result.latenciesMicroseconds.append(UInt32(clamping: (now &- sentAt) / 1000))
        }
        if sending {
            queueNext(context: context)
        } else if ringCount == 0 {
            sendClose()
        }
    }

    private func fail(_ message: String) {
        switch state {
        case .upgrading:
            state = .done
            upgradedPromise.fail(LoadError(message))
        case .upgraded, .running, .closing:
            state = .done
            result.error = message
            if let plan { plan.result.succeed(result) }
        case .done:
            return
        }
        context?.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if state != .done { fail("connection closed by the server") }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)")
    }
}
