import HoldfastTransfer
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// Partial transfers and delivery records in PostgreSQL, shared by every node of a cluster: a
/// sender cut off from one node resumes on another from the last byte acknowledged, and one
/// that offers a delivered transfer again is told it arrived, whichever node it reaches.
///
/// ```swift
/// let storage = try await PostgresTransferStorage.open(try PostgresLocation(url: "postgres://holdfast@db/holdfast"))
/// let store = try await TransferStore.shared(storage, directory: "/srv/uploads")
/// let receiver = TransferReceiver(store: store)
/// // Run `storage` (its pool of connections) beside the server, e.g. first in a ServiceGroup,
/// // so that it stops after the server has drained its connections.
/// ```
///
/// Each chunk is written in one transaction (the row of the partial transfer locked, so writes
/// to one transfer take turns) and acknowledged only once committed; the bytes held never go
/// back, and a chunk written again is skipped. The tables are in `PostgresTransferSchema`
/// (created by ``open(_:abandonedAfter:deliveriesKept:operationTimeout:logger:)``). An operation that cannot reach the
/// database within ``operationTimeout`` throws, and the receiver asks the sender to come back.
public final class PostgresTransferStorage: SharedTransferStorage, Service {
    /// The database.
    public let location: PostgresLocation
    /// How long one operation (a chunk's transaction, a lookup) may wait for the database before
    /// it fails. Default 5 s: past a connection timeout (3 s), short enough that a sender is
    /// told to come back instead of waiting on a database that is down.
    public let operationTimeout: Duration
    private let client: PostgresClient
    private let logger: Logger
    /// The most bytes of chunks one ``read(_:from:)`` returns, beyond the last chunk it starts.
    static let readBound = 4 << 20

    private init(location: PostgresLocation, operationTimeout: Duration, logger: Logger) {
        self.location = location
        self.operationTimeout = operationTimeout
        self.logger = logger
        self.client = PostgresClient(configuration: location.clientConfiguration, backgroundLogger: logger)
    }

