import HoldfastCore
import HoldfastNIO
import NIOCore

extension NIOLoopBound where Value == WebSocketChannelHandler {
    /// Starts closing after `delay`, from any thread; the close handshake then has `timeout`.
    func beginClose(code: CloseCode, reason: String, timeout: TimeAmount, after delay: TimeAmount) {
        let frame = CloseFrame(code: code, reason: reason)
        eventLoop.scheduleTask(in: delay) {
            _ = self.value.close(frame, timeout: timeout)
        }
    }
}
