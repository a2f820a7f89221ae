// Publishes per second into the channel stores, to choose how many waiting publishes the server
// appends in one batch (one SQLite transaction). Not part of `swift test`: timing belongs here.
//
// Run (from Benchmarks/Network): swift run -c release channel-store-bench [publications] [payload bytes]
//
// `channel-store-bench append-until-killed DIR` appends one publication per batch to the SQLite
// store in DIR forever, printing each acknowledged offset; `channel-store-bench top DIR` prints the
// top offset it reopens with. Kill the first with SIGKILL: the second must then print at least the
// last offset the first printed (what Durability.process promises).
//
// `channel-store-bench append-statement` prints the PostgreSQL store's append statement (what
// scripts/bench-cluster.sh has pgbench run); with `POSTGRES_URL=postgres://…` set, the
// PostgreSQL store is measured too.
import Foundation
import HoldfastChannels
import HoldfastCore
import HoldfastPostgres
import NIOCore

let words = Array(CommandLine.arguments.dropFirst())
if words == ["append-statement"] {
    FileHandle.standardOutput.write(Data((PostgresChannelStore.appendStatement + "\n").utf8))
    exit(0)
}
if words.count == 2, words[0] == "append-until-killed" || words[0] == "top" {
    let store = try await SQLiteChannelStore.open(directory: URL(fileURLWithPath: words[1]))
    let channel: ChannelName = "killed"
    guard words[0] == "append-until-killed" else {
        let top = try await store.state(of: channel).position.offset
        FileHandle.standardOutput.write(Data("\(top)\n".utf8))
        try await store.close()
        exit(0)
    }
    while true {
        let receipts = try await store.append([ChannelPublishRequest(channel: channel, message: .text("x"))])
        FileHandle.standardOutput.write(Data("\(receipts[0].position.offset)\n".utf8))
    }
}
let arguments = words.compactMap { Int($0) }
let total = arguments.first ?? 20_000
let payloadSize = arguments.dropFirst().first ?? 100
let channels: [ChannelName] = (0..<4).map { ChannelName(stringLiteral: "bench/\($0)") }
let payload = ByteBuffer(repeating: 0x61, count: payloadSize)

/// The publishes of one run, each with a publish id as clients that retry send them.
let requests = (0..<total).map { index in
    ChannelPublishRequest(channel: channels[index % channels.count], id: "publish-\(index)",
                          message: .binary(payload))
}

/// Appends `requests` to `store` in batches of `batch`; returns publishes per second.
func measure(_ store: any ChannelStore, batch: Int) async throws -> Double {
    let start = ContinuousClock.now
    for first in stride(from: 0, to: requests.count, by: batch) {
        _ = try await store.append(Array(requests[first..<min(requests.count, first + batch)]))
    }
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(requests.count) / seconds
}

func report(_ name: String, batch: Int, rate: Double) {
    let text = String(format: "%-28@ batch %4d  %10.0f publishes/s  %8.1f batches/s", name as NSString, batch,
                      rate, rate / Double(batch))
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

func header(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

header("\(total) publications of \(payloadSize) bytes over \(channels.count) channels, each with a publish id")
let batches = [1, 16, 64, 256]
for batch in batches {
    let store = InMemoryChannelStore()
    report("in-memory", batch: batch, rate: try await measure(store, batch: batch))
    try await store.close()
}
for (name, durability) in [("sqlite synchronous=NORMAL", SQLiteChannelStore.Durability.process),
                           ("sqlite synchronous=FULL", .system)]
{
    for batch in batches {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("channel-store-bench-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try await SQLiteChannelStore.open(directory: directory, durability: durability)
        report(name, batch: batch, rate: try await measure(store, batch: batch))
        try await store.close()
    }
}
if let url = ProcessInfo.processInfo.environment["POSTGRES_URL"] {
    for batch in batches {
        let store = try await PostgresChannelStore.open(try PostgresLocation(url: url))
        report("postgres", batch: batch, rate: try await measure(store, batch: batch))
        try await store.close()
    }
}