    /// Connects to `location` once to create or check the tables (see `PostgresTransferSchema`)
    /// and to delete what was abandoned, and returns a storage over a pool of connections that
    /// ``run()`` runs.
    /// - Parameters:
    ///   - location: the database.
    ///   - abandonedAfter: partial transfers no node wrote to for this long are deleted: those
    ///     of senders that never came back, whichever node they used (each node's store expires
    ///     only the transfers offered to it). Default 1 hour, the stores' default idle timeout.
    ///   - deliveriesKept: how long the record of a delivery is kept, for senders that missed the
    ///     confirmation. Default 7 days.
    ///   - operationTimeout: see ``operationTimeout``.
    ///   - logger: where the pool logs.
    /// - Throws: when the database cannot be reached, or its tables are of a newer version.
    public static func open(_ location: PostgresLocation, abandonedAfter: Duration = .seconds(3600),
                            deliveriesKept: Duration = .seconds(7 * 86_400), operationTimeout: Duration = .seconds(5),
                            logger: Logger = Logger(label: "holdfast.postgres-transfers")) async throws
        -> PostgresTransferStorage
    {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: try location.connectionConfiguration(),
                                                              id: 1, logger: logger)
        } catch {
            throw PostgresFailure.readable(error)
        }
        do {
            try await PostgresTransferSchema.prepare(on: connection, logger: logger)
            try await connection.query("""
                DELETE FROM holdfast_transfer_partial
                WHERE last_write < now() - make_interval(secs => \(abandonedAfter.postgresSeconds))
                """, logger: logger)
            try await connection.query("""
                DELETE FROM holdfast_transfer_delivered
                WHERE delivered_at < now() - make_interval(secs => \(deliveriesKept.postgresSeconds))
                """, logger: logger)
        } catch {
            try? await connection.close()
            throw PostgresFailure.readable(error)
        }
        try? await connection.close()
        return PostgresTransferStorage(location: location, operationTimeout: operationTimeout, logger: logger)
    }

    /// Runs the pool of connections until the task is cancelled or, in a `ServiceGroup`, a
    /// graceful shutdown reaches it. Operations wait for it to run.
    public func run() async throws {
        await client.run()
    }

    public func state(of id: TransferID) async throws -> SharedTransferState? {
        let key = id.description
        return try await bounded { [client, logger] in
            let delivered = try await client.query(
                "SELECT digest FROM holdfast_transfer_delivered WHERE transfer_id = \(key)", logger: logger)
            for try await text in delivered.decode(String.self) {
                guard let digest = TransferDigest(hexadecimal: text) else {
                    throw PostgresTransferSchema.Unusable(description: "transfer \(key) has an unreadable digest '\(text)'")
                }
                return .delivered(digest)
            }
            let partial = try await client.query(
                "SELECT name, size, digest, held FROM holdfast_transfer_partial WHERE transfer_id = \(key)", logger: logger)
            for try await (name, size, digestText, held) in partial.decode((String, Int, String?, Int).self) {
                let digest = digestText.flatMap(TransferDigest.init(hexadecimal:))
                guard digest != nil || digestText == nil else {
                    throw PostgresTransferSchema.Unusable(description: "transfer \(key) has an unreadable digest")
                }
                return .partial(TransferOffer(id: id, size: size, digest: digest, name: name), held: held)
            }
            return nil
        }
    }

    public func create(_ offer: TransferOffer) async throws {
        let (key, name, size, digest) = (offer.id.description, offer.name, offer.size, offer.digest?.description)
        try await bounded { [client, logger] in
            try await client.query("""
                INSERT INTO holdfast_transfer_partial (transfer_id, name, size, digest)
                VALUES (\(key), \(name), \(size), \(digest)) ON CONFLICT (transfer_id) DO NOTHING
                """, logger: logger)
        }
    }

    /// Why a chunk was not stored: the transfer is gone, or the chunk does not continue it.
    struct ChunkNotStored: Error, CustomStringConvertible {
        let description: String
    }

    public func write(_ data: ByteBuffer, to id: TransferID, at offset: Int) async throws {
        let key = id.description
        try await bounded { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    "SELECT held, size FROM holdfast_transfer_partial WHERE transfer_id = \(key) FOR UPDATE", logger: logger)
                var found: (held: Int, size: Int)?
                for try await row in rows.decode((Int, Int).self) { found = row }
                guard let (held, size) = found else {
                    throw ChunkNotStored(description: "transfer \(key) is not stored (discarded or delivered meanwhile)")
                }
                switch PostgresChunkPlacement(offset: offset, length: data.readableBytes, held: held, size: size) {
                case .alreadyHeld:
                    return
                case .refused(let reason):
                    throw ChunkNotStored(description: "transfer \(key): \(reason)")
                case .store(let skipping):
                    guard let piece = data.getSlice(at: data.readerIndex + skipping, length: data.readableBytes - skipping) else {
                        throw ChunkNotStored(description: "transfer \(key): a chunk shorter than it says")
                    }
                    let end = held + piece.readableBytes
                    try await connection.query("""
                        INSERT INTO holdfast_transfer_chunks (transfer_id, chunk_offset, data) VALUES (\(key), \(held), \(piece))
                        ON CONFLICT DO NOTHING
                        """, logger: logger)
                    try await connection.query("""
                        UPDATE holdfast_transfer_partial SET held = GREATEST(held, \(end)), last_write = now()
                        WHERE transfer_id = \(key)
                        """, logger: logger)
                }
            }
        }
    }

    public func read(_ id: TransferID, from offset: Int) async throws -> ByteBuffer {
        let key = id.description
        let bound = Self.readBound
        return try await bounded { [client, logger] in
            let rows = try await client.query("""
                SELECT chunk_offset, data FROM holdfast_transfer_chunks
                WHERE transfer_id = \(key) AND chunk_offset >= \(offset) AND chunk_offset < \(offset + bound)
                ORDER BY chunk_offset
                """, logger: logger)
            var bytes = ByteBuffer()
            var next = offset
            for try await (chunkOffset, data) in rows.decode((Int, ByteBuffer).self) {
                // Chunks are stored contiguous from 0; anything else ends the piece here.
                guard chunkOffset == next else { break }
                var data = data
                bytes.writeBuffer(&data)
                next = offset + bytes.readableBytes
            }
            return bytes
        }
    }

    public func recordDelivered(_ id: TransferID, digest: TransferDigest) async throws {
        let (key, digestText) = (id.description, digest.description)
        try await bounded { [client, logger] in
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("""
                    INSERT INTO holdfast_transfer_delivered (transfer_id, digest) VALUES (\(key), \(digestText))
                    ON CONFLICT (transfer_id) DO UPDATE SET digest = EXCLUDED.digest, delivered_at = now()
                    """, logger: logger)
                try await connection.query("DELETE FROM holdfast_transfer_partial WHERE transfer_id = \(key)", logger: logger)
            }
        }
    }

    public func discard(_ id: TransferID, unlessWrittenWithin writtenWithin: Duration?) async throws {
        let key = id.description
        try await bounded { [client, logger] in
            if let writtenWithin {
                try await client.query("""
                    DELETE FROM holdfast_transfer_partial
                    WHERE transfer_id = \(key) AND last_write < now() - make_interval(secs => \(writtenWithin.postgresSeconds))
                    """, logger: logger)
            } else {
                try await client.query("DELETE FROM holdfast_transfer_partial WHERE transfer_id = \(key)", logger: logger)
            }
        }
    }

    /// Runs `body` within ``operationTimeout`` (see `withTimeLimit`): a query whose connection
    /// the database closed mid-way can stay unanswered (seen with PostgresNIO 1.33 when
    /// PostgreSQL restarts), and a receiver waiting on it would hold its sender, and the node's
    /// shutdown, for ever. Errors come out readable.
    @discardableResult
    private func bounded<Result: Sendable>(_ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        do {
            return try await withTimeLimit(operationTimeout, body)
        } catch {
            throw PostgresFailure.readable(error)
        }
    }
}

/// Where a chunk goes in a partial transfer holding `held` of `size` bytes: the pure decision of
/// ``PostgresTransferStorage/write(_:to:at:)``, made under the row's lock.
enum PostgresChunkPlacement: Equatable {
    /// Store the chunk from this many bytes in (those before are held already), at `held`.
    case store(skipping: Int)
    /// Every byte of it is held already: a chunk written again.
    case alreadyHeld
    /// It does not continue what is held, or runs past the size.
    case refused(String)

    init(offset: Int, length: Int, held: Int, size: Int) {
        if offset < 0 || length < 0 || offset + length > size {
            self = .refused("a chunk at \(offset) of \(length) bytes runs past the \(size) bytes offered")
        } else if offset > held {
            self = .refused("a chunk at \(offset) leaves a gap after the \(held) bytes held")
        } else if offset + length <= held {
            self = .alreadyHeld
        } else {
            self = .store(skipping: held - offset)
        }
    }
}

extension Duration {
    /// The duration in seconds, with fractions, for PostgreSQL's `make_interval(secs => …)`.
    var postgresSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
