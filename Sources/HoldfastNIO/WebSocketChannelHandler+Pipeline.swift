import NIOCore

extension WebSocketChannelHandler {
    /// Puts `handler` in place of the handshake's HTTP handlers: `context` is the handshake
    /// handler's. The HTTP decoder forwards the bytes that followed the handshake as it leaves;
    /// the returned future completes once it has left and `handler` is active.
    static func replaceHTTPHandlers(in context: ChannelHandlerContext,
                                    with handler: WebSocketChannelHandler) throws -> EventLoopFuture<Void> {
        let operations = context.pipeline.syncOperations
        try operations.addHandler(handler, name: "holdfast.websocket")
        operations.removeHandler(name: "holdfast.http-encoder", promise: nil)
        operations.removeHandler(context: context, promise: nil)
        let decoderRemoved = context.eventLoop.makePromise(of: Void.self)
        operations.removeHandler(name: "holdfast.http-decoder", promise: decoderRemoved)
        let loopBound = NIOLoopBound(handler, eventLoop: context.eventLoop)
        return decoderRemoved.futureResult.always { _ in loopBound.value.activate() }
    }
}
