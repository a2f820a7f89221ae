import Holdfast
import HoldfastCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Receives transfers on server connections: answers offers with the offset held, stores each
/// chunk once and in order, acknowledges what is stored, and delivers a transfer only after its
/// bytes matched the sender's SHA-256.
///
/// ```swift
/// let receiver = TransferReceiver(store: try await .disk(directory: "/srv/uploads"))
/// let server = WebSocketServer(configuration: .init(port: 8080)) { ws in await receiver.serve(ws) }
/// ```
/// Completed transfers arrive in ``transfers``; one receiver serves any number of connections.
public final class TransferReceiver: Sendable {
    /// Where partial transfers are kept.
    public let store: TransferStore
    /// Every transfer that arrived whole and verified, in the order they completed. Iterate it
    /// once; transfers not taken wait in it (a memory store's bytes with them).
    public let transfers: AsyncStream<ReceivedTransfer>
    /// The largest transfer message taken, when smaller than the connection's message limit.
    public let maxMessageSize: Int?
    private let sink: AsyncStream<ReceivedTransfer>.Continuation
    private let logger: Logger
    /// The number of the next connection served, which the store tells writers apart by.
    private let connections = NIOLockedValueBox<UInt64>(0)

    /// Creates a receiver.
    /// - Parameters:
    ///   - store: where partial transfers are kept; default in memory, with the default limits.
    ///   - maxMessageSize: the largest transfer message taken; a larger chunk closes the
    ///     connection with 1009 naming this limit, and the sender lowers its chunk size to fit.
    ///     For a receiver that wants smaller writes than its connections allow other traffic,
    ///     which the announced limits do not tell. Default `nil`: the connection's own limit.
    ///   - logger: where refusals and store failures are logged.
    public init(store: TransferStore = .memory(), maxMessageSize: Int? = nil,
                logger: Logger = Logger(label: "holdfast.transfer-receiver")) {
        self.store = store
        self.maxMessageSize = maxMessageSize
        self.logger = logger
        (self.transfers, self.sink) = AsyncStream.makeStream(of: ReceivedTransfer.self)
    }

    /// Handles the transfer messages of `webSocket` until it closes. Anything that is not a
    /// transfer message closes the connection: text with 1003, a malformed message with 1008.
    public func serve(_ webSocket: WebSocket) async {
        let writer = connections.withLockedValue { count in
            count += 1
            return TransferWriter(number: count)
        }
        var touched = Set<TransferID>()
        /// The last resume offset sent for a chunk that did not follow on, so that a window of
        /// such chunks gets one answer, not one each.
        var answeredGaps: [TransferID: Int] = [:]
        receiving: for await message in webSocket.messages {
            guard message.kind == .binary else {
                await webSocket.close(code: .unsupportedData, reason: "transfer messages are binary")
                break
            }
            if let maxMessageSize, message.data.readableBytes > maxMessageSize {
                // The same words as the connection's own 1009, so the sender reads the limit.
                await webSocket.close(code: .messageTooBig, reason: CloseFrame.messageTooBigReason(limit: maxMessageSize))
                break
            }
            let decoded: TransferMessage
            do {
                decoded = try TransferMessage(decoding: message.data)
            } catch {
                logger.info("malformed transfer message", metadata: ["reason": "\(error.reason)"])
                await webSocket.close(code: .policyViolation, reason: error.reason)
                break
            }
            let id = decoded.id
            do {
                switch decoded {
                case .offer(let offer):
                    let held = try await store.open(offer, by: writer)
                    touched.insert(id)
                    answeredGaps[id] = nil
                    await reply(.resume(id: id, offset: held), on: webSocket)
                case .chunk(_, let offset, var data):
                    guard let (held, size) = store.held(id) else {
                        throw TransferRefusal(.unknownTransfer, "transfer \(id) is not kept here; offer it again")
                    }
                    switch TransferChunkPlacement(offset: offset, length: data.readableBytes, held: held, size: size) {
                    case .write(let skipping):
                        data.moveReaderIndex(forwardBy: skipping)
                        touched.insert(id)
                        let newHeld = try await store.write(data, to: id, at: offset + skipping, by: writer)
                        await reply(.acknowledge(id: id, offset: newHeld), on: webSocket)
                    case .duplicate:
                        continue
                    case .gap(let expected):
                        guard answeredGaps[id] != expected else { continue }
                        answeredGaps[id] = expected
                        await reply(.resume(id: id, offset: expected), on: webSocket)
                    case .outOfRange:
                        throw TransferRefusal(.chunkOutOfRange, "a chunk at \(offset) of \(data.readableBytes) bytes "
                                              + "runs past the transfer's \(size) bytes")
                    }
                case .finish(_, let digest):
                    if let (held, size) = store.held(id), held < size {
                        continue  // Bytes are missing: the sender resumes and finishes again.
                    }
                    switch try await store.complete(id, digest: digest, by: writer) {
                    case .delivered(let received):
                        logger.info("transfer received", metadata: ["name": "\(received.name)", "bytes": "\(received.size)"])
                        sink.yield(received)
                    case .deliveredBefore:
                        break
                    }
                    touched.remove(id)
                    await reply(.complete(id: id, digest: digest), on: webSocket)
                case .resume, .acknowledge, .complete, .refuse:
                    await webSocket.close(code: .policyViolation, reason: "a sender sent a receiver's message")
                    return
                }
            } catch let refusal as TransferRefusal {
                logger.info("transfer refused", metadata: ["id": "\(id)", "reason": "\(refusal.reason)"])
                touched.remove(id)
                await reply(.refuse(id: id, refusal), on: webSocket)
            } catch {
                // A shared storage is unreachable: nothing is refused, the sender comes back later
                // (here or to another node) and resumes from what the storage holds then.
                logger.warning("transfer store unavailable; asking the sender to come back",
                               metadata: ["id": "\(id)", "error": "\(error)"])
                await webSocket.close(code: .tryAgainLater,
                                      reason: CloseFrame.reason("transfer store unavailable", retryIn: Self.unavailableRetryDelay))
                break receiving
            }
        }
        // A connection that ends (a restart's 1001 included) leaves what it stored durable, and
        // its transfers free for the sender's next connection.
        store.release(writer)
        await store.synchronize(touched)
    }

    /// How long a sender is asked to wait before coming back when a shared storage cannot be
    /// reached: about the time a database takes to restart or fail over.
    static let unavailableRetryDelay = Duration.seconds(2)

    /// Sends a reply; a connection that is closing takes none, and its sender resumes anyway.
    private func reply(_ message: TransferMessage, on webSocket: WebSocket) async {
        try? await webSocket.send(.binary(message.encoded()))
    }
}
