import HoldfastCore
import Logging
import NIOCore

/// The settings of a ``TransferSender``.
public struct TransferSenderConfiguration: Sendable {
    /// Data bytes per chunk asked for. Default 1 MiB; it is lowered to fit the receiver's
    /// announced message limit, and after a 1009 to the limit the close names (or by half).
    public var chunkSize: Int
    /// Bytes that may be sent and not yet acknowledged. Default 4 MiB: enough to keep a
    /// loopback or LAN link busy while acknowledgements travel back; at most this much (plus
    /// what the receiver got but could not acknowledge) is sent again after a connection loss.
    public var window: Int

    /// Creates a configuration; every parameter defaults as documented on its property.
    public init(chunkSize: Int = 1 << 20, window: Int = 4 << 20) {
        self.chunkSize = chunkSize
        self.window = window
    }
}

/// What happens during a transfer, for progress bars and logs.
public enum TransferEvent: Sendable, Hashable {
    /// The reconnecting client's state changed.
    case connection(ReconnectEvent)
    /// The receiver answered the offer: it holds `offset` bytes, so sending starts there.
    case resumed(at: Int)
    /// The receiver acknowledged more bytes.
    case progress(TransferProgress)
    /// A 1009 refused a chunk: the chunk size is now `size`.
    case chunkSizeLowered(to: Int, reason: String)
}

/// How far a transfer has come.
public struct TransferProgress: Sendable, Hashable {
    /// The transfer's size.
    public var size: Int
    /// Bytes the receiver has stored.
    public var acknowledged: Int
    /// Message bytes sent so far (chunk headers, offers and finish included).
    public var bytesOnWire: Int
    /// Data bytes sent more than once.
    public var retransmittedBytes: Int
    /// Data bytes per chunk in force.
    public var chunkSize: Int
}

/// What a completed transfer cost.
public struct TransferReport: Sendable, Hashable {
    /// One connection's share of the transfer.
    public struct Session: Sendable, Hashable {
        /// Where the receiver said to resume.
        public var resumedAt: Int
        /// Data bytes sent on this connection.
        public var dataBytes: Int
        /// Of those, bytes sent before (on an earlier connection).
        public var retransmittedBytes: Int
    }

    /// The transfer's id.
    public var id: TransferID
    /// Its size.
    public var size: Int
    /// The digest the receiver confirmed.
    public var digest: TransferDigest
    /// Every message byte sent: chunk headers, offers and finishes included (not the WebSocket
    /// framing).
    public var bytesOnWire: Int
    /// Data bytes sent more than once.
    public var retransmittedBytes: Int
    /// The chunk size in force at the end.
    public var finalChunkSize: Int
    /// The connections the transfer used, in order.
    public var sessions: [Session]
}

/// Sends transfers of any size over a ``ReconnectingWebSocket``: as chunks that fit the
/// receiver's message limit, with a window of unacknowledged chunks in flight, resumed from the
/// receiver's offset after every reconnect, and complete only once the receiver confirmed the
/// SHA-256 digest.
///
/// ```swift
/// let client = ReconnectingWebSocket(url: "ws://files.example:8080/upload")
/// let sender = TransferSender(client: client)
/// try await withThrowingTaskGroup(of: Void.self) { group in
///     group.addTask { try await client.run() }
///     let report = try await sender.send(try await .file(atPath: "backup.tar")) { print($0) }
///     client.close()
/// }
/// ```
///
/// While it sends, the sender reads the client's ``ReconnectingWebSocket/events`` and
/// ``ReconnectingWebSocket/messages`` (forwarding the events as ``TransferEvent/connection(_:)``):
/// give it a client of its own, for one transfer.
public struct TransferSender: Sendable {
    /// The client the transfer goes over.
    public let client: ReconnectingWebSocket
    /// The settings.
    public let configuration: TransferSenderConfiguration
    private let logger: Logger

