import HoldfastCore
import NIOCore
import NIOPosix
import NIOSSL

/// What every connection of a run shares.
final class LoadSettings: Sendable {
    let target: Target
    /// TLS for wss:// (nil: plain).
    let sslContext: NIOSSLContext?
    /// The permessage-deflate offer (nil: no extension offered).
    let offer: PerMessageDeflateConfiguration?
    /// Bound on connecting, upgrading, and draining at the end.
    let timeout: TimeAmount

    init(target: Target, sslContext: NIOSSLContext?, offer: PerMessageDeflateConfiguration?, timeout: TimeAmount) {
        self.target = target
        self.sslContext = sslContext
        self.offer = offer
        self.timeout = timeout
    }

    /// `client_no_context_takeover` and a bare `client_max_window_bits`: each message is compressed
    /// on its own, so one precompressed frame is valid on every send; any window the server picks
    /// for itself is accepted.
    static let deflateOffer = PerMessageDeflateConfiguration(maxWindowBits: 15, noContextTakeover: true)

    func bootstrap(on loop: any EventLoop, handler: @escaping @Sendable () -> any ChannelHandler) -> ClientBootstrap {
        let sslContext = self.sslContext
        return ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        // An IP address: no SNI; the certificate is checked against the IP SAN.
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(handler())
                }
            }
    }
}

/// The result of one connection's echo load.
struct ConnectionResult: Sendable {
    var messages = 0
    var echoWireBytes = 0
    var compressedEchoes = 0
    var uncompressedEchoes = 0
    var verified = 0
    var latenciesMicroseconds: [UInt32] = []
    var error: String?
}

/// The measured window of an echo run and what each connection sends.
struct EchoPlan: Sendable {
    var pool: MessagePool
    var pipeline: Int
    var firstIndex: Int
    var measureStart: UInt64
    var measureEnd: UInt64
    var deadline: UInt64
    var result: EventLoopPromise<ConnectionResult>
}

/// A connection whose upgrade succeeded, waiting for ``EchoConnection/start(_:)``.
struct UpgradedConnection: Sendable {
    var compression: PerMessageDeflateParameters?
    var handler: NIOLoopBound<EchoConnection>
}
