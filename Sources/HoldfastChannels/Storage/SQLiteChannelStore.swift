import Foundation
import HoldfastCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SQLiteNIO

/// Channels' streams in an SQLite database on disk, so history and offsets survive a restart.
///
/// The database is opened in WAL journal mode with `synchronous=NORMAL` (``Durability/process``,
/// the default): a batch whose ``append(_:)`` has returned is in the write-ahead log, written to
/// the operating system, and survives the process being killed (even with SIGKILL); an OS crash or
/// a power loss can lose the last batches (the log is synced at checkpoints, not at every commit)
/// but never leaves the database inconsistent. ``Durability/system`` (`synchronous=FULL`) syncs
/// the log at every commit, so a returned batch survives an OS crash too, at the cost of one
/// `fsync` per batch.
///
/// The epoch is kept in the database's `meta` table. It is new when the database is created and
/// when any of the store's tables is missing (the database was wiped); an empty database keeps
/// its epoch, since a subscriber to an empty channel already holds a position in it (offset 0).
///
/// Appends and ``trim()`` run one at a time on a writer connection, each in one transaction;
/// reads run on a second connection and see only committed batches (WAL lets them run while a
/// batch is written).
public final class SQLiteChannelStore: ChannelStore {
    /// How far a returned ``SQLiteChannelStore/append(_:)`` is durable.
    public enum Durability: Sendable, Hashable {
        /// Survives the process being killed; an OS crash can lose the last batches
        /// (`synchronous=NORMAL`). The default: no `fsync` per batch.
        case process
        /// Survives an OS crash or a power loss as well (`synchronous=FULL`): one `fsync` per batch.
        case system
    }

    /// The version of the tables this code reads and writes, kept in `meta.schema_version`.
    public static let schemaVersion = 1
    /// The database's file name when the store is opened by directory.
    public static let fileName = "channels.sqlite"

    public let limits: ChannelHistoryLimits
    /// The epoch of every stream of this store, as kept in the database.
    public let epoch: String
    private let writer: SQLiteConnection
    private let reader: SQLiteConnection
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let writes = WriteGate()

    private init(limits: ChannelHistoryLimits, epoch: String, writer: SQLiteConnection, reader: SQLiteConnection,
                 now: @escaping @Sendable () -> Date, logger: Logger)
    {
        self.limits = limits
        self.epoch = epoch
        self.writer = writer
        self.reader = reader
        self.now = now
        self.logger = logger
    }

