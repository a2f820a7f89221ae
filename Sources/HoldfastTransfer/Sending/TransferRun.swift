import Holdfast
import HoldfastCore
import Logging
import NIOCore

/// One transfer in progress: the pure bookkeeping plus the connection it is sent on.
struct TransferRun {
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
    /// "Busy" refusals answered in a row (another connection of the receiver writes the
    /// transfer), and how many are waited out.
    var busyRefusals = 0
    let maxBusyRetries: Int

    /// What the sender does after a message, beyond sending what the window allows.
    enum FollowUp {
        /// Offer the transfer again after the configured delay.
        case offerAgainLater
    }

    init(offer: TransferOffer, reader: TransferReader, configuration: TransferSenderConfiguration,
         onEvent: @escaping @Sendable (TransferEvent) -> Void, logger: Logger) {
        self.offer = offer
        self.reader = reader
        self.onEvent = onEvent
        self.logger = logger
        self.state = TransferSendState(size: offer.size, preferredChunkSize: configuration.chunkSize,
                                       window: configuration.window)
        self.maxBusyRetries = configuration.maxBusyRetries
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

    /// Offers the transfer again on the current connection, after a "busy" refusal.
    mutating func offerAgain() async {
        await send(.offer(offer))
    }

    @discardableResult
    mutating func handle(_ message: WebSocketMessage) async throws -> FollowUp? {
        guard message.kind == .binary, let decoded = try? TransferMessage(decoding: message.data),
              decoded.id == offer.id else {
            logger.debug("ignored a message that is not about this transfer", metadata: ["message": "\(message)"])
            return nil
        }
        do {
            switch decoded {
            case .resume(_, let offset):
                guard connection != nil else { return nil }
                busyRefusals = 0
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
                    throw TransferError.digestMismatch(
                        "the receiver confirmed digest \(digest), but the bytes sent have \(expected)")
                }
                state.completed()
                confirmedDigest = digest
                onEvent(.progress(progress))
            case .refuse(_, let refusal) where refusal.code == .transferBusy && busyRefusals < maxBusyRetries:
                busyRefusals += 1
                onEvent(.waitingForOtherWriter(attempt: busyRefusals))
                logger.info("the receiver is still writing this transfer from another connection; offering again",
                            metadata: ["reason": "\(refusal.reason)", "attempt": "\(busyRefusals)"])
                return .offerAgainLater
            case .refuse(_, let refusal):
                throw TransferError.refused(refusal)
            case .offer, .chunk, .finish:
                throw TransferError.protocolViolation("the peer sent back an offer, chunk or finish, which only a "
                                                      + "sender sends: it is not a transfer receiver (an echo server?)")
            }
        } catch let failure as TransferSendState.Failure {
            throw TransferError.protocolViolation(failure.reason)
        }
        return nil
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
    func report() -> TransferReport? {
        guard state.phase == .complete, let confirmedDigest else { return nil }
        return TransferReport(id: offer.id, size: offer.size, digest: confirmedDigest, bytesOnWire: bytesOnWire,
                              retransmittedBytes: retransmittedBytes, finalChunkSize: state.chunkSize,
                              sessions: sessions)
    }
}
