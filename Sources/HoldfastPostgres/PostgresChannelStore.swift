import Foundation
import HoldfastChannels
import HoldfastCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// Channels' streams in PostgreSQL, shared by every node of a cluster: offsets are assigned in
/// the database, in order and without gaps per channel, whichever node publishes; every
/// publication, of any size up to the message limit, is a row; `NOTIFY` only wakes the other
/// nodes up (its payload names the channel and its last offset), and each node also polls, so a
/// lost notification delays a message by at most ``pollInterval`` and never loses it.
///
/// ```swift
/// let store = try await PostgresChannelStore.open(try PostgresLocation(url: "postgres://app@db:5432/app"))
/// let hub = ChannelHub(store: store)
/// ```
///
/// A batch is one transaction: the channels' rows are locked in name order (so nodes appending
/// to the same channels never deadlock), their counters advanced, the publications inserted.
/// Publish ids are remembered for `ChannelHistoryLimits.publishIDWindow` in a table, so a
/// publish retried on another node after a lost acknowledgement is stored once. The schema is
/// created (and its version checked) on ``open(_:limits:pollInterval:logger:)``; history is
/// trimmed by count and age. While PostgreSQL cannot be reached, operations fail at once with
/// `ChannelStoreError.unavailable` (retryable for clients) and ``health`` says why.
public final class PostgresChannelStore: SharedChannelStore {
    public let limits: ChannelHistoryLimits
    public let pollInterval: Duration
    /// The database.
    public let location: PostgresLocation
    /// The epoch of every stream in this database, kept in `holdfast_meta`: the same across
    /// restarts of nodes and of PostgreSQL; a new one only if the tables are made anew.
    public let epoch: String

    /// The version of the tables this code writes; a database with a higher one is refused.
    public static let schemaVersion = 1
    /// The `NOTIFY` channel; each payload is `LAST_OFFSET CHANNEL_NAME`.
    public static let notificationChannel = "holdfast_channels"
    /// How long one operation may take before the store counts PostgreSQL as out of reach.
    static let operationLimit = Duration.seconds(5)

    private let client: PostgresClient
    private let clientRun: Task<Void, Never>
    private let listener: NIOLockedValueBox<Task<Void, Never>?> = NIOLockedValueBox(nil)
    private let reachability: PostgresReachability
    private let logger: Logger
    /// Channels appended to by this node since the last trim: the ones whose count may be over.
    private let appendedSinceTrim = NIOLockedValueBox<Set<String>>([])

    private init(location: PostgresLocation, limits: ChannelHistoryLimits, pollInterval: Duration, epoch: String,
                 client: PostgresClient, clientRun: Task<Void, Never>, logger: Logger) {
        self.location = location
        self.limits = limits
        self.pollInterval = pollInterval
        self.epoch = epoch
        self.client = client
        self.clientRun = clientRun
        self.logger = logger
        self.reachability = PostgresReachability(store: "channels", logger: logger) {
            _ = try await withTimeLimit(.seconds(2)) { try await client.query("SELECT 1") }
        }
    }

    /// Connects to `location`, creates or checks the tables, and returns the store.
    /// - Parameters:
    ///   - location: the database, from a `postgres://` URL.
    ///   - limits: history kept per channel, by count and age (`ChannelHistoryLimits.maxBytes`
    ///     is for the in-memory store), ids remembered, channels allowed.
    ///   - pollInterval: how often the hub asks where the followed channels stand. Default 1 s.
    ///   - logger: where the store says that PostgreSQL went out of reach and came back.
    /// - Throws: `ChannelStoreError.unavailable` when PostgreSQL cannot be reached or its
    ///   tables were written by a newer version.
    public static func open(_ location: PostgresLocation, limits: ChannelHistoryLimits = .init(),
                            pollInterval: Duration = .seconds(1),
                            logger: Logger = Logger(label: "holdfast.channels.postgres")) async throws -> PostgresChannelStore {
        let client = PostgresClient(configuration: location.clientConfiguration, backgroundLogger: logger)
        let clientRun = Task { await client.run() }
        do {
            let epoch = try await withTimeLimit(.seconds(15)) {
                try await client.withTransaction(logger: logger) { try await prepareSchema(on: $0, logger: logger) }
            }
            return PostgresChannelStore(location: location, limits: limits, pollInterval: pollInterval, epoch: epoch,
                                        client: client, clientRun: clientRun, logger: logger)
        } catch {
            clientRun.cancel()
            throw ChannelStoreError.unavailable("cannot open the channel tables in \(location): \(PostgresFailure.readable(error))")
        }
    }

