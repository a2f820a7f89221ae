import Foundation
import HoldfastTestSupport
import HoldfastTransfer
import NIOCore
import Testing

/// `holdfast serve --mode files --store postgres://…` nodes sharing one throw-away PostgreSQL,
/// and `holdfast send` moving between them, all as the built tool in subprocesses.
@Suite("transfers across nodes on PostgreSQL", .timeLimit(.minutes(4)))
struct ClusterTransferTests {
    /// The arguments of one node: its own directory, the shared store, 64 KiB messages (so
    /// that a file is many chunks, each a transaction).
    static func node(_ directory: String, _ database: PostgresServer) -> [String] {
        ["--mode", "files", "--files-dir", directory, "--store", database.url, "--max-message-size", "65536"]
    }

    @Test("a send cut off by node A's end resumes on node B from the byte the database holds; B writes the file, A nothing",
          arguments: [SIGTERM, SIGKILL])
    func resumesOnAnotherNode(ending signal: Int32) async throws {
        try await PostgresServer.with { database in
            try await withTemporaryDirectory { directory in
                let size = 48 << 20
                let digest = Self.writeSeededFile(directory + "/big.bin", size: size)
                let nodeA = try await ServeProcess.start(Self.node(directory + "/a", database))
                defer { nodeA.stop(signal: SIGTERM) }
                let nodeB = try await ServeProcess.start(Self.node(directory + "/b", database))
                defer { nodeB.stop(signal: SIGTERM) }
                let started = ContinuousClock.now
                // No reconnection to A: the sender gives up on its 1001 and is run again for B.
                async let first = HoldfastTool.run(["send", nodeA.url(), directory + "/big.bin", "--max-attempts", "0"],
                                                   limit: .seconds(120))
                let heldAtStop = try await Self.waitUntilHeld(atLeast: size / 4, in: database)
                nodeA.stop(signal: signal)
                let stopped = ContinuousClock.now
                let firstRun = try await first
                #expect(firstRun.status == 1, "\(firstRun.stderr)")
                let acknowledged = Self.lastProgress(in: firstRun.stderr)
                // Graceful or not, what A acknowledged is in the database.
                let held = try #require(Int(try await database.psql("SELECT held FROM holdfast_transfer_partial")))

                let second = try await HoldfastTool.run(["send", nodeB.url(), directory + "/big.bin"], limit: .seconds(120))
                #expect(second.status == 0, "\(second.stderr)")
                #expect(second.stdout == "sent big.bin: \(size) bytes, sha256 \(digest), confirmed by the receiver\n")
                let resumedAt = try #require(Self.number(in: second.stderr, after: "resuming at byte "), "\(second.stderr)")
                // Everything acknowledged to the first sender is held, and B resumed there.
                #expect(resumedAt == held)
                #expect(resumedAt >= acknowledged && resumedAt >= heldAtStop)
                // The second sender sent only what follows (chunk headers of at most 64 bytes each).
                let onWire = try #require(Self.number(in: second.stderr, after: "MiB/s; "), "\(second.stderr)")
                let chunks = (size - resumedAt + 65_000) / 65_000
                #expect(onWire >= size - resumedAt && onWire <= size - resumedAt + chunks * 64 + 4096, "\(second.stderr)")
                #expect(try await digestOfFile(directory + "/b/big.bin") == digest)
                // Nothing delivered on A, nothing assembled there, nothing left in the database.
                #expect(try Self.regularFiles(in: directory + "/a").isEmpty)
                #expect(try Self.regularFiles(in: directory + "/b") == ["big.bin"])
                #expect(try await database.psql("SELECT count(*) FROM holdfast_transfer_partial") == "0")
                #expect(try await database.psql("SELECT count(*) FROM holdfast_transfer_chunks") == "0")
                #expect(try await database.psql("SELECT digest FROM holdfast_transfer_delivered") == digest.description)
                print("""
                    cluster resume (signal \(signal)): \(size) bytes; A stopped at \(heldAtStop) held (\(stopped - started) in), \
                    first sender's last progress line \(acknowledged), held after A ended \(held), \
                    B resumed at \(resumedAt), \(onWire) bytes on the wire to B; \(ContinuousClock.now - started) in all
                    """)
            }
        }
    }

