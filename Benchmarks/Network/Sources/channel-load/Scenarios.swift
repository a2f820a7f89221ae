import ArgumentParser
import Foundation
import Holdfast
import HoldfastChannels
import NIOPosix

/// CPU seconds this process used (every thread, user and system), to show what the load
/// generator itself cost the machine it shares with the server.
func processCPUSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

struct FanOut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "N subscribers on C channels, one publisher of P messages: publish→deliver latency, throughput, exactly-once order.")

    @OptionGroup var shared: SharedOptions
    @Option(name: [.customShort("n"), .long], help: "Subscribers (connections, one subscription each).") var subscribers = 1000
    @Option(name: [.short, .long], help: "Channels the subscribers are spread over (round-robin), and the publishes too.")
    var channels = 1
    @Option(name: [.short, .long], help: "Publishes.") var publishes = 20_000
    @Option(help: "Publishes a second (0: as fast as the ack window allows).") var rate: Double = 0
    @Option(help: "Subscribers connecting at once.") var connectConcurrency = 64
    @Option(name: .customLong("subscribe-url"),
            help: "Where the subscribers connect, round-robin; repeat it for the nodes of a cluster (default: URL, where the publisher goes).")
    var subscribeURLs: [String] = []

    func validate() throws {
        try shared.check()
        guard (1...20_000).contains(subscribers) else { throw ValidationError("-n must be 1–20000") }
        guard (1...subscribers).contains(channels) else { throw ValidationError("-c must be 1–N") }
        guard (1...10_000_000).contains(publishes) else { throw ValidationError("-p must be 1–10000000") }
        guard rate >= 0, (1...1024).contains(connectConcurrency) else { throw ValidationError("--rate ≥ 0, --connect-concurrency 1–1024") }
    }

    func run() async throws {
        try await withEventLoopGroup(threads: shared.threads, measure)
    }

    private func measure(on group: MultiThreadedEventLoopGroup) async throws {
        let prefix = freshChannelPrefix()
        let names = try (0..<channels).map { try ChannelName(validating: "\(prefix)-\($0)") }
        let perChannel = (0..<channels).map { publishes / channels + ($0 < publishes % channels ? 1 : 0) }
        let registry = SocketRegistry()
        let ready = ReadyCount(subscribers)
        let connecting = Permits(connectConcurrency)
        let publisher = Publisher(url: shared.url, channels: names, count: publishes, payloadSize: shared.size,
                                  window: shared.window, rate: rate, configuration: shared.client, eventLoopGroup: group,
                                  registry: registry)
        let (urls, client, count) = (subscribeURLs.isEmpty ? [shared.url] : subscribeURLs, shared.client, subscribers)
        let cpuStart = processCPUSeconds()
        let wallStart = monotonicNanoseconds()
        let (published, results, setupSeconds) = try await withDeadline(shared.timeout, registry: registry) {
            () async throws -> (PublishOutcome, [SubscriptionResult], Double) in
            async let subscriptions = withTaskGroup(of: (Int, SubscriptionResult).self) { tasks in
                for index in 0..<count {
                    let subscriber = Subscriber(url: urls[index % urls.count], channel: names[index % names.count], since: nil,
                                                expected: perChannel[index % names.count], configuration: client,
                                                eventLoopGroup: group, registry: registry, connecting: connecting,
                                                onReady: { ready.arrived() })
                    tasks.addTask { (index, await subscriber.run()) }
                }
                // In subscriber order (they finish in any): the checks below find each one's
                // channel from its index.
                var all = [SubscriptionResult?](repeating: nil, count: count)
                for await (index, result) in tasks { all[index] = result }
                return all.compactMap { $0 }
            }
            await ready.wait()
            let setup = Double(monotonicNanoseconds() - wallStart) / 1e9
            let published: PublishOutcome
            do { published = try await publisher.run() } catch {
                _ = registry.abortAll()
                _ = await subscriptions
                throw error
            }
            return (published, await subscriptions, setup)
        }
        let cpu = processCPUSeconds() - cpuStart
        let wall = Double(monotonicNanoseconds() - wallStart) / 1e9

        // Every subscriber must have had exactly the offsets its channel's publishes were given.
        var problems: [String] = []
        var violations = 0
        var latencies = LatencyHistogram()
        for (index, result) in results.enumerated() {
            latencies.merge(result.latencies)
            let channel = index % channels
            var wrong = result.violations
            if let first = result.firstViolation { problems.append("subscriber \(index): \(first)") }
            if let failure = result.failure { wrong += 1; problems.append("subscriber \(index): \(failure)") }
            if let from = result.subscribed?.from, let first = published.firstOffset[channel], from != first {
                wrong += 1; problems.append("subscriber \(index): subscription began at \(from), the first publish got \(first)")
            }
            if result.failure == nil, result.lastOffset != published.lastOffset[channel] {
                wrong += 1; problems.append("subscriber \(index): last offset \(result.lastOffset), the last ack \(published.lastOffset[channel])")
            }
            violations += wrong
        }
        if published.refusals > 0 { problems.append("publishes refused: \(published.refusals), first: \(published.firstRefusal ?? "")") }
        let deliveries = results.reduce(0) { $0 + $1.received }
        let expectedDeliveries = (0..<subscribers).reduce(0) { $0 + perChannel[$1 % channels] }
        let deliveredBytes = results.reduce(0) { $0 + $1.bytes }
        let lastDelivery = results.map { $0.lastDeliveryAt }.max() ?? published.startedAt
        let deliverySeconds = Double(max(lastDelivery, published.startedAt) - published.startedAt) / 1e9
        let ackSeconds = Double(max(published.lastAckAt, published.startedAt) - published.startedAt) / 1e9
        let deliveryRate = deliverySeconds > 0 ? Double(deliveries) / deliverySeconds : 0
        let ackRate = ackSeconds > 0 ? Double(published.totalAcknowledged) / ackSeconds : 0
        let failed = violations > 0 || published.refusals > 0 || deliveries != expectedDeliveries

        let pace = rate > 0 ? String(format: "%.0f/s", rate) : "max (window \(shared.window))"
        var lines = [
            "fan-out: \(subscribers) subscribers on \(channels) channel(s), \(publishes) publishes of \(shared.size) B at \(pace); setup \(String(format: "%.1f", setupSeconds)) s",
            String(format: "  latency publish→deliver: p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs (%llu deliveries timed)",
                   micros(latencies.quantile(0.5)), micros(latencies.quantile(0.99)), micros(latencies.quantile(0.999)),
                   micros(latencies.maximum), latencies.count),
            String(format: "  throughput: %.0f deliveries/s (%.1f MB/s), %.0f publishes acknowledged/s; %d of %d deliveries in %.2f s",
                   deliveryRate, deliverySeconds > 0 ? Double(deliveredBytes) / deliverySeconds / 1e6 : 0, ackRate,
                   deliveries, expectedDeliveries, deliverySeconds),
            String(format: "  order: %@; client CPU %.1f s (%.0f %% of one core)",
                   failed ? "VIOLATIONS \(violations)" : "every subscriber got every offset exactly once, in order",
                   cpu, cpu / wall * 100),
        ]
        lines += problems.prefix(5).map { "  ! " + $0 }
        try shared.emit(lines, [
            "scenario": "fanout", "subscribers": subscribers, "channels": channels, "publishes": publishes,
            "payload_bytes": shared.size, "rate": rate, "window": shared.window,
            "lat_p50_us": micros(latencies.quantile(0.5)), "lat_p99_us": micros(latencies.quantile(0.99)),
            "lat_p999_us": micros(latencies.quantile(0.999)), "lat_max_us": micros(latencies.maximum),
            "deliveries": deliveries, "expected_deliveries": expectedDeliveries,
            "deliveries_per_s": deliveryRate.rounded(), "acks_per_s": ackRate.rounded(),
            "delivery_seconds": deliverySeconds, "setup_seconds": setupSeconds,
            "violations": violations, "refusals": published.refusals, "first_problem": problems.first ?? "",
            "client_cpu_s": cpu, "ok": !failed,
        ])
        if failed { throw ExitCode(1) }
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "P publishes to a channel nobody follows, then one subscriber resumes from before the first: replay rate and order.",
        discussion: """
            The server must keep and replay all of them: start it with --history-size P --max-replay P \
            (or more), e.g. holdfast serve --mode channels --history-size 100000 --max-replay 100000; \
            otherwise the subscription is answered recovered: false and this fails.
            """)

    @OptionGroup var shared: SharedOptions
    @Option(name: [.short, .long], help: "Publishes, then replayed.") var publishes = 100_000

    func validate() throws {
        try shared.check()
        guard (1...10_000_000).contains(publishes) else { throw ValidationError("-p must be 1–10000000") }
    }

    func run() async throws {
        try await withEventLoopGroup(threads: shared.threads, measure)
    }

    private func measure(on group: MultiThreadedEventLoopGroup) async throws {
        let channel = try ChannelName(validating: freshChannelPrefix() + "-replay")
        let registry = SocketRegistry()
        let publisher = Publisher(url: shared.url, channels: [channel], count: publishes, payloadSize: shared.size,
                                  window: shared.window, rate: 0, configuration: shared.client, eventLoopGroup: group,
                                  registry: registry)
        let (url, client, count) = (shared.url, shared.client, publishes)
        let (published, result) = try await withDeadline(shared.timeout, registry: registry) {
            () async throws -> (PublishOutcome, SubscriptionResult) in
            let published = try await publisher.run()
            guard let epoch = published.epoch, let first = published.firstOffset[0], published.refusals == 0 else {
                throw LoadFailure("publishing failed: \(published.totalAcknowledged) acknowledged, \(published.firstRefusal ?? "no epoch")")
            }
            let subscriber = Subscriber(url: url, channel: channel, since: StreamPosition(epoch: epoch, offset: first - 1),
                                        expected: count, configuration: client, eventLoopGroup: group, registry: registry,
                                        connecting: Permits(1), onReady: {})
            return (published, await subscriber.run())
        }
        var problems: [String] = []
        if let failure = result.failure { problems.append(failure) }
        if let first = result.firstViolation { problems.append("\(result.violations) order violations, first: \(first)") }
        if let answer = result.subscribed {
            if answer.recovered != true { problems.append("subscribed with recovered: \(answer.recovered.map { "\($0)" } ?? "absent") — is --history-size/--max-replay ≥ \(publishes)?") }
            if answer.from != published.firstOffset[0] { problems.append("replay began at \(answer.from), the first publish got \(published.firstOffset[0] ?? 0)") }
        }
        if result.lastOffset != published.lastOffset[0] { problems.append("last offset \(result.lastOffset), the last ack \(published.lastOffset[0])") }
        let failed = !problems.isEmpty || result.received != publishes
        let seconds = Double(max(result.lastDeliveryAt, result.subscribedAt) - result.subscribedAt) / 1e9
        let firstSeconds = Double(max(result.firstDeliveryAt, result.subscribedAt) - result.subscribedAt) / 1e9
        let rate = seconds > 0 ? Double(result.received) / seconds : 0
        let megabytes = seconds > 0 ? Double(result.bytes) / seconds / 1e6 : 0
        let publishSeconds = Double(published.lastAckAt - published.startedAt) / 1e9
        let publishRate = publishSeconds > 0 ? Double(published.totalAcknowledged) / publishSeconds : 0
        var lines = [
            String(format: "replay: %d publishes of %d B stored at %.0f/s (%.2f s, nobody subscribed)",
                   publishes, shared.size, publishRate, publishSeconds),
            String(format: "  replayed %d in %.3f s: %.0f messages/s, %.1f MB/s of messages; first after %.1f ms; %@",
                   result.received, seconds, rate, megabytes, firstSeconds * 1000,
                   failed ? "FAILED" : "all in order, recovered: true"),
        ]
        lines += problems.prefix(5).map { "  ! " + $0 }
        try shared.emit(lines, [
            "scenario": "replay", "publishes": publishes, "payload_bytes": shared.size,
            "publishes_per_s": publishRate.rounded(), "replayed": result.received, "replay_seconds": seconds,
            "replay_msgs_per_s": rate.rounded(), "replay_mb_per_s": megabytes, "first_replayed_ms": firstSeconds * 1000,
            "violations": result.violations, "first_problem": problems.first ?? "", "ok": !failed,
        ])
        if failed { throw ExitCode(1) }
    }
}
