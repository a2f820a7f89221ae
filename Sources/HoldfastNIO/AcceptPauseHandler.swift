#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// On a listening channel: when `accept` fails for lack of file descriptors or memory, stops
/// accepting for a moment, then goes on. Without it the listener spins a core: the backlog
/// stays readable, and every accept fails at once. (NIO's `AcceptBackoffHandler` delays only
/// the next read request, which a listener whose accepts all fail never makes: it stays
/// registered for reading.) Here reading stops outright (`autoRead` off, which takes the socket
/// out of the poll set) and resumes after the pause; connections wait in the backlog meanwhile.
package final class AcceptPauseHandler: ChannelInboundHandler {
    package typealias InboundIn = any Channel
    package typealias InboundOut = any Channel

    private let pause: TimeAmount
    private var resumption: Scheduled<Void>?

    /// A handler that pauses accepting for `pause` after each such failure.
    package init(pause: TimeAmount) {
        self.pause = pause
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? IOError, Self.isExhaustion(error.errnoCode) else {
            context.fireErrorCaught(error)
            return
        }
        guard resumption == nil, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: false)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        resumption = context.eventLoop.scheduleTask(in: pause) {
            let (handler, context) = loopBound.value
            handler.resumption = nil
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        resumption?.cancel()
        resumption = nil
    }

    /// Whether `code` says the process or the system ran out of descriptors or memory.
    private static func isExhaustion(_ code: CInt) -> Bool {
        code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM
    }
}