    public var health: ChannelStoreHealth {
        reachability.problem.map { .unavailable(reason: $0) } ?? .available
    }

    // MARK: - Schema

    /// Creates the tables if they are missing, under a lock so that nodes starting together do
    /// not race, and returns the epoch.
    private static func prepareSchema(on connection: PostgresConnection, logger: Logger) async throws -> String {
        try await connection.query("SELECT pg_advisory_xact_lock(\(schemaLock))", logger: logger)
        try await connection.query("CREATE TABLE IF NOT EXISTS holdfast_meta (key text PRIMARY KEY, value text NOT NULL)",
                                   logger: logger)
        if let version = try await meta("channels_schema_version", on: connection, logger: logger), Int(version) != schemaVersion {
            throw ChannelStoreError.unavailable("the channel tables are at schema version \(version); this holdfast knows \(schemaVersion)")
        }
        for statement in schemaStatements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
        try await connection.query("""
            INSERT INTO holdfast_meta (key, value) VALUES ('channels_schema_version', \(String(schemaVersion))),
                ('channels_epoch', \(randomIdentifier())) ON CONFLICT (key) DO NOTHING
            """, logger: logger)
        guard let epoch = try await meta("channels_epoch", on: connection, logger: logger) else {
            throw ChannelStoreError.unavailable("holdfast_meta holds no channels_epoch")
        }
        return epoch
    }

    private static func meta(_ key: String, on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query("SELECT value FROM holdfast_meta WHERE key = \(key)", logger: logger)
        for try await value in rows.decode(String.self) { return value }
        return nil
    }

    /// The advisory lock held while the tables are made (any number unlikely to be another's).
    private static let schemaLock: Int64 = 0x686F6C6466617374

    /// The tables, version 1.
    static let schemaStatements = [
        "CREATE TABLE IF NOT EXISTS holdfast_channels (name text PRIMARY KEY, top bigint NOT NULL)",
        """
        CREATE TABLE IF NOT EXISTS holdfast_publications (
            channel text NOT NULL, "offset" bigint NOT NULL, is_binary boolean NOT NULL, payload bytea NOT NULL,
            published_at timestamptz NOT NULL, PRIMARY KEY (channel, "offset"))
        """,
        "CREATE INDEX IF NOT EXISTS holdfast_publications_published_at ON holdfast_publications (published_at)",
        """
        CREATE TABLE IF NOT EXISTS holdfast_publish_ids (
            channel text NOT NULL, publish_id text NOT NULL, "offset" bigint NOT NULL, stored_at timestamptz NOT NULL,
            PRIMARY KEY (channel, publish_id))
        """,
        "CREATE INDEX IF NOT EXISTS holdfast_publish_ids_stored_at ON holdfast_publish_ids (stored_at)",
    ]

    // MARK: - Appending

    /// The statement that stores a batch: `$1` the channels, `$2` whether each payload is binary,
    /// `$3` the payloads, in publish order. It advances each channel's counter by its count in
    /// the batch (locking the channels' rows in name order), numbers the publications from there,
    /// inserts them, and notifies the other nodes. Rows: the publish's place in the batch (from
    /// 1), its offset, whether its channel was new. `scripts/bench-cluster.sh` measures PostgreSQL
    /// running this very statement.
    public static let appendStatement = """
        WITH input AS (
            SELECT channel, is_binary, payload, ord
            FROM unnest($1::text[], $2::boolean[], $3::bytea[]) WITH ORDINALITY AS i(channel, is_binary, payload, ord)
        ), counts AS (
            SELECT channel, count(*) AS n FROM input GROUP BY channel
        ), tops AS (
            INSERT INTO holdfast_channels AS c (name, top)
            SELECT channel, n FROM counts ORDER BY channel
            ON CONFLICT (name) DO UPDATE SET top = c.top + excluded.top
            RETURNING name, top, (xmax = 0) AS created
        ), numbered AS (
            SELECT i.ord, i.channel, i.is_binary, i.payload,
                   t.top - k.n + row_number() OVER (PARTITION BY i.channel ORDER BY i.ord) AS "offset", t.created
            FROM input i JOIN tops t ON t.name = i.channel JOIN counts k ON k.channel = i.channel
        ), stored AS (
            INSERT INTO holdfast_publications (channel, "offset", is_binary, payload, published_at)
            SELECT channel, "offset", is_binary, payload, clock_timestamp() FROM numbered
        ), notified AS (
            SELECT pg_notify('holdfast_channels', top::text || ' ' || name) FROM tops
        )
        SELECT ord, "offset", created, (SELECT count(*) FROM notified) FROM numbered ORDER BY ord
        """

