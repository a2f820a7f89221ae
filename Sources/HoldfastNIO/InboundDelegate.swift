import NIOCore

/// Resumes reading on the event loop when the consumer of the inbound sequence wants more.
public struct InboundDelegate: NIOAsyncSequenceProducerDelegate {
    let handler: NIOLoopBound<WebSocketChannelHandler>

    /// The consumer wants more: reading resumes.
    public func produceMore() {
        let handler = self.handler
        handler.eventLoop.execute { handler.value.resumeReading() }
    }

    /// The consumer is gone; the handler learns of it from the channel.
    public func didTerminate() {}
}