    /// Creates a sender over `client`, which the caller runs.
    public init(client: ReconnectingWebSocket, configuration: TransferSenderConfiguration = .init(),
                logger: Logger = Logger(label: "holdfast.transfer-sender")) {
        self.client = client
        self.configuration = configuration
        self.logger = logger
    }

    private enum Input: Sendable {
        case event(ReconnectEvent)
        case eventsEnded
        case message(WebSocketMessage)
    }

    /// Sends `source` and returns once the receiver confirmed its digest.
    /// - Parameters:
    ///   - source: what to send.
    ///   - onEvent: called with connection changes, the resume offset and each acknowledgement.
    /// - Throws: a ``TransferError``: refused by the receiver (its reason says why), a digest
    ///   mismatch, the client gave up, the source failed.
    public func send(_ source: TransferSource,
                     onEvent: @escaping @Sendable (TransferEvent) -> Void = { _ in }) async throws -> TransferReport {
        let reader = try await TransferReader.open(source)
        defer { reader.close() }
        var random = SystemRandomNumberGenerator()
        let id = source.id ?? reader.knownDigest.map { TransferID(name: source.name, size: source.size, digest: $0) }
            ?? TransferID(using: &random)
        let offer = TransferOffer(id: id, size: source.size, digest: reader.knownDigest, name: source.name)
        let (inputs, sink) = AsyncStream.makeStream(of: Input.self)
        let client = self.client
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in client.events { sink.yield(.event(event)) }
                sink.yield(.eventsEnded)
            }
            group.addTask {
                for await message in client.messages { sink.yield(.message(message)) }
            }
            defer { group.cancelAll() }
            var run = TransferRun(offer: offer, reader: reader, configuration: configuration, onEvent: onEvent,
                                  logger: logger)
            if let open = client.connection { try await run.begin(on: open) }
            for await input in inputs {
                switch input {
                case .event(let event):
                    onEvent(.connection(event))
                    try await run.handle(event, current: client.connection)
                case .eventsEnded:
                    throw TransferError.connectionEnded(nil)
                case .message(let message):
                    try await run.handle(message)
                }
                try await run.sendWhileAllowed()
                if let report = try await run.report() { return report }
            }
            throw TransferError.connectionEnded(nil)
        }
    }
}

/// One transfer in progress: the pure bookkeeping plus the connection it is sent on.
private struct TransferRun {
    let offer: TransferOffer
    let reader: TransferReader
    let onEvent: @Sendable (TransferEvent) -> Void
    let logger: Logger
    var state: TransferSendState
    var connection: WebSocket?
    var bytesOnWire = 0
    /// The end of the furthest chunk handed to a connection, to count what goes out twice.
    var highestWritten = 0
    var retransmittedBytes = 0
    var sessions: [TransferReport.Session] = []
    var confirmedDigest: TransferDigest?

    init(offer: TransferOffer, reader: TransferReader, configuration: TransferSenderConfiguration,
         onEvent: @escaping @Sendable (TransferEvent) -> Void, logger: Logger) {
        self.offer = offer
        self.reader = reader
        self.onEvent = onEvent
        self.logger = logger
        self.state = TransferSendState(size: offer.size, preferredChunkSize: configuration.chunkSize,
                                       window: configuration.window)
    }

    /// A connection is open: fit the chunk size to it and send the offer, the resume query.
    mutating func begin(on webSocket: WebSocket) async throws {
        connection = webSocket
        do {
            try state.connected(announcedMessageLimit: webSocket.peerLimits.maxMessageSize)
        } catch {
            throw TransferError.cannotContinue(error.reason)
        }
        await send(.offer(offer))
    }