    public func append(_ requests: [ChannelPublishRequest]) async throws -> [ChannelPublishReceipt] {
        guard !requests.isEmpty else { return [] }
        try reachability.check()
        var attempt = 0
        while true {
            attempt += 1
            do {
                let receipts = try await withTimeLimit(Self.operationLimit) { [self] in
                    try await client.withTransaction(logger: logger) { connection in
                        let receipts = try await self.insert(requests, on: connection)
                        // Given up on by the time limit: roll back rather than store what the
                        // caller was told failed.
                        try Task.checkCancellation()
                        return receipts
                    }
                }
                appendedSinceTrim.withLockedValue { set in for request in requests { set.insert(request.channel.value) } }
                return receipts
            } catch {
                let cause = PostgresFailure.cause(of: error)
                // Another node took the same locks in another order, or stored the same publish
                // id first: the batch is tried again (the id is then found as stored).
                if attempt < 5, cause is PublishIDRace || (cause as? PSQLError).map(Self.isConflict) == true { continue }
                throw reachability.failed(cause, doing: "append \(requests.count) publications")
            }
        }
    }

    /// A publish id stored by another node between this batch's lookup and its insert.
    private struct PublishIDRace: Error {}

    private static func isConflict(_ error: PSQLError) -> Bool {
        // 40001 serialization failure, 40P01 deadlock, 23505 unique violation (a publish id).
        ["40001", "40P01", "23505"].contains(error.serverInfo?[.sqlState] ?? "")
    }

    /// What becomes of one publish of a batch.
    private enum Disposition {
        /// A remembered id: acknowledged at its stored offset, nothing new stored.
        case remembered(UInt64)
        /// Stored as the `n`th new publication of the batch.
        case stored(Int)
        /// Repeats the id of the `n`th new publication of this same batch.
        case repeatOf(Int)
    }

    private func insert(_ requests: [ChannelPublishRequest], on connection: PostgresConnection) async throws
        -> [ChannelPublishReceipt]
    {
        let remembered = try await rememberedIDs(of: requests, on: connection)
        var dispositions: [Disposition] = []
        var fresh: [ChannelPublishRequest] = []
        var freshByID: [PublishKey: Int] = [:]
        for request in requests {
            if let id = request.id {
                let key = PublishKey(channel: request.channel.value, id: id)
                if let offset = remembered[key] { dispositions.append(.remembered(offset)); continue }
                if let earlier = freshByID[key] { dispositions.append(.repeatOf(earlier)); continue }
                freshByID[key] = fresh.count
            }
            dispositions.append(.stored(fresh.count))
            fresh.append(request)
        }

        var offsets: [UInt64] = []
        if !fresh.isEmpty {
            let channels = fresh.map(\.channel.value)
            let binary = fresh.map { $0.message.kind == .binary }
            let payloads = fresh.map(\.message.data)
            var query = PostgresQuery(unsafeSQL: Self.appendStatement)
            query.binds.append(channels, context: .default)
            query.binds.append(binary, context: .default)
            query.binds.append(payloads, context: .default)
            var createdChannel = false
            offsets.reserveCapacity(fresh.count)
            for try await (_, offset, created, _) in try await connection.query(query, logger: logger)
                .decode((Int64, Int64, Bool, Int64).self) {
                offsets.append(UInt64(offset))
                createdChannel = createdChannel || created
            }
            guard offsets.count == fresh.count else {
                throw ChannelStoreError.unavailable("the append returned \(offsets.count) offsets for \(fresh.count) publications")
            }
            if createdChannel {
                let rows = try await connection.query("SELECT count(*) FROM holdfast_channels", logger: logger)
                for try await count in rows.decode(Int64.self) where count > limits.maxChannels {
                    throw ChannelStoreError.tooManyChannels(limit: limits.maxChannels)
                }
            }
            try await remember(fresh, at: offsets, on: connection)
        }

        return dispositions.map { disposition in
            switch disposition {
            case .remembered(let offset):
                return ChannelPublishReceipt(position: StreamPosition(epoch: epoch, offset: offset), duplicate: true)
            case .stored(let index):
                return ChannelPublishReceipt(position: StreamPosition(epoch: epoch, offset: offsets[index]), duplicate: false)
            case .repeatOf(let index):
                return ChannelPublishReceipt(position: StreamPosition(epoch: epoch, offset: offsets[index]), duplicate: true)
            }
        }
    }

