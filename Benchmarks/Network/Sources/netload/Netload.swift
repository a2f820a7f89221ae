// netload: a WebSocket load generator for whole-server benchmarks with permessage-deflate and
// TLS (wss://), in the spirit of ../shared/bench's wsload (which has neither). Loopback only.
//
//   netload echo [-c 100] [-p 16] [-s 1K] [--payload json|binary] [--deflate] [-d 5] [-w 1] URL
//   netload handshake [-c 50] [-d 5] [-w 1] [--deflate] URL
//   URL: ws://127.0.0.1:PORT/ or wss://127.0.0.1:PORT/ (with --ca PEM, or --insecure)
//
// Echo: C connections each keep P messages in flight, sent from a pool of prebuilt masked frames
// (compressed once when --deflate). Echoes are counted and timed by their frame headers; the first
// echo of each connection is checked byte for byte (inflated if compressed), the others by length
// when not compressed. Handshake: C workers loop connect → (TLS) → upgrade → close(1000) → the
// server's close → socket closed. Output: one human line, one JSON line; exit 1 on any error.
import ArgumentParser
import Foundation
import HoldfastCore
import NIOCore
import NIOPosix
import NIOSSL

@main
struct Netload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "WebSocket load generator (echo throughput, handshake rate) with permessage-deflate and TLS.",
        subcommands: [Echo.self, Handshake.self])
}

struct CommonOptions: ParsableArguments {
    @Option(name: .short, help: "Seconds measured.") var duration: Double = 5
    @Option(name: .short, help: "Seconds of warm-up before the measured window.") var warmup: Double = 1
    @Option(name: .short, help: "Event-loop threads.") var threads = 1
    @Option(name: .customShort("T"), help: "Seconds allowed for connecting, upgrading, and draining at the end.")
    var timeout: Double = 10
    @Flag(help: "Offer permessage-deflate (client_no_context_takeover; client_max_window_bits); fail if refused.")
    var deflate = false
    @Option(help: "For wss://: trust only this CA (PEM); the certificate must name the IP address.") var ca: String?
    @Flag(help: "For wss://: do not verify the server's certificate.") var insecure = false
    @Option(name: .short, help: "Label copied to the JSON line.") var label = ""
    @Flag(name: .short, help: "Print only the JSON line.") var quiet = false
    @Argument(help: "ws://127.0.0.1:PORT/ or wss://127.0.0.1:PORT/") var url: String

    func settings() throws -> LoadSettings {
        let target = try Target(url: url)
        var sslContext: NIOSSLContext?
        if target.tls {
            var tls = TLSConfiguration.makeClientConfiguration()
            if insecure {
                tls.certificateVerification = .none
            } else if let ca {
                tls.trustRoots = .file(ca)
            }
            sslContext = try NIOSSLContext(configuration: tls)
        }
        return LoadSettings(target: target, sslContext: sslContext,
                            offer: deflate ? LoadSettings.deflateOffer : nil,
                            timeout: .nanoseconds(Int64(timeout * 1e9)))
    }

    func validateCommon() throws {
        guard duration > 0, duration <= 3600, warmup >= 0, warmup <= 600, timeout > 0, timeout <= 600
        else { throw ValidationError("durations must be positive and bounded (-d ≤ 3600, -w ≤ 600, -T ≤ 600)") }
        guard (1...64).contains(threads) else { throw ValidationError("-t must be 1–64") }
    }
}

/// Sizes like 64, 16K, 1M.
func parseSize(_ text: String) -> Int? {
    let multipliers: [Character: Int] = ["K": 1024, "k": 1024, "M": 1 << 20, "m": 1 << 20]
    if let last = text.last, let multiplier = multipliers[last] { return Int(text.dropLast()).map { $0 * multiplier } }
    return Int(text)
}

extension PayloadKind: ExpressibleByArgument {}

struct CPUClock {
    static func seconds() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}

func percentile(_ sorted: [UInt32], _ p: Double) -> UInt32 {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
}

func jsonLine(_ fields: [(String, Any)]) -> String {
    "{" + fields.map { key, value in
        let rendered: String
        switch value {
        case let text as String: rendered = "\"" + text.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: " ") + "\""
        case let number as Double: rendered = number.isFinite ? String(format: "%.3f", number) : "null"
        case let flag as Bool: rendered = flag ? "true" : "false"
        default: rendered = "\(value)"
        }
        return "\"\(key)\":\(rendered)"
    }.joined(separator: ",") + "}"
}

