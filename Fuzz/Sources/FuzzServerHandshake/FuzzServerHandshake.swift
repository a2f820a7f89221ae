import FuzzSupport
import HoldfastCore
import HoldfastNIO
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes of a new server connection, through the same pipeline a server builds: NIO's HTTP
/// decoder, `ServerHandshakeHandler` (and after an upgrade, `WebSocketChannelHandler` with the
/// bytes that followed the request), on an `EmbeddedChannel`.
///
/// Input: one settings byte, then the bytes from the peer. Settings: bits 0–1 choose what the
/// application decides (accept with a subprotocol it supports, refuse paths under `/no`, answer
/// plain HTTP with a page, or all defaults); bit 2 offers permessage-deflate on the server side;
/// bit 3 hands an upgraded connection to the async API instead of serving it on the event loop;
/// bits 4–7, when not zero, split the bytes into reads of 8 times
/// that many bytes.
///
/// What must hold whatever arrives: no crash, the handshake ends (the handshake timeout covers
/// requests that never complete), the server writes only HTTP responses or frames, and never
/// more than its input warrants.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let choice = input.takeByte()
    let configuration = WebSocketConfiguration(maxMessageSize: FuzzLimits.maxMessageSize,
                                               maxFrameSize: FuzzLimits.maxFrameSize,
                                               compression: choice & 4 != 0 ? PerMessageDeflateConfiguration() : nil)
    let shouldUpgrade: (@Sendable (UpgradeRequest) -> UpgradeDecision<Void>)?
    switch choice & 3 {
    case 0:
        shouldUpgrade = { request in
            .accept(subprotocol: ServerHandshake.negotiateSubprotocol(offered: request.offeredSubprotocols,
                                                                      supported: ["chat", "json"]))
        }
    case 1:
        shouldUpgrade = { request in
            request.path.hasPrefix("/no") ? .reject(status: .forbidden, reason: "no") : .accept
        }
    default:
        shouldUpgrade = nil
    }
    var settings = ServerHandshakeSettings(configuration: configuration, shouldUpgrade: shouldUpgrade,
                                           logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
    // Small, so that header limits are reached by inputs the fuzzer can build (431 answers).
    settings.protections.maxHeaderSize = 2048
    if choice & 8 == 0 {
        // The event-loop-bound API, as `WebSocketServer` sets it up for `.eventLoop` handling.
        settings.eventLoopDelivery = { upgraded in
            upgraded.handler.value.deliverOnEventLoop(received: { _ in }, closed: { _ in })
        }
    }
    if choice & 3 == 2 {
        settings.plainHTTP = { request in
            PlainHTTPResponse(status: .ok, body: ByteBuffer(string: "page at \(request.path)"))
        }
    }

    let channel = EmbeddedChannel()
    let outcome: EventLoopFuture<ServerHandshakeOutcome>
    do {
        outcome = try ServerHandshakeHandler.configure(channel, settings: settings)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 4000)).wait()
    } catch {
        fatalError("setting up the embedded channel failed: \(error)")
    }
    let decided = Flag()
    outcome.whenComplete { _ in decided.isSet = true }

    var written = 0
    func collectOutput() {
        channel.embeddedEventLoop.run()
        while let part = try? channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = part else {
                fatalError("the server wrote a file region")
            }
            if written == 0, buffer.readableBytes > 0 {
                // Whatever the request, the first bytes out are an HTTP response (RFC 9112 §4).
                check(buffer.readableBytesView.starts(with: "HTTP/1.1 ".utf8),
                      "the server's first bytes are not an HTTP/1.1 status line")
            }
            written += buffer.readableBytes
        }
    }

    reads(of: input.rest, sizeByte: (choice >> 4) &* 8) { read in
        guard channel.isActive else { return }
        do {
            try channel.writeInbound(ByteBuffer(bytes: read))
        } catch {
            // The pipeline reports what it refused by closing; an error here is that same news.
        }
        collectOutput()
    }
    // A request that never completed is answered when the handshake timeout fires; an upgraded
    // connection's close timeouts fire too.
    channel.embeddedEventLoop.advanceTime(by: .seconds(60))
    collectOutput()
    _ = try? channel.close().wait()
    collectOutput()
    check(decided.isSet, "the handshake never ended")
    // The answers are small (an error page, a 101, close frames, pongs no larger than the pings
    // they answer); anything far beyond the input means output grows without bound.
    check(written <= 2 * size + 16 * 1024, "wrote \(written) bytes for \(size) bytes of input")
    _ = try? channel.finish()
    return 0
}

/// Set from a future's callback; the embedded loop runs callbacks on this thread, in order.
private final class Flag: @unchecked Sendable {
    var isSet = false
}

/// The program's entry: SwiftPM links an executable target with `main` renamed to this name.
@_cdecl("FuzzServerHandshake_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runLibFuzzer(argc, argv, fuzz)
}