    private struct PublishKey: Hashable {
        var channel: String
        var id: String
    }

    /// The offsets of the batch's publish ids stored within the window.
    private func rememberedIDs(of requests: [ChannelPublishRequest], on connection: PostgresConnection) async throws
        -> [PublishKey: UInt64]
    {
        let keyed = requests.compactMap { request in request.id.map { (request.channel.value, $0) } }
        guard !keyed.isEmpty else { return [:] }
        let rows = try await connection.query("""
            SELECT channel, publish_id, "offset" FROM holdfast_publish_ids
            WHERE (channel, publish_id) IN (SELECT * FROM unnest(\(keyed.map(\.0))::text[], \(keyed.map(\.1))::text[]))
              AND stored_at > now() - make_interval(secs => \(limits.publishIDWindow.postgresSeconds))
            """, logger: logger)
        var remembered: [PublishKey: UInt64] = [:]
        for try await (channel, id, offset) in rows.decode((String, String, Int64).self) {
            remembered[PublishKey(channel: channel, id: id)] = UInt64(offset)
        }
        return remembered
    }

    /// Remembers the ids of the publications just stored. An id kept past its window (not yet
    /// trimmed) is replaced; one another node stored meanwhile is not, and the batch is retried.
    private func remember(_ fresh: [ChannelPublishRequest], at offsets: [UInt64], on connection: PostgresConnection) async throws {
        var channels: [String] = []
        var ids: [String] = []
        var idOffsets: [Int64] = []
        for (request, offset) in zip(fresh, offsets) {
            guard let id = request.id else { continue }
            channels.append(request.channel.value)
            ids.append(id)
            idOffsets.append(Int64(offset))
        }
        guard !ids.isEmpty else { return }
        let rows = try await connection.query("""
            INSERT INTO holdfast_publish_ids AS p (channel, publish_id, "offset", stored_at)
            SELECT channel, publish_id, "offset", now()
            FROM unnest(\(channels)::text[], \(ids)::text[], \(idOffsets)::bigint[]) AS i(channel, publish_id, "offset")
            ON CONFLICT (channel, publish_id) DO UPDATE SET "offset" = excluded."offset", stored_at = excluded.stored_at
            WHERE p.stored_at <= now() - make_interval(secs => \(limits.publishIDWindow.postgresSeconds))
            RETURNING 1
            """, logger: logger)
        var written = 0
        for try await _ in rows.decode(Int32.self) { written += 1 }
        guard written == ids.count else { throw PublishIDRace() }
    }

    // MARK: - Reading

    public func state(of channel: ChannelName) async throws -> ChannelStreamState {
        try reachability.check()
        do {
            return try await withTimeLimit(Self.operationLimit) { [self] in
                // One statement: the top and the oldest offset from the same snapshot.
                let rows = try await client.query("""
                    SELECT c.top, (SELECT min("offset") FROM holdfast_publications WHERE channel = c.name)
                    FROM holdfast_channels c WHERE c.name = \(channel.value)
                    """, logger: logger)
                for try await (top, oldest) in rows.decode((Int64, Int64?).self) {
                    return ChannelStreamState(position: StreamPosition(epoch: epoch, offset: UInt64(top)),
                                              oldestRetained: UInt64(oldest ?? top + 1))
                }
                return ChannelStreamState(position: StreamPosition(epoch: epoch, offset: 0), oldestRetained: 1)
            }
        } catch {
            throw reachability.failed(error, doing: "read the state of \(channel)")
        }
    }

