import HoldfastCore
import HoldfastNIO
import Logging

extension WebSocketServer {
    /// Runs `handler` for one upgraded connection in a task of the server, then closes the
    /// connection: with 1000 when the handler returned, 1011 when it threw, at once (TCP) when
    /// the server was cancelled; and awaits the close handshake.
    static func serve<Context>(_ upgraded: UpgradedConnection, context: Context,
                               handler: @Sendable (WebSocket, Context) async throws -> Void,
                               logger: Logger) async {
        let webSocket = WebSocket(upgraded)
        var closeCode = CloseCode.normalClosure
        do {
            try await handler(webSocket, context)
        } catch let error as WebSocketError {
            // The connection closed under the handler (a send after the peer's close): no fault.
            logger.debug("connection handler ended by the connection", metadata: ["error": "\(error)"])
        } catch {
            logger.warning("connection handler failed", metadata: ["error": "\(error)"])
            closeCode = .internalError
        }
        if Task.isCancelled {
            webSocket.abort()
        }
        // How it ended is counted and logged where every connection's end is (`ServerRun.register`).
        _ = await webSocket.close(code: closeCode)
    }
}
