import HoldfastCore
import NIOCore

/// Opens a tunnel through an HTTP proxy: sends `CONNECT host:port` (RFC 9110 §9.3.6) once the
/// channel is active, reads the proxy's response head within a bounded size, and on a 2xx
/// removes itself, so that what is added after it (TLS, the upgrade) runs inside the tunnel.
///
/// `tunnel` succeeds once the proxy has said yes, or fails with an ``HTTPProxyError``. The
/// bytes that follow the proxy's head, if any, are passed on to the handlers added after it.
public final class HTTPConnectProxyHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// The largest response head read from the proxy. 16 KiB holds any real proxy's answer,
    /// and bounds what a misbehaving one can make the client buffer.
    public static let maxResponseHeadSize = 16 * 1024

    private let proxy: HTTPProxy
    private let targetHost: String
    private let targetPort: Int
    private let timeout: TimeAmount
    private let tunnel: EventLoopPromise<Void>
    private var buffered: ByteBuffer?
    private var state = State.idle

    /// Where the tunnel is: the timeout lives in the state that waits for the proxy, so that
    /// every transition out of it cancels it.
    private enum State {
        /// The `CONNECT` is not sent yet: the channel is not active.
        case idle
        /// The `CONNECT` is sent; `deadline` fails the tunnel when the answer takes too long.
        case connectSent(deadline: Scheduled<Void>)
        /// Decided: open or failed. What still arrives is kept for the handlers after this one.
        case done

        /// Leaves for `done`; `false` when already done.
        mutating func finish() -> Bool {
            switch self {
            case .connectSent(let deadline):
                deadline.cancel()
                self = .done
                return true
            case .idle:
                self = .done
                return true
            case .done:
                return false
            }
        }
    }

    /// Creates the handler.
    /// - Parameters:
    ///   - proxy: the proxy, and the credentials it gets.
    ///   - targetHost: the server's host, as the `CONNECT` names it.
    ///   - targetPort: the server's port.
    ///   - timeout: how long the proxy may take to answer, from when the request is sent.
    ///   - tunnel: succeeds when the tunnel is open, fails with ``HTTPProxyError`` otherwise.
    public init(proxy: HTTPProxy, targetHost: String, targetPort: Int, timeout: TimeAmount,
                tunnel: EventLoopPromise<Void>) {
        self.proxy = proxy
        self.targetHost = targetHost
        self.targetPort = targetPort
        self.timeout = timeout
        self.tunnel = tunnel
    }

    /// The request target and `Host` of the `CONNECT`: `host:port`, IPv6 in brackets (RFC 9110 §9.3.6).
    private var target: String {
        targetHost.contains(":") ? "[\(targetHost)]:\(targetPort)" : "\(targetHost):\(targetPort)"
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { sendRequest(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        if state.finish() {
            // Torn down before an answer, e.g. the connect itself failed.
            tunnel.fail(HTTPProxyError.closed(proxy: proxy.description, target: target))
        }
        if let leftover = buffered, leftover.readableBytes > 0 {
            buffered = nil
            context.fireChannelRead(wrapInboundOut(leftover))
        }
    }

    public func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    private func sendRequest(context: ChannelHandlerContext) {
        guard case .idle = state else { return }
        var request = "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n"
        if let authorization = proxy.authorization {
            request += "Proxy-Authorization: \(authorization)\r\n"
        }
        request += "\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.fail(.timedOut(after: handler.timeout.nanoseconds / 1_000_000, proxy: handler.proxy.description,
                                   target: handler.target), context: context)
        }
        state = .connectSent(deadline: deadline)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard case .connectSent = state else {
            // Only before the removal completes: kept for the handlers after this one.
            buffered.setOrWriteBuffer(&bytes)
            return
        }
        buffered.setOrWriteBuffer(&bytes)
        guard var received = buffered else { return }
        guard let headLength = Self.headLength(in: received) else {
            if received.readableBytes > Self.maxResponseHeadSize {
                fail(.responseHeadTooLarge(limit: Self.maxResponseHeadSize, proxy: proxy.description, target: target),
                     context: context)
            }
            return
        }
        guard headLength <= Self.maxResponseHeadSize else {
            fail(.responseHeadTooLarge(limit: Self.maxResponseHeadSize, proxy: proxy.description, target: target),
                 context: context)
            return
        }
        let head = received.readString(length: headLength) ?? ""
        buffered = received
        let statusLine = head.prefix { !$0.isNewline }
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), parts[1].count == 3, let status = Int(parts[1]) else {
            fail(.invalidResponse("'\(statusLine.prefix(80))'", proxy: proxy.description, target: target),
                 context: context)
            return
        }
        guard (200..<300).contains(status) else {
            let reasonPhrase = parts.count > 2 ? String(parts[2]) : ""
            fail(.refused(status: status, reasonPhrase: reasonPhrase, proxy: proxy.description, target: target),
                 context: context)
            return
        }
        _ = state.finish()
        // Succeeded first, so that the handlers for the tunnel are added before this one leaves
        // and hands them what followed the head.
        tunnel.succeed()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// The length of the response head up to and including its blank line, once it is all there.
    private static func headLength(in buffer: ByteBuffer) -> Int? {
        let bytes = buffer.readableBytesView
        var index = bytes.startIndex
        while let found = bytes[index...].firstIndex(of: UInt8(ascii: "\n")) {
            let next = bytes.index(after: found)
            // RFC 9112 §2.2: a line ends with CRLF, and a bare LF is accepted.
            if next < bytes.endIndex, bytes[next] == UInt8(ascii: "\n") {
                return next + 1 - bytes.startIndex
            }
            if next + 1 < bytes.endIndex, bytes[next] == UInt8(ascii: "\r"), bytes[next + 1] == UInt8(ascii: "\n") {
                return next + 2 - bytes.startIndex
            }
            index = next
        }
        return nil
    }

    public func channelInactive(context: ChannelHandlerContext) {
        fail(.closed(proxy: proxy.description, target: target), context: context)
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard state.finish() else {
            context.fireErrorCaught(error)
            return
        }
        tunnel.fail(error)
        context.close(promise: nil)
    }

    private func fail(_ error: HTTPProxyError, context: ChannelHandlerContext) {
        guard state.finish() else { return }
        tunnel.fail(error)
        context.close(promise: nil)
    }
}