    @Test("a transfer delivered through node A and offered again to node B is confirmed without a byte sent again")
    func deliveredIsConfirmedByAnotherNode() async throws {
        try await PostgresServer.with { database in
            try await withTemporaryDirectory { directory in
                let digest = Self.writeSeededFile(directory + "/done.bin", size: 1_000_000, seed: 7)
                let nodeA = try await ServeProcess.start(Self.node(directory + "/a", database))
                defer { nodeA.stop(signal: SIGTERM) }
                let nodeB = try await ServeProcess.start(Self.node(directory + "/b", database))
                defer { nodeB.stop(signal: SIGTERM) }
                let first = try await HoldfastTool.run(["send", nodeA.url(), directory + "/done.bin"])
                #expect(first.status == 0, "\(first.stderr)")
                let again = try await HoldfastTool.run(["send", nodeB.url(), directory + "/done.bin"])
                #expect(again.status == 0, "\(again.stderr)")
                #expect(again.stdout == "sent done.bin: 1000000 bytes, sha256 \(digest), confirmed by the receiver\n")
                #expect(again.stderr.contains("resuming at byte 1000000 of 1000000"), "\(again.stderr)")
                #expect(again.stderr.contains(", 0 sent again"), "\(again.stderr)")
                let onWire = try #require(Self.number(in: again.stderr, after: "MiB/s; "))
                #expect(onWire < 1024, "only the offer and the finish: \(again.stderr)")
                #expect(try await digestOfFile(directory + "/a/done.bin") == digest)
                #expect(try Self.regularFiles(in: directory + "/b").isEmpty)
            }
        }
    }

    @Test("PostgreSQL restarted mid-transfer: the send completes, at most one window sent again")
    func survivesDatabaseRestart() async throws {
        try await PostgresServer.with { database in
            try await withTemporaryDirectory { directory in
                let digest = Self.writeSeededFile(directory + "/big.bin", size: 32 << 20, seed: 3)
                let node = try await ServeProcess.start(Self.node(directory + "/inbox", database))
                defer { node.stop(signal: SIGTERM) }
                async let sent = HoldfastTool.run(["send", node.url(), directory + "/big.bin"], limit: .seconds(120))
                let heldAtRestart = try await Self.waitUntilHeld(atLeast: 8 << 20, in: database)
                try await database.restart()
                let run = try await sent
                #expect(run.status == 0, "\(run.stderr)")
                // The node waited for the database (an operation may wait 5 s) or closed with 1013 and
                // the sender came back: either way, at most one window (4 MiB) went twice.
                let sentAgain = try #require(Self.number(in: run.stderr, after: "bytes on the wire, "), "\(run.stderr)")
                #expect(sentAgain <= 4 << 20, "\(run.stderr)")
                #expect(try await digestOfFile(directory + "/inbox/big.bin") == digest)
                print("database restart: restarted at \(heldAtRestart) held; sender: \(run.stderr.split(separator: "\n").suffix(3))")
            }
        }
    }

    /// Writes `size` seeded bytes to `path` and returns their digest.
    static func writeSeededFile(_ path: String, size: Int, seed: UInt64 = 0x5EED) -> TransferDigest {
        let data = seededBytes(size, seed: seed)
        writeFile(path, data)
        return TransferDigest(of: data)
    }

    /// Polls the database until the (one) partial transfer holds `bytes`; returns what it held.
    static func waitUntilHeld(atLeast bytes: Int, in database: PostgresServer) async throws -> Int {
        try await withTimeout("\(bytes) bytes stored", limit: .seconds(60)) {
            while true {
                let text = try? await database.psql("SELECT coalesce(max(held), 0) FROM holdfast_transfer_partial")
                if let held = text.flatMap({ Int($0) }), held >= bytes { return held }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// The bytes of the last progress line (`sent 30% (X of N bytes)`), 0 if none.
    static func lastProgress(in stderr: String) -> Int {
        stderr.split(separator: "\n").compactMap { number(in: String($0), after: "% (") }.last ?? 0
    }

    /// The integer right after the first `prefix` in `text`.
    static func number(in text: String, after prefix: String) -> Int? {
        guard let range = text.range(of: prefix) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    /// The regular files under `directory`, its subdirectories (the partial one) included.
    static func regularFiles(in directory: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        return walker.compactMap { $0 as? String }.filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }
}

/// `--store` mistakes are one line on stderr and exit 1, before anything listens.
@Suite("holdfast serve --store mistakes")
struct StoreOptionTests {
    @Test("a bad --store is one line and exit 1; the password is not shown",
          arguments: [
            (["--mode", "files", "--files-dir", "/tmp/holdfast-never", "--store", "http://db/x"],
             "holdfast: error: --store: http://db/x is not a postgres:// URL"),
            (["--mode", "echo", "--store", "postgres://holdfast@127.0.0.1:9/holdfast"],
             "holdfast: error: --store is for --mode files"),
            (["--mode", "files", "--files-dir", "/tmp/holdfast-never", "--store", "postgres://holdfast:secret@127.0.0.1:9/holdfast"],
             "holdfast: error: cannot use --store postgres://holdfast@127.0.0.1:9/holdfast: PostgreSQL error: connectionError"),
          ])
    func mistakes(arguments: [String], error: String) async throws {
        let run = try await HoldfastTool.run(["serve", "--port", "0"] + arguments)
        #expect(run.status == 1)
        #expect(run.stderr.hasPrefix(error) && run.stderr.split(separator: "\n").count == 1, "\(run.stderr)")
        #expect(!run.stderr.contains("secret"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/holdfast-never"))
    }
}