    /// Opens (creating it and the directory if needed) the store `channels.sqlite` in `directory`.
    /// - Parameters: as ``open(path:limits:durability:now:threadPool:eventLoop:logger:)``.
    public static func open(directory: URL, limits: ChannelHistoryLimits = .init(), durability: Durability = .process,
                            now: @escaping @Sendable () -> Date = Date.init,
                            threadPool: NIOThreadPool = .singleton,
                            eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(),
                            logger: Logger = Logger(label: "holdfast.channels.sqlite")) async throws -> SQLiteChannelStore
    {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ChannelStoreError.unavailable("cannot create \(directory.path): \(error)")
        }
        return try await open(path: directory.appendingPathComponent(fileName).path, limits: limits,
                              durability: durability, now: now, threadPool: threadPool, eventLoop: eventLoop,
                              logger: logger)
    }

    /// Opens (creating it if needed) the store in the database file at `path`.
    /// - Parameters:
    ///   - path: the database file; SQLite keeps its write-ahead log beside it.
    ///   - limits: how much history to keep.
    ///   - durability: what a returned append survives; see ``Durability``.
    ///   - now: the wall clock ages and publish-id windows are measured on; tests pass one they control.
    ///   - threadPool: where SQLite's blocking calls run; NIO's shared pool by default.
    ///   - eventLoop: the loop the connections complete their futures on.
    ///   - logger: where failures are logged.
    /// - Throws: ``ChannelStoreError/unavailable(_:)`` when the file cannot be opened or set up, or
    ///   holds a newer schema than this code's.
    public static func open(path: String, limits: ChannelHistoryLimits = .init(), durability: Durability = .process,
                            now: @escaping @Sendable () -> Date = Date.init,
                            threadPool: NIOThreadPool = .singleton,
                            eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(),
                            logger: Logger = Logger(label: "holdfast.channels.sqlite")) async throws -> SQLiteChannelStore
    {
        var opened: [SQLiteConnection] = []
        do {
            let storage = SQLiteConnection.Storage.file(path: path)
            let writer = try await SQLiteConnection.open(storage: storage, threadPool: threadPool, logger: logger,
                                                         on: eventLoop)
            opened.append(writer)
            let mode = try await writer.query("PRAGMA journal_mode = WAL").first?.column("journal_mode")?.string
            guard mode == "wal" else { throw ChannelStoreError.unavailable("journal mode \(mode ?? "unknown"), not WAL") }
            try await writer.execute(durability == .system ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
            // The build turns secure_delete on; trimmed history need not be overwritten with zeros.
            try await writer.execute("PRAGMA secure_delete = OFF")
            let epoch = try await prepareSchema(on: writer, logger: logger)
            let reader = try await SQLiteConnection.open(storage: storage, threadPool: threadPool, logger: logger,
                                                         on: eventLoop)
            opened.append(reader)
            try await reader.execute("PRAGMA query_only = ON")
            logger.debug("channel store opened", metadata: ["path": "\(path)", "epoch": "\(epoch)"])
            return SQLiteChannelStore(limits: limits, epoch: epoch, writer: writer, reader: reader, now: now,
                                      logger: logger)
        } catch {
            for connection in opened { try? await connection.close() }
            throw unavailable(error, doing: "open \(path)", logger: logger)
        }
    }

    public func append(_ requests: [ChannelPublishRequest]) async throws -> [ChannelPublishReceipt] {
        guard !requests.isEmpty else { return [] }
        let time = now().timeIntervalSince1970
        do {
            return try await writes.run {
                try await transaction { try await self.insert(requests, at: time) }
            }
        } catch {
            throw Self.unavailable(error, doing: "append", logger: logger)
        }
    }

    public func state(of channel: ChannelName) async throws -> ChannelStreamState {
        do {
            // One statement, so the top and the oldest offset come from the same snapshot.
            let rows = try await reader.query(
                "SELECT top, (SELECT MIN(seq) FROM publications WHERE channel = ?1) AS oldest FROM channels WHERE name = ?1",
                [.text(channel.value)])
            guard let row = rows.first else {
                return ChannelStreamState(position: StreamPosition(epoch: epoch, offset: 0), oldestRetained: 1)
            }
            let top = try Self.offset(row, "top")
            // No publication kept: the history starts after the top.
            let oldest = try row.column("oldest")?.isNull ?? true ? top + 1 : Self.offset(row, "oldest")
            return ChannelStreamState(position: StreamPosition(epoch: epoch, offset: top), oldestRetained: oldest)
        } catch {
            throw Self.unavailable(error, doing: "read the state of \(channel)", logger: logger)
        }
    }

    public func publications(of channel: ChannelName, after offset: UInt64, limit: Int) async throws
        -> [ChannelPublication]
    {
        guard limit > 0 else { return [] }
        do {
            let rows = try await reader.query(
                "SELECT seq, kind, payload FROM publications WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?",
                [.text(channel.value), .integer(try Self.integer(offset)), .integer(SQLiteInt64(limit))])
            return try rows.map { row in
                let message: WebSocketMessage
                switch (row.column("kind")?.integer, row.column("payload")?.blob) {
                case (Self.textKind, let payload?): message = WebSocketMessage(kind: .text, data: payload)
                case (Self.binaryKind, let payload?): message = WebSocketMessage(kind: .binary, data: payload)
                default: throw ChannelStoreError.unavailable("unreadable publication row: \(row)")
                }
                return ChannelPublication(channel: channel,
                                          position: StreamPosition(epoch: epoch, offset: try Self.offset(row, "seq")),
                                          message: message)
            }
        } catch {
            throw Self.unavailable(error, doing: "read the history of \(channel)", logger: logger)
        }
    }

    public func trim() async throws {
        let time = now().timeIntervalSince1970
        do {
            try await writes.run {
                try await self.transaction {
                    try await self.writer.execute("DELETE FROM publications WHERE published_at < ?",
                                                [.float(time - self.limits.maxAge.seconds)])
                    try await self.writer.execute("DELETE FROM publish_ids WHERE at < ?",
                                                [.float(time - self.limits.publishIDWindow.seconds)])
                }
            }
        } catch {
            throw Self.unavailable(error, doing: "trim", logger: logger)
        }
    }

    public func close() async throws {
        do {
            try await writes.run {
                try await self.reader.close()
                try await self.writer.close()
            }
        } catch {
            throw Self.unavailable(error, doing: "close", logger: logger)
        }
    }

    // MARK: - Appending

    /// `publications.kind` for a text message.
    private static let textKind: SQLiteInt64 = 0
    /// `publications.kind` for a binary message.
    private static let binaryKind: SQLiteInt64 = 1
    /// Rows per multi-row statement: large batches are written in pieces of bounded SQL text.
    private static let rowsPerStatement = 256

    /// A publish id as remembered for one channel.
    private struct PublishKey: Hashable {
        var channel: String
        var id: String
    }

    /// Writes `requests` inside the writer's open transaction and returns their receipts.
    private func insert(_ requests: [ChannelPublishRequest], at time: Double) async throws -> [ChannelPublishReceipt] {
        var seen: Set<String> = []
        let names = requests.map(\.channel.value).filter { seen.insert($0).inserted }
        var tops = try await self.tops(of: names)
        let newChannels = names.count - tops.count
        if newChannels > 0 {
            let rows = try await writer.query("SELECT COUNT(*) AS count FROM channels")
            guard let count = rows.first?.column("count")?.integer else {
                throw ChannelStoreError.unavailable("cannot count channels")
            }
            if Int(count) + newChannels > limits.maxChannels {
                throw ChannelStoreError.tooManyChannels(limit: limits.maxChannels)
            }
        }
        var remembered = try await rememberedIDs(of: requests, since: time - limits.publishIDWindow.seconds)

        var receipts: [ChannelPublishReceipt] = []
        var publications: [[SQLiteData]] = []
        var ids: [[SQLiteData]] = []
        for request in requests {
            let channel = request.channel.value
            if let id = request.id, let offset = remembered[PublishKey(channel: channel, id: id)] {
                receipts.append(ChannelPublishReceipt(position: StreamPosition(epoch: epoch, offset: offset),
                                                      duplicate: true))
                continue
            }
            let offset = tops[channel, default: 0] + 1
            tops[channel] = offset
            let kind = request.message.kind == .text ? Self.textKind : Self.binaryKind
            publications.append([.text(channel), .integer(try Self.integer(offset)), .integer(kind),
                                 .blob(request.message.data), .float(time)])
            if let id = request.id {
                remembered[PublishKey(channel: channel, id: id)] = offset
                ids.append([.text(channel), Self.idData(id), .integer(try Self.integer(offset)), .float(time)])
            }
            receipts.append(ChannelPublishReceipt(position: StreamPosition(epoch: epoch, offset: offset),
                                                  duplicate: false))
        }

        try await insertRows(publications, into: "publications(channel, seq, kind, payload, published_at)",
                             row: "(?, ?, ?, ?, ?)")
        // An id remembered past its window, not yet trimmed, is replaced.
        try await insertRows(ids, into: "publish_ids(channel, id, seq, at)", row: "(?, ?, ?, ?)", orReplace: true)
        let written = names.compactMap { name in tops[name].map { (name, $0) } }
        try await insertRows(try written.map { name, top -> [SQLiteData] in [.text(name), .integer(try Self.integer(top))] },
                             into: "channels(name, top)", row: "(?, ?)",
                             suffix: " ON CONFLICT(name) DO UPDATE SET top = excluded.top")
        // Trimming by count: keep the newest `maxMessages` of each channel written to.
        for (name, top) in written where top > UInt64(max(limits.maxMessages, 0)) {
            try await writer.execute("DELETE FROM publications WHERE channel = ? AND seq <= ?",
                                   [.text(name), .integer(try Self.integer(top - UInt64(max(limits.maxMessages, 0))))])
        }
        return receipts
    }

    /// The last offsets of those of `names` that the store holds.
    private func tops(of names: [String]) async throws -> [String: UInt64] {
        var tops: [String: UInt64] = [:]
        for chunk in names.chunks(of: Self.rowsPerStatement) {
            let rows = try await writer.query(
                "SELECT name, top FROM channels WHERE name IN (\(Self.placeholders(1, count: chunk.count)))",
                chunk.map { .text($0) })
            for row in rows {
                guard let name = row.column("name")?.string else {
                    throw ChannelStoreError.unavailable("unreadable channel row: \(row)")
                }
                tops[name] = try Self.offset(row, "top")
            }
        }
        return tops
    }

    /// The offsets of the ids in `requests` remembered since `cutoff` (seconds since 1970).
    private func rememberedIDs(of requests: [ChannelPublishRequest], since cutoff: Double) async throws
        -> [PublishKey: UInt64]
    {
        let keys = Set(requests.compactMap { request in request.id.map { PublishKey(channel: request.channel.value, id: $0) } })
        var remembered: [PublishKey: UInt64] = [:]
        for chunk in Array(keys).chunks(of: Self.rowsPerStatement) {
            let rows = try await writer.query(
                "SELECT channel, id, seq FROM publish_ids WHERE at >= ? AND (channel, id) IN (VALUES \(Self.placeholders(2, count: chunk.count)))",
                [.float(cutoff)] + chunk.flatMap { key -> [SQLiteData] in [.text(key.channel), Self.idData(key.id)] })
            for row in rows {
                guard let channel = row.column("channel")?.string, let id = row.column("id")?.blob else {
                    throw ChannelStoreError.unavailable("unreadable publish id row: \(row)")
                }
                remembered[PublishKey(channel: channel, id: String(buffer: id))] = try Self.offset(row, "seq")
            }
        }
        return remembered
    }

    /// Inserts `rows` into `table` (with its column list), a bounded number per statement.
    private func insertRows(_ rows: [[SQLiteData]], into table: String, row: String, orReplace: Bool = false,
                            suffix: String = "") async throws
    {
        for chunk in rows.chunks(of: Self.rowsPerStatement) {
            let values = Array(repeating: row, count: chunk.count).joined(separator: ", ")
            try await writer.execute("INSERT\(orReplace ? " OR REPLACE" : "") INTO \(table) VALUES \(values)\(suffix)",
                                   chunk.flatMap { $0 })
        }
    }

    /// Runs `body` in one `BEGIN IMMEDIATE … COMMIT` on the writer; rolls back if anything fails.
    private func transaction<T>(_ body: () async throws -> T) async throws -> T {
        try await writer.execute("BEGIN IMMEDIATE")
        do {
            let result = try await body()
            try await writer.execute("COMMIT")
            return result
        } catch {
            do {
                try await writer.execute("ROLLBACK")
            } catch let rollback {
                logger.error("channel store rollback failed", metadata: ["error": "\(rollback)"])
            }
            throw error
        }
    }

    // MARK: - Schema

    /// The store's tables. `seq` is a publication's offset in its channel (OFFSET is an SQL word).
    private static let tables: [(name: String, definition: String)] = [
        ("meta", "CREATE TABLE meta (schema_version INTEGER NOT NULL, epoch TEXT NOT NULL)"),
        ("channels", "CREATE TABLE channels (name TEXT PRIMARY KEY NOT NULL, top INTEGER NOT NULL) WITHOUT ROWID"),
        ("publications", """
            CREATE TABLE publications (channel TEXT NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL, \
            payload BLOB NOT NULL, published_at REAL NOT NULL, PRIMARY KEY (channel, seq)) WITHOUT ROWID
            """),
        ("publish_ids", """
            CREATE TABLE publish_ids (channel TEXT NOT NULL, id BLOB NOT NULL, seq INTEGER NOT NULL, \
            at REAL NOT NULL, PRIMARY KEY (channel, id)) WITHOUT ROWID
            """),
    ]
    /// Indexes for trimming by age.
    private static let indexes = [
        "CREATE INDEX publications_by_time ON publications (published_at)",
        "CREATE INDEX publish_ids_by_time ON publish_ids (at)",
    ]

    /// Creates the tables if any is missing (with a new epoch) and returns the database's epoch.
    private static func prepareSchema(on connection: SQLiteConnection, logger: Logger) async throws -> String {
        try await connection.execute("BEGIN IMMEDIATE")
        do {
            let existing = Set(try await connection.query("SELECT name FROM sqlite_master WHERE type = 'table'")
                .compactMap { $0.column("name")?.string })
            var epoch: String?
            if tables.allSatisfy({ existing.contains($0.name) }) {
                let meta = try await connection.query("SELECT schema_version, epoch FROM meta")
                if let row = meta.first, let version = row.column("schema_version")?.integer,
                   let stored = row.column("epoch")?.string, meta.count == 1
                {
                    guard version <= schemaVersion else {
                        throw ChannelStoreError.unavailable("schema version \(version) is newer than \(schemaVersion)")
                    }
                    epoch = stored
                }
            }
            guard let epoch else {
                // Missing or partial tables are a wiped history: start over under a new epoch.
                for table in tables where existing.contains(table.name) {
                    try await connection.execute("DROP TABLE \(table.name)")
                }
                for statement in tables.map(\.definition) + indexes { try await connection.execute(statement) }
                let fresh = randomIdentifier()
                try await connection.execute("INSERT INTO meta (schema_version, epoch) VALUES (?, ?)",
                                           [.integer(SQLiteInt64(schemaVersion)), .text(fresh)])
                try await connection.execute("COMMIT")
                logger.info("channel store created", metadata: ["epoch": "\(fresh)"])
                return fresh
            }
            try await connection.execute("COMMIT")
            return epoch
        } catch {
            try? await connection.execute("ROLLBACK")
            throw error
        }
    }

    // MARK: - Conversions

    /// `count` comma-separated groups of `width` placeholders; the values are always bound.
    private static func placeholders(_ width: Int, count: Int) -> String {
        let group = width == 1 ? "?" : "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")"
        return Array(repeating: group, count: count).joined(separator: ", ")
    }

    /// A publish id as stored: its UTF-8 bytes, which come back whole (text is read up to a NUL,
    /// and a client's id may hold one).
    private static func idData(_ id: String) -> SQLiteData { .blob(ByteBuffer(string: id)) }

    /// An offset as SQLite's signed integer.
    private static func integer(_ offset: UInt64) throws -> SQLiteInt64 {
        guard let value = SQLiteInt64(exactly: offset) else {
            throw ChannelStoreError.unavailable("offset \(offset) exceeds the database's integers")
        }
        return value
    }

    /// The offset in `column` of `row`; throws if it is missing or negative.
    private static func offset(_ row: SQLiteRow, _ column: String) throws -> UInt64 {
        guard let value = row.column(column)?.integer, let offset = UInt64(exactly: value) else {
            throw ChannelStoreError.unavailable("unreadable \(column) in row \(row)")
        }
        return offset
    }

    /// `error` as the store reports it: a ``ChannelStoreError`` as is, anything else as unavailable.
    private static func unavailable(_ error: any Error, doing action: String, logger: Logger) -> ChannelStoreError {
        if let error = error as? ChannelStoreError {
            if case .unavailable = error { logger.error("channel store failed to \(action)", metadata: ["error": "\(error)"]) }
            return error
        }
        logger.error("channel store failed to \(action)", metadata: ["error": "\(error)"])
        return .unavailable("\(action): \(error)")
    }
}

/// Runs writes one at a time, in the order they arrive: a transaction spans several statements
/// on one connection, and a second writer's statements would land inside it.
private final class WriteGate: Sendable {
    private struct State {
        var busy = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())

    /// Runs `body` once every write before it has finished.
    func run<T>(_ body: () async throws -> T) async throws -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let enter = state.withLockedValue { state in
                if state.busy {
                    state.waiters.append(continuation)
                    return false
                }
                state.busy = true
                return true
            }
            if enter { continuation.resume() }
        }
        defer {
            let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                if state.waiters.isEmpty {
                    state.busy = false
                    return nil
                }
                return state.waiters.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}

extension SQLiteConnection {
    /// Runs `sql` with `binds` for its effect; rows, if any, are ignored.
    fileprivate func execute(_ sql: String, _ binds: [SQLiteData] = []) async throws {
        try await query(sql, binds) { _ in }
    }
}

extension Array {
    /// The array in consecutive pieces of at most `size` elements.
    fileprivate func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min(count, $0 + size)] }
    }
}
