import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// An HTTP `CONNECT` proxy on loopback, port 0, for tests: it counts the tunnels it opens,
/// keeps every request head, and, when told to, answers 407 to a request without the expected
/// `Proxy-Authorization`.
final class TestProxy: Sendable {
    /// The port it listens on.
    let port: Int
    private let state: NIOLockedValueBox<State>

    struct State {
        var tunnelsOpened = 0
        var requestHeads: [String] = []
    }

    /// Tunnels opened so far.
    var tunnelsOpened: Int { state.withLockedValue { $0.tunnelsOpened } }
    /// Every request head received, in order.
    var requestHeads: [String] { state.withLockedValue { $0.requestHeads } }

    private init(port: Int, state: NIOLockedValueBox<State>) {
        self.port = port
        self.state = state
    }

    /// The proxy's URL for `HTTPProxy(url:)`, with `userinfo` (`user:password`) if given.
    func url(userinfo: String? = nil) -> String {
        "http://\(userinfo.map { "\($0)@" } ?? "")127.0.0.1:\(port)"
    }

    /// Runs a proxy for the duration of `body`.
    /// - Parameter requiredAuthorization: the `Proxy-Authorization` value it demands; `nil`: none.
    static func with<Result: Sendable>(requiredAuthorization: String? = nil,
                                       _ body: (TestProxy) async throws -> Result) async throws -> Result {
        let state = NIOLockedValueBox(State())
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ConnectRequestHandler(requiredAuthorization: requiredAuthorization, state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = TestProxy(port: listener.localAddress?.port ?? 0, state: state)
        do {
            let result = try await body(proxy)
            try? await listener.close()
            return result
        } catch {
            try? await listener.close()
            throw error
        }
    }
}

/// Reads one `CONNECT` request head, then answers it and joins the client to the target.
private final class ConnectRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let requiredAuthorization: String?
    private let state: NIOLockedValueBox<TestProxy.State>
    private var received = ByteBuffer()
    private var answered = false

    init(requiredAuthorization: String?, state: NIOLockedValueBox<TestProxy.State>) {
        self.requiredAuthorization = requiredAuthorization
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        guard !answered, let text = received.getString(at: received.readerIndex, length: received.readableBytes),
              let headEnd = text.range(of: "\r\n\r\n")
        else { return }
        answered = true
        let head = String(text[..<headEnd.lowerBound])
        received.moveReaderIndex(forwardBy: text[..<headEnd.upperBound].utf8.count)
        state.withLockedValue { $0.requestHeads.append(head) }
        let lines = head.components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ")
        guard requestLine.count == 3, requestLine[0] == "CONNECT", let colon = requestLine[1].lastIndex(of: ":"),
              let port = Int(requestLine[1][requestLine[1].index(after: colon)...])
        else {
            return answer("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", context: context)
        }
        if let requiredAuthorization {
            let sent = lines.dropFirst().first { $0.lowercased().hasPrefix("proxy-authorization:") }
                .map { $0.dropFirst("proxy-authorization:".count).trimmingCharacters(in: .whitespaces) }
            guard sent == requiredAuthorization else {
                return answer("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\n"
                              + "Content-Length: 0\r\n\r\n", context: context)
            }
        }
        var host = String(requestLine[1][..<colon])
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        let client = context.channel
        let state = self.state
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        ClientBootstrap(group: context.eventLoop).connect(host: host, port: port).assumeIsolated().whenComplete {
            result in
            let context = loopBoundContext.value
            switch result {
            case .failure:
                self.answer("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", context: context)
            case .success(let target):
                state.withLockedValue { $0.tunnelsOpened += 1 }
                let leftover = self.received
                do {
                    try target.pipeline.syncOperations.addHandler(Glue(partner: client))
                    try client.pipeline.syncOperations.addHandler(Glue(partner: target))
                } catch {
                    target.close(promise: nil)
                    client.close(promise: nil)
                    return
                }
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n")),
                                      promise: nil)
                if leftover.readableBytes > 0 { target.writeAndFlush(leftover, promise: nil) }
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            }
        }
    }

    private func answer(_ response: String, context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

/// Forwards what one side of a tunnel reads to the other, and closes the other when one closes.
private final class Glue: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let partner: any Channel

    init(partner: any Channel) {
        self.partner = partner
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
