import Holdfast
import HoldfastCore
import Logging
import NIOCore

/// Sends transfers of any size over a `ReconnectingWebSocket`: as chunks that fit the
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
/// While it sends, the sender reads the client's `ReconnectingWebSocket/events` and
/// `ReconnectingWebSocket/messages` (forwarding the events as ``TransferEvent/connection(_:)``):
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
        /// The wait after a "busy" refusal is over: offer the transfer again.
        case offerAgain
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
                    if try await run.handle(message) == .offerAgainLater {
                        let delay = configuration.busyRetryDelay
                        group.addTask {
                            try await Task.sleep(for: delay)
                            sink.yield(.offerAgain)
                        }
                    }
                case .offerAgain:
                    await run.offerAgain()
                }
                try await run.sendWhileAllowed()
                if let report = run.report() { return report }
            }
            throw TransferError.connectionEnded(nil)
        }
    }
}
