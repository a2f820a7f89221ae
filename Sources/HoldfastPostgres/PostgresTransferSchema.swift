import Logging
import PostgresNIO

/// The tables of transfers shared by the nodes, created and upgraded by whichever node starts
/// first: under a transaction-scoped advisory lock, so that nodes starting together do not race,
/// with the version in `holdfast_meta` (key `transfer_schema_version`; the channel store keeps
/// its own key in the same table).
///
/// Version 1:
/// - `holdfast_transfer_partial`: one row per partial transfer — its id (32 hexadecimal
///   characters), name, size, the offer's digest (or `NULL` for a stream), the bytes held from the
///   start, and when a node last wrote to it.
/// - `holdfast_transfer_chunks`: its bytes, a row per stored piece (id, offset, `bytea`),
///   contiguous from 0, deleted with the partial transfer.
/// - `holdfast_transfer_delivered`: the id and digest of each delivered transfer, and when.
enum PostgresTransferSchema {
    /// The version this code writes and reads.
    static let version = 1
    /// The advisory lock key held while the schema is checked and created: "hf-trans" in ASCII.
    static let lockKey: Int64 = 0x6866_2D74_7261_6E73

    /// What is wrong with the database's schema, for a person.
    struct Unusable: Error, CustomStringConvertible {
        let description: String
    }

    /// Creates the tables if they are missing, on `connection`.
    /// - Throws: ``Unusable`` when the database has a newer version than this code knows.
    static func prepare(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS holdfast_meta (key text PRIMARY KEY, value text NOT NULL)",
                                       logger: logger)
            let rows = try await connection.query(
                "SELECT value FROM holdfast_meta WHERE key = 'transfer_schema_version'", logger: logger)
            var found: String?
            for try await value in rows.decode(String.self) { found = value }
            switch found.flatMap({ Int($0) }) {
            case version?:
                return
            case let newer? where newer > version:
                throw Unusable(description: "the database's transfer tables are version \(newer); this holdfast knows "
                               + "version \(version) (upgrade holdfast)")
            case nil where found != nil:
                throw Unusable(description: "holdfast_meta holds transfer_schema_version '\(found ?? "")', not a number")
            default:
                break
            }
            try await connection.query("""
                CREATE TABLE holdfast_transfer_partial (
                    transfer_id text PRIMARY KEY,
                    name text NOT NULL,
                    size bigint NOT NULL CHECK (size >= 0),
                    digest text,
                    held bigint NOT NULL DEFAULT 0 CHECK (held >= 0 AND held <= size),
                    created_at timestamptz NOT NULL DEFAULT now(),
                    last_write timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            try await connection.query("""
                CREATE TABLE holdfast_transfer_chunks (
                    transfer_id text NOT NULL REFERENCES holdfast_transfer_partial ON DELETE CASCADE,
                    chunk_offset bigint NOT NULL,
                    data bytea NOT NULL,
                    PRIMARY KEY (transfer_id, chunk_offset)
                )
                """, logger: logger)
            try await connection.query("""
                CREATE TABLE holdfast_transfer_delivered (
                    transfer_id text PRIMARY KEY,
                    digest text NOT NULL,
                    delivered_at timestamptz NOT NULL DEFAULT now()
                )
                """, logger: logger)
            try await connection.query("""
                INSERT INTO holdfast_meta (key, value) VALUES ('transfer_schema_version', \(String(version)))
                ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
                """, logger: logger)
        }
    }
}