    public func publications(of channel: ChannelName, after offset: UInt64, limit: Int) async throws -> [ChannelPublication] {
        guard limit > 0 else { return [] }
        try reachability.check()
        do {
            return try await withTimeLimit(Self.operationLimit) { [self] in
                let rows = try await client.query("""
                    SELECT "offset", is_binary, payload FROM holdfast_publications
                    WHERE channel = \(channel.value) AND "offset" > \(Int64(clamping: offset))
                    ORDER BY "offset" LIMIT \(limit)
                    """, logger: logger)
                var page: [ChannelPublication] = []
                for try await (offset, isBinary, payload) in rows.decode((Int64, Bool, ByteBuffer).self) {
                    page.append(ChannelPublication(channel: channel, position: StreamPosition(epoch: epoch, offset: UInt64(offset)),
                                                   message: WebSocketMessage(kind: isBinary ? .binary : .text, data: payload)))
                }
                return page
            }
        } catch {
            throw reachability.failed(error, doing: "read the history of \(channel)")
        }
    }

    public func lastOffsets(of channels: [ChannelName]) async throws -> [ChannelName: UInt64] {
        try reachability.check()
        var tops: [ChannelName: UInt64] = [:]
        do {
            for start in stride(from: 0, to: channels.count, by: 1000) {
                let names = channels[start..<min(start + 1000, channels.count)].map(\.value)
                let found = try await withTimeLimit(Self.operationLimit) { [self] in
                    let rows = try await client.query("SELECT name, top FROM holdfast_channels WHERE name = ANY(\(names)::text[])",
                                                      logger: logger)
                    var found: [(String, Int64)] = []
                    for try await row in rows.decode((String, Int64).self) { found.append(row) }
                    return found
                }
                for (name, top) in found {
                    if let channel = try? ChannelName(validating: name) { tops[channel] = UInt64(top) }
                }
            }
        } catch {
            throw reachability.failed(error, doing: "poll \(channels.count) channels")
        }
        return tops
    }

    // MARK: - Notices

    public func appendNotices() -> AsyncStream<[ChannelName: UInt64]> {
        let (notices, continuation) = AsyncStream.makeStream(of: [ChannelName: UInt64].self, bufferingPolicy: .bufferingNewest(10_000))
        let task = Task { [location, logger] in
            var attempt = 0
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(
                        on: MultiThreadedEventLoopGroup.singleton.any(), configuration: try location.connectionConfiguration(),
                        id: 0, logger: logger).get()
                    attempt = 0
                    defer { Task { try? await connection.close() } }
                    try await connection.listen(on: Self.notificationChannel) { notifications in
                        for try await notification in notifications {
                            if let notice = Self.notice(notification.payload) { continuation.yield(notice) }
                        }
                    }
                } catch {
                    guard !Task.isCancelled else { break }
                    logger.debug("listening for appends failed; polling covers the gap", metadata: ["error": "\(error)"])
                }
                await sleepBeforeRetry(attempt)
                attempt += 1
            }
            continuation.finish()
        }
        listener.withLockedValue { $0 = task }
        continuation.onTermination = { _ in task.cancel() }
        return notices
    }

    /// Reads a notification's payload, `LAST_OFFSET CHANNEL_NAME`.
    static func notice(_ payload: String) -> [ChannelName: UInt64]? {
        guard let space = payload.firstIndex(of: " "), let top = UInt64(payload[..<space]),
              let channel = try? ChannelName(validating: String(payload[payload.index(after: space)...])) else { return nil }
        return [channel: top]
    }

    // MARK: - Trimming and closing

    public func trim() async throws {
        try reachability.check()
        let channels = appendedSinceTrim.withLockedValue { set in defer { set = [] }; return Array(set) }
        do {
            try await withTimeLimit(Self.operationLimit * 6) { [self] in
                if !channels.isEmpty {
                    try await client.query("""
                        DELETE FROM holdfast_publications p USING holdfast_channels c
                        WHERE c.name = ANY(\(channels)::text[]) AND p.channel = c.name
                          AND p."offset" <= c.top - \(limits.maxMessages)
                        """, logger: logger)
                }
                try await client.query("""
                    DELETE FROM holdfast_publications WHERE published_at < now() - make_interval(secs => \(limits.maxAge.postgresSeconds))
                    """, logger: logger)
                try await client.query("""
                    DELETE FROM holdfast_publish_ids WHERE stored_at < now() - make_interval(secs => \(limits.publishIDWindow.postgresSeconds))
                    """, logger: logger)
            }
        } catch {
            appendedSinceTrim.withLockedValue { $0.formUnion(channels) }
            throw reachability.failed(error, doing: "trim history")
        }
    }

    public func close() async throws {
        reachability.close()
        listener.withLockedValue { $0 }?.cancel()
        clientRun.cancel()
    }
}
