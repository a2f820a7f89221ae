/// The sender's bookkeeping for one transfer, without I/O: what to send next, what the receiver
/// acknowledged, and how big a chunk may be.
///
/// The I/O layer reports what happens (a connection opened or ended, a message arrived, the peer
/// refused a message as too big) and asks ``nextStep()`` what to send while it may.
public struct TransferSendState: Sendable, Hashable {
    /// Where the transfer stands.
    public enum Phase: Sendable, Hashable {
        /// No connection: waiting for one.
        case disconnected
        /// The offer went out on a new connection; waiting for the receiver's resume offset.
        case offered
        /// Sending chunks; `next` is the offset of the next one.
        case sending(next: Int)
        /// Every byte and the finish message went out; waiting for the receiver's verdict.
        case finished
        /// The receiver confirmed the digest.
        case complete
    }

    /// What to send now.
    public enum Step: Sendable, Hashable {
        /// The bytes `offset ..< offset + length`, as one chunk message.
        case chunk(offset: Int, length: Int)
        /// The finish message with the digest.
        case finish
    }

    /// Why the transfer cannot go on.
    public struct Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// What went wrong, in words.
        public let reason: String

        /// Creates a failure with its reason.
        public init(reason: String) { self.reason = reason }

        public var description: String { reason }
    }

    /// The transfer's size in bytes.
    public let size: Int
    /// The chunk size asked for; the one in force may be smaller (see ``chunkSize``).
    public let preferredChunkSize: Int
    /// Bytes that may be sent and not yet acknowledged (at least one chunk).
    public let window: Int
    /// Data bytes per chunk in force: the preferred size, fitted to the peer's message limit.
    public private(set) var chunkSize: Int
    /// Everything before this offset is stored by the receiver.
    public private(set) var acknowledged = 0
    /// Where the transfer stands.
    public private(set) var phase = Phase.disconnected
    /// The end of the furthest byte handed out by ``nextStep()`` so far.
    public private(set) var highestSent = 0
    /// The chunk size a 1009 lowered it to; it stays lowered on later connections.
    private var chunkSizeCap: Int?

    /// Starts the bookkeeping of a transfer of `size` bytes.
    /// - Parameters:
    ///   - size: the total size.
    ///   - preferredChunkSize: data bytes per chunk asked for (at least 1).
    ///   - window: bytes that may be in flight unacknowledged; raised to one chunk if smaller.
    public init(size: Int, preferredChunkSize: Int, window: Int) {
        self.size = size
        self.preferredChunkSize = max(1, preferredChunkSize)
        self.window = window
        self.chunkSize = self.preferredChunkSize
    }

    /// The data bytes a chunk may carry so that the chunk message fits `messageLimit`.
    public static func chunkCapacity(messageLimit: Int) -> Int {
        messageLimit - TransferMessage.chunkHeaderSize
    }

    /// A connection opened: the offer goes out next. The chunk size is fitted to the peer's
    /// announced message limit, when there is one.
    /// - Throws: when the announced limit leaves no room for data after the chunk header.
    public mutating func connected(announcedMessageLimit: Int?) throws(Failure) {
        guard phase != .complete else { return }
        var size = min(preferredChunkSize, chunkSizeCap ?? .max)
        if let limit = announcedMessageLimit {
            let capacity = Self.chunkCapacity(messageLimit: limit)
            guard capacity > 0 else { throw Self.limitTooSmall(limit) }
            size = min(size, capacity)
        }
        chunkSize = size
        phase = .offered
    }

    /// The receiver holds `offset` bytes: send from there. This answers the offer, or a chunk the
    /// receiver could not place; it may be below what was acknowledged if the receiver lost data.
    /// - Throws: when `offset` is beyond the transfer's size.
    public mutating func resumeReceived(offset: Int) throws(Failure) {
        guard offset <= size else {
            throw Failure(reason: "the receiver claims \(offset) bytes of a \(size)-byte transfer")
        }
        switch phase {
        case .disconnected, .complete:
            return  // An answer from a connection that has ended, or after the end.
        case .offered, .sending, .finished:
            acknowledged = offset
            phase = .sending(next: offset)
        }
    }

    /// The receiver stored everything before `offset`.
    /// - Throws: when `offset` is beyond what was sent.
    public mutating func acknowledgementReceived(offset: Int) throws(Failure) {
        guard offset <= highestSent else {
            throw Failure(reason: "the receiver acknowledged \(offset) bytes, but only \(highestSent) were sent")
        }
        acknowledged = max(acknowledged, offset)
    }

    /// What to send now, if anything: the next chunk while the window allows, the finish message
    /// after the last chunk, or `nil` to wait for acknowledgements or a connection.
    public mutating func nextStep() -> Step? {
        guard case .sending(let next) = phase else { return nil }
        guard next < size else {
            phase = .finished
            return .finish
        }
        let length = min(chunkSize, size - next)
        let inFlight = next - acknowledged
        guard inFlight == 0 || inFlight + length <= max(window, chunkSize) else { return nil }
        highestSent = max(highestSent, next + length)
        phase = .sending(next: next + length)
        return .chunk(offset: next, length: length)
    }

    /// The connection ended; nothing more is sent until the next one.
    public mutating func disconnected() {
        if phase != .complete { phase = .disconnected }
    }

    /// The peer closed with 1009: lower the chunk size to fit the limit its reason named, or to
    /// half. What was acknowledged is not sent again.
    /// - Throws: when the named limit leaves no room for data, or the chunk size is already 1.
    public mutating func refusedAsTooBig(namedLimit: Int?) throws(Failure) {
        let lowered: Int
        if let namedLimit {
            let capacity = Self.chunkCapacity(messageLimit: namedLimit)
            guard capacity > 0 else { throw Self.limitTooSmall(namedLimit) }
            // A limit that would not have refused the chunk: the refused message was another one,
            // or the limit counts differently; halve anyway so that the sender makes progress.
            lowered = capacity < chunkSize ? capacity : chunkSize / 2
        } else {
            lowered = chunkSize / 2
        }
        guard lowered >= 1 else {
            throw Failure(reason: "the peer refuses even 1-byte chunks as too big (close 1009)")
        }
        chunkSize = lowered
        chunkSizeCap = lowered
    }

    /// The receiver confirmed the digest.
    public mutating func completed() {
        phase = .complete
        acknowledged = size
    }

    private static func limitTooSmall(_ limit: Int) -> Failure {
        Failure(reason: "the peer's message limit of \(limit) bytes leaves no room for data after the "
                + "\(TransferMessage.chunkHeaderSize)-byte chunk header")
    }
}