    mutating func handle(_ event: ReconnectEvent, current: WebSocket?) async throws {
        switch event {
        case .connected:
            if let current, current !== connection { try await begin(on: current) }
        case .disconnected(let ending):
            connection = nil
            state.disconnected()
            guard case .closed(let outcome) = ending, outcome.code == .messageTooBig else { return }
            let named = outcome.received?.namedLimit
            do {
                try state.refusedAsTooBig(namedLimit: named)
            } catch {
                throw TransferError.cannotContinue(error.reason)
            }
            logger.info("chunk refused as too big; chunk size lowered",
                        metadata: ["reason": "\(outcome.reason)", "chunk-size": "\(state.chunkSize)"])
            onEvent(.chunkSizeLowered(to: state.chunkSize, reason: outcome.reason))
        case .gaveUp(let ending):
            throw TransferError.connectionEnded(ending)
        case .connecting, .waiting:
            break
        }
    }

    mutating func handle(_ message: WebSocketMessage) async throws {
        guard message.kind == .binary, let decoded = try? TransferMessage(decoding: message.data),
              decoded.id == offer.id else {
            logger.debug("ignored a message that is not about this transfer", metadata: ["message": "\(message)"])
            return
        }
        do {
            switch decoded {
            case .resume(_, let offset):
                guard connection != nil else { return }
                try state.resumeReceived(offset: offset)
                sessions.append(.init(resumedAt: offset, dataBytes: 0, retransmittedBytes: 0))
                onEvent(.resumed(at: offset))
            case .acknowledge(_, let offset):
                try state.acknowledgementReceived(offset: offset)
                reader.release(below: state.acknowledged)
                onEvent(.progress(progress))
            case .complete(_, let digest):
                let expected = try await reader.digest()
                guard digest == expected else {
                    throw TransferError.digestMismatch("the receiver confirmed digest \(digest), but the bytes sent have \(expected)")
                }
                state.completed()
                confirmedDigest = digest
                onEvent(.progress(progress))
            case .refuse(_, let refusal):
                throw TransferError.refused(refusal)
            case .offer, .chunk, .finish:
                throw TransferError.protocolViolation("the receiver sent an offer, chunk or finish, which only a sender sends")
            }
        } catch let failure as TransferSendState.Failure {
            throw TransferError.protocolViolation(failure.reason)
        }
    }

    /// Sends chunks while the window allows, and the finish message after the last one.
    mutating func sendWhileAllowed() async throws {
        while connection != nil, let step = state.nextStep() {
            switch step {
            case .chunk(let offset, let length):
                let data = try await reader.read(offset: offset, length: length)
                guard await send(.chunk(id: offer.id, offset: offset, data: data)) else { return }
                let again = max(0, min(offset + length, highestWritten) - offset)
                highestWritten = max(highestWritten, offset + length)
                retransmittedBytes += again
                if !sessions.isEmpty {
                    sessions[sessions.count - 1].dataBytes += length
                    sessions[sessions.count - 1].retransmittedBytes += again
                }
            case .finish:
                await send(.finish(id: offer.id, digest: try await reader.digest()))
            }
        }
    }

    /// Sends `message` on the current connection and says whether it went; a failed send means
    /// that connection is ending, and the client's next event says so.
    @discardableResult
    private mutating func send(_ message: TransferMessage) async -> Bool {
        guard let connection else { return false }
        let payload = message.encoded()
        do {
            try await connection.send(.binary(payload))
            bytesOnWire += payload.readableBytes
            return true
        } catch {
            logger.debug("send failed; waiting for the next connection", metadata: ["error": "\(error)"])
            self.connection = nil
            state.disconnected()
            return false
        }
    }

    var progress: TransferProgress {
        TransferProgress(size: offer.size, acknowledged: state.acknowledged, bytesOnWire: bytesOnWire,
                         retransmittedBytes: retransmittedBytes, chunkSize: state.chunkSize)
    }

    /// The report, once the receiver confirmed the digest.
    func report() async throws -> TransferReport? {
        guard state.phase == .complete, let confirmedDigest else { return nil }
        return TransferReport(id: offer.id, size: offer.size, digest: confirmedDigest, bytesOnWire: bytesOnWire,
                              retransmittedBytes: retransmittedBytes, finalChunkSize: state.chunkSize,
                              sessions: sessions)
    }
}