struct Echo: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Echo throughput: C connections × P messages in flight.")

    @OptionGroup var common: CommonOptions
    @Option(name: .short, help: "Connections.") var connections = 100
    @Option(name: .short, help: "Messages in flight per connection.") var pipeline = 16
    @Option(name: .short, help: "Message size (64, 1K, 16K, 1M).") var size = "64"
    @Option(help: "json: compressible JSON-like text; binary: random bytes.") var payload = PayloadKind.binary
    @Option(name: .customLong("client-window-bits"),
            help: "With --deflate: compress the messages with at most this window (9–15; lower if the server asks), the same for every server.")
    var clientWindowBits = 12

    func validate() throws {
        try common.validateCommon()
        guard let bytes = parseSize(size), bytes >= 1, bytes <= 256 << 20 else { throw ValidationError("-s must be 1 B – 256 MiB") }
        guard (9...15).contains(clientWindowBits) else { throw ValidationError("--client-window-bits must be 9–15") }
        guard (1...10_000).contains(connections), (1...1024).contains(pipeline)
        else { throw ValidationError("-c must be 1–10000 and -p 1–1024") }
    }

    func run() throws {
        let settings = try common.settings()
        let messageSize = parseSize(size)!
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        defer { try? group.syncShutdownGracefully() }

        func connect() -> EventLoopFuture<UpgradedConnection> {
            let loop = group.next()
            let upgraded = loop.makePromise(of: UpgradedConnection.self)
            settings.bootstrap(on: loop) { EchoConnection(settings: settings, upgraded: upgraded) }
                .connect(host: settings.target.host, port: settings.target.port)
                .whenFailure { upgraded.fail($0) }
            return upgraded.futureResult
        }

        // The first connection tells which window the server allows the client: the pool is
        // compressed with it.
        let first = try connect().wait()
        var windowBits: Int?
        if settings.offer != nil {
            guard let agreed = first.compression else { throw LoadError("the server did not accept permessage-deflate") }
            guard agreed.ownMaxWindowBits >= 9 else { throw LoadError("the server asks for an 8-bit window, which zlib cannot produce") }
            windowBits = min(agreed.ownMaxWindowBits, clientWindowBits)
        }
        let pool = try MessagePool(kind: payload, size: messageSize, count: MessagePool.count(forSize: messageSize),
                                   compressWindowBits: windowBits)
        var connections = [first]
        connections += try EventLoopFuture.whenAllSucceed((1..<self.connections).map { _ in connect() },
                                                          on: group.next()).wait()
        for connection in connections where connection.compression?.ownMaxWindowBits != first.compression?.ownMaxWindowBits {
            throw LoadError("connections agreed on different windows: \(String(describing: connection.compression))")
        }

        let cpuStart = CPUClock.seconds()
        let wallStart = nowNanoseconds()
        let measureStart = wallStart + UInt64(common.warmup * 1e9)
        let measureEnd = measureStart + UInt64(common.duration * 1e9)
        let deadline = measureEnd + UInt64(common.timeout * 1e9)
        var results: [EventLoopFuture<ConnectionResult>] = []
        for (index, connection) in connections.enumerated() {
            let loop = connection.handler.eventLoop
            let promise = loop.makePromise(of: ConnectionResult.self)
            let plan = EchoPlan(pool: pool, pipeline: pipeline, firstIndex: index * pipeline,
                                measureStart: measureStart, measureEnd: measureEnd, deadline: deadline, result: promise)
            loop.execute { connection.handler.value.start(plan) }
            results.append(promise.futureResult)
        }
        let all = try EventLoopFuture.whenAllSucceed(results, on: group.next()).wait()
        let cpu = CPUClock.seconds() - cpuStart
        let wall = Double(nowNanoseconds() - wallStart) / 1e9

        let messages = all.reduce(0) { $0 + $1.messages }
        let errors = all.filter { $0.error != nil }
        let latencies = all.flatMap(\.latenciesMicroseconds).sorted()
        let compressedEchoes = all.reduce(0) { $0 + $1.compressedEchoes }
        let uncompressedEchoes = all.reduce(0) { $0 + $1.uncompressedEchoes }
        let echoWire = all.reduce(0) { $0 + $1.echoWireBytes }
        let verified = all.reduce(0) { $0 + $1.verified }
        let rate = Double(messages) / common.duration
        let mebibytes = rate * Double(messageSize) / 1_048_576
        let mode = "\(payload.rawValue) \(messageSize) B\(settings.offer != nil ? " deflate" : "")\(settings.target.tls ? " tls" : "")"
        if !common.quiet {
            print(String(format: "echo %@, %d conns × %d: %.0f msgs/s, %.1f MiB/s of messages; p50 %u µs, p99 %u µs; "
                         + "sent %.2f and echoed %.2f wire bytes per message byte, %d of %d echoes compressed; "
                         + "%d checked; errors %d; client CPU %.0f %%",
                         mode, self.connections, pipeline, rate, mebibytes, percentile(latencies, 0.5),
                         percentile(latencies, 0.99), pool.wireRatio,
                         messages > 0 ? Double(echoWire) / Double(messages * messageSize) : 0,
                         compressedEchoes, compressedEchoes + uncompressedEchoes, verified, errors.count,
                         cpu / wall * 100))
            if let error = errors.first?.error { print("first error: \(error)") }
        }
        print(jsonLine([
            ("mode", "echo"), ("label", common.label), ("payload", payload.rawValue), ("size", messageSize),
            ("conns", self.connections), ("pipeline", pipeline), ("deflate", settings.offer != nil),
            ("tls", settings.target.tls), ("client_window_bits", windowBits ?? 0),
            ("msgs_per_s", rate), ("mib_per_s", mebibytes),
            ("sent_wire_ratio", pool.wireRatio),
            ("echo_wire_ratio", messages > 0 ? Double(echoWire) / Double(messages * messageSize) : 0.0),
            ("echoes_compressed", compressedEchoes), ("echoes_uncompressed", uncompressedEchoes),
            ("verified", verified),
            ("lat_p50_us", percentile(latencies, 0.5)), ("lat_p99_us", percentile(latencies, 0.99)),
            ("lat_p999_us", percentile(latencies, 0.999)),
            ("errors", errors.count), ("first_error", errors.first?.error ?? ""),
            ("client_cpu_s", cpu), ("client_cpu_pct", cpu / wall * 100), ("duration_s", common.duration),
        ]))
        if !errors.isEmpty || messages == 0 { throw ExitCode(1) }
    }
}

