// channel-load: a load generator for `holdfast serve --mode channels`, loopback only.
//
//   channel-load fanout [-n 1000] [-c 1] [-p 20000] [-s 100] [--rate 0] [--window 256] URL
//   channel-load replay [-p 100000] [-s 100] URL   (server: --history-size/--max-replay ≥ P)
//
// Fan-out: N subscribers on C channels, then one publisher; latency publish→deliver per delivery
// from the timestamp in each payload (one process, one monotonic clock), throughput, and a check
// that every subscriber got every offset exactly once in order. Replay: P publishes to a channel
// nobody follows, then one subscriber resumes from before the first and times the replay.
// Output: a short report, or with --json one JSON object; exit 1 on any violation or failure.
import ArgumentParser
import Foundation
import Holdfast
import HoldfastChannels
import HoldfastCore
import NIOConcurrencyHelpers
import NIOPosix

@main
struct ChannelLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "channel-load",
        abstract: "Load generator for `holdfast serve --mode channels`: fan-out latency and throughput, replay rate.",
        subcommands: [FanOut.self, Replay.self])
}

/// Options both scenarios take.
struct SharedOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Payload bytes per publication (≥ 16: the timestamp and sequence number).")
    var size = 100
    @Option(help: "Publishes awaiting their ack at once.") var window = 256
    @Option(name: [.short, .long], help: "Client event-loop threads.") var threads = 1
    @Option(name: [.customShort("T"), .long], help: "Seconds the whole run may take before it gives up (and fails).")
    var timeout: Double = 300
    @Option(name: [.short, .long], help: "Label copied to the JSON object.") var label = ""
    @Flag(help: "Print one JSON object instead of the report.") var json = false
    @Flag(help: "Offer permessage-deflate (the library's client offers it by default; off here, so the figures are of channels, not of compressing every delivery).")
    var deflate = false
    @Argument(help: "ws://127.0.0.1:PORT/ of a server run with --mode channels.") var url: String

    func check() throws {
        guard size >= PublishEncoder.minimumPayload, size <= 1 << 20 else { throw ValidationError("-s must be 16 B – 1 MiB") }
        guard (1...100_000).contains(window) else { throw ValidationError("--window must be 1–100000") }
        guard (1...64).contains(threads) else { throw ValidationError("-t must be 1–64") }
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("-T must be 0–3600 s") }
    }

    var client: WebSocketClientConfiguration {
        var webSocket = WebSocketConfiguration()
        if !deflate { webSocket.compression = nil }
        return WebSocketClientConfiguration(webSocket: webSocket, subprotocols: [channelsSubprotocol], connectTimeout: .seconds(30))
    }

    /// Prints the report lines, or the JSON object of `fields`.
    func emit(_ lines: [String], _ fields: [String: Any]) throws {
        if json {
            var fields = fields
            fields["label"] = label
            let data = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            lines.forEach { print($0) }
        }
    }
}

/// Runs `body`; past `seconds`, aborts every registered socket so that the body's loops end.
func withDeadline<Value: Sendable>(_ seconds: Double, registry: SocketRegistry,
                                   _ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
    try await withThrowingTaskGroup(of: Value?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            if !Task.isCancelled {
                let aborted = registry.abortAll()
                FileHandle.standardError.write(Data("channel-load: deadline of \(seconds) s passed, \(aborted) connections aborted\n".utf8))
            }
            return Value?.none
        }
        while let next = try await group.next() {
            if let value = next {
                group.cancelAll()
                return value
            }
        }
        throw LoadFailure("the run ended without a result")
    }
}

/// Runs `body` with a group of `threads` event loops for the client connections, and shuts the
/// group down afterwards, whether `body` threw or not.
func withEventLoopGroup(threads: Int, _ body: (MultiThreadedEventLoopGroup) async throws -> Void) async throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    do { try await body(group) } catch {
        try? await group.shutdownGracefully()
        throw error
    }
    try? await group.shutdownGracefully()
}

/// Microseconds, for reports.
func micros(_ nanoseconds: UInt64) -> Double { Double(nanoseconds) / 1000 }

/// Counts subscriptions in place, and lets one task wait for all of them.
final class ReadyCount: Sendable {
    private let state = NIOLockedValueBox<(remaining: Int, waiter: CheckedContinuation<Void, Never>?)>((0, nil))

    init(_ count: Int) { state.withLockedValue { $0.remaining = count } }

    func arrived() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.remaining -= 1
            guard state.remaining == 0 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLockedValue { state -> Bool in
                if state.remaining <= 0 { return true }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}
