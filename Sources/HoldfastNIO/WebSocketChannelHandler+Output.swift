import NIOCore

// MARK: - Output batching

/// Everything written while handling one read, or during one event-loop tick, goes out as one
/// buffer with a single flush.
extension WebSocketChannelHandler {
    func scheduleFlush(context: ChannelHandlerContext) {
        needsFlush = true
        guard !isReading, !flushScheduled else { return }
        flushScheduled = true
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = loopBound.value
            handler.flushScheduled = false
            if let context = handler.context { handler.flushIfNeeded(context: context) }
        }
    }

    /// Gives the batch the event loop's spare memory, unless it already has memory of its own.
    func startBatchIfNeeded() {
        if batch.capacity == 0, let spareOutput { batch = spareOutput.take() }
    }

    /// Writes what the batch holds (without flushing), before anything written on its own.
    func writeBatch(context: ChannelHandlerContext) {
        guard batch.readableBytes > 0 else { return }
        context.write(wrapOutboundOut(batch), promise: nil)
        // The channel holds the written bytes until the socket takes them; the memory is then
        // free for the next batch on this event loop, this connection's or another's.
        spareOutput?.giveBack(batch)
        batch = ByteBuffer()
    }

    /// A large payload goes out as it is, after everything encoded before it (its header last).
    func writeSeparately(_ output: inout ByteBuffer, _ payload: ByteBuffer, context: ChannelHandlerContext) {
        if output.readableBytes > 0 {
            context.write(wrapOutboundOut(output), promise: nil)
            spareOutput?.giveBack(output)
        }
        context.write(wrapOutboundOut(payload), promise: nil)
        output = ByteBuffer()
    }

    func flushIfNeeded(context: ChannelHandlerContext) {
        guard needsFlush else { return }
        needsFlush = false
        writeBatch(context: context)
        context.flush()
    }
}