struct Handshake: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Handshake rate: C workers loop connect, (TLS,) upgrade, close(1000), wait for the close reply.")

    @OptionGroup var common: CommonOptions
    @Option(name: .short, help: "Workers.") var connections = 50

    func validate() throws {
        try common.validateCommon()
        guard (1...10_000).contains(connections) else { throw ValidationError("-c must be 1–10000") }
    }

    func run() throws {
        let settings = try common.settings()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: common.threads)
        defer { try? group.syncShutdownGracefully() }
        let cpuStart = CPUClock.seconds()
        let wallStart = nowNanoseconds()
        let measureStart = wallStart + UInt64(common.warmup * 1e9)
        let plan = HandshakePlan(measureStart: measureStart, measureEnd: measureStart + UInt64(common.duration * 1e9))
        let workers: [EventLoopFuture<WorkerResult>] = (0..<connections).map { _ in
            let loop = group.next()
            let finished = loop.makePromise(of: WorkerResult.self)
            loop.execute {
                HandshakeWorker(loop: loop, settings: settings, plan: plan, finished: finished).next()
            }
            return finished.futureResult
        }
        let all = try EventLoopFuture.whenAllSucceed(workers, on: group.next()).wait()
        let cpu = CPUClock.seconds() - cpuStart
        let wall = Double(nowNanoseconds() - wallStart) / 1e9
        let cycles = all.reduce(0) { $0 + $1.cycles }
        let errors = all.reduce(0) { $0 + $1.errors }
        let handshakes = all.flatMap(\.handshakeMicroseconds).sorted()
        let cycleTimes = all.flatMap(\.cycleMicroseconds).sorted()
        let rate = Double(cycles) / common.duration
        let firstError = all.compactMap(\.firstError).first ?? ""
        if !common.quiet {
            print(String(format: "handshake%@%@, %d workers: %.0f cycles/s; handshake p50 %u µs, p99 %u µs; "
                         + "cycle p50 %u µs; errors %d; client CPU %.0f %%",
                         settings.target.tls ? " tls" : "", settings.offer != nil ? " deflate" : "", connections,
                         rate, percentile(handshakes, 0.5), percentile(handshakes, 0.99), percentile(cycleTimes, 0.5),
                         errors, cpu / wall * 100))
            if !firstError.isEmpty { print("first error: \(firstError)") }
        }
        print(jsonLine([
            ("mode", "handshake"), ("label", common.label), ("conns", connections),
            ("deflate", settings.offer != nil), ("tls", settings.target.tls),
            ("msgs_per_s", rate), ("cycles", cycles),
            ("lat_p50_us", percentile(handshakes, 0.5)), ("lat_p99_us", percentile(handshakes, 0.99)),
            ("lat_p999_us", percentile(handshakes, 0.999)), ("cycle_p50_us", percentile(cycleTimes, 0.5)),
            ("errors", errors), ("first_error", firstError),
            ("client_cpu_s", cpu), ("client_cpu_pct", cpu / wall * 100), ("duration_s", common.duration),
        ]))
        if errors > 0 || cycles == 0 { throw ExitCode(1) }
    }
}
