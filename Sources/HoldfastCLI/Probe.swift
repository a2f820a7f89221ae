import ArgumentParser
import Foundation
import Holdfast
import Logging
import NIOCore

/// `holdfast probe URL`: what a WebSocket server does — echo, subprotocol, extensions, announced
/// limits, round trip, and the largest message it really accepts.
struct Probe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find out what a WebSocket server does: echo, subprotocol, limits, round trip, largest message.",
        discussion: """
            Connects to URL and reports whether the server echoes (a text and a binary message \
            come back unchanged, with their type), the subprotocol it chose among those offered \
            with --subprotocol, the extensions it answered (Sec-WebSocket-Extensions), the limits \
            it announced if any (a Holdfast server sends Holdfast-Max-Message-Size and \
            Holdfast-Max-Frame-Size), the round trip, and the largest message it accepts.

            Round trip: the median of --round-trips pings, each timed from sending the ping to \
            receiving its pong (every RFC 6455 server answers pings, echo server or not).

            Largest message: binary messages of 1 KiB, then doubling, until one is refused (a \
            1009 close, any other close, or a dropped connection), then bisection between the \
            largest accepted and the smallest refused, exact to within 1 %, with a new connection \
            for each size. Announced limits are not trusted: every size is really sent, so the \
            result is what the server does, not what it says. A message counts as accepted when it \
            comes back unchanged (a server that echoes) or when the server answers the close \
            that follows it with 1000 (one that does not). When nothing is refused up to \
            --probe-max the largest message is unknown (null in JSON).

            --json prints one object: url, echoes, subprotocol, extensions, announcedLimits \
            ({maxMessageSize, maxFrameSize} or null), pingRoundTripMilliseconds, roundTripMethod, \
            maxMessageSize (bytes, or null), smallestRefusedSize, refusal ({code, name, reason} or \
            null), probeMax, connections.

            A bad URL, or a server that cannot be reached, is one line on stderr and exit status 1.

            \(ClientConnectionOptions.discussion)

            Examples:
              holdfast probe ws://127.0.0.1:8080/
              holdfast probe wss://localhost:8443/ --ca ca.pem --no-verify-hostname
              holdfast probe ws://10.0.0.5:8080/ --proxy http://proxy.example:3128
              holdfast probe ws://127.0.0.1:8080/chat --subprotocol chat.v2 --json
              holdfast probe ws://127.0.0.1:9001/ --probe-max 1048576 --json
            """
    )

    @Argument(help: "ws:// or wss:// URL of the server to probe.")
    var url: String

    @OptionGroup(title: "TLS and proxy")
    var connection: ClientConnectionOptions

    @Option(name: .customLong("subprotocol"), help: "A subprotocol to offer (repeatable, in order of preference).")
    var subprotocols: [String] = []

    @Option(name: .customLong("probe-max"), help: "Largest message size tried, in bytes (64 MiB by default).")
    var probeMax = 64 << 20

    @Option(name: .customLong("round-trips"), help: "Echoes timed for the round trip; the median is reported.")
    var roundTrips = 5

    @Option(help: "Seconds to wait for each echo (connecting and closing wait up to 10 s).")
    var timeout: Double = 5

    @Flag(help: "Print one JSON object instead of a summary.")
    var json = false

    func validate() throws {
        guard probeMax > 0 else { throw ValidationError("--probe-max must be positive") }
        guard roundTrips > 0 else { throw ValidationError("--round-trips must be positive") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let parsedURL = try ConnectionFailure.checkedURL(url)
        let prober = Prober(url: url, subprotocols: subprotocols, probeMax: probeMax,
                            timeout: .nanoseconds(Int64(timeout * 1e9)))
        try connection.apply(to: &prober.configuration, for: parsedURL)
        let survey = try await prober.survey(roundTrips: roundTrips)
        let size = try await prober.largestMessage(echoes: survey.echoes)
        let report = ProbeReport(url: url, survey: survey, size: size, probeMax: probeMax,
                                 connections: prober.connections)
        Terminal.say(json ? try report.json() : report.text(offered: subprotocols))
    }
}

/// Runs the probe's connections; one per size tried, since a refusal ends a connection.
private final class Prober {
    let url: String
    /// The settings of every connection; TLS and proxy are set by the command's options.
    var configuration: WebSocketClientConfiguration
    let timeout: TimeAmount
    let probeMax: Int
    private(set) var connections = 0
    /// Connection failures are reported by the tool in one line; the client's own logs would repeat them.
    private let logger = Logger(label: "holdfast.probe") { _ in SwiftLogNoOpLogHandler() }

    init(url: String, subprotocols: [String], probeMax: Int, timeout: TimeAmount) {
        self.url = url
        self.probeMax = probeMax
        self.timeout = timeout
        // The client takes messages up to the largest size sent, so that its echo comes back.
        // Connecting and the close handshake keep the client's 10 s: a loaded server's slow
        // answer to a close must not pass for a refusal.
        let webSocket = WebSocketConfiguration(maxMessageSize: max(probeMax, WebSocketConfiguration.defaultMaxMessageSize))
        configuration = WebSocketClientConfiguration(webSocket: webSocket, subprotocols: subprotocols)
    }

    /// What the first connection shows: the handshake's answers, the echo, the round trip.
    struct Survey {
        var subprotocol: String?
        var extensions: [String]
        var announcedLimits: AnnouncedLimits
        var echoes: Bool
        var roundTrips: [Duration]
    }

    func survey(roundTrips count: Int) async throws -> Survey {
        try await connect { webSocket in
            var survey = Survey(
                subprotocol: webSocket.subprotocol,
                extensions: webSocket.responseHeaders["Sec-WebSocket-Extensions"]
                    .flatMap { $0.split(separator: ",") }
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty },
                announcedLimits: webSocket.peerLimits, echoes: false, roundTrips: [])
            // Pings first: every RFC 6455 server answers them, echo server or not, and a probe of
            // an echo that times out aborts the connection.
            survey.roundTrips = await pingRoundTrips(count, on: webSocket)
            var messages = webSocket.messages.makeAsyncIterator()
            let text = WebSocketMessage.text("holdfast probe: héllo ✓")
            let binary = WebSocketMessage.binary((0...255).map { UInt8($0) })
            guard await exchange(text, on: webSocket, &messages).echoed,
                  await exchange(binary, on: webSocket, &messages).echoed
            else { return survey }
            survey.echoes = true
            return survey
        }
    }

    /// The largest message size accepted, found by doubling from 1 KiB then bisecting, exact to
    /// within 1 %.
    func largestMessage(echoes: Bool) async throws -> SizeResult {
        var accepted = 0
        var refused: (size: Int, refusal: Refusal)?
        var size = min(1024, probeMax)
        while refused == nil {
            switch try await trial(size: size, echoes: echoes) {
            case .accepted:
                accepted = size
                if size == probeMax { return SizeResult(accepted: nil, refused: nil) }
                size = min(size * 2, probeMax)
            case .refused(let refusal):
                refused = (size, refusal)
            }
        }
        // The limit is in accepted...refused-1: narrow it until that range is within 1 % of it.
        while let bound = refused, bound.size - accepted > max(1, accepted / 100) {
            let middle = accepted + (bound.size - accepted) / 2
            switch try await trial(size: middle, echoes: echoes) {
            case .accepted: accepted = middle
            case .refused(let refusal): refused = (middle, refusal)
            }
        }
        return SizeResult(accepted: accepted, refused: refused)
    }

    /// The largest size accepted (`nil`: nothing was refused up to the maximum) and the
    /// smallest refused, with how.
    struct SizeResult {
        var accepted: Int?
        var refused: (size: Int, refusal: Refusal)?
    }

    /// How the server refused a message: the close that ended the connection, or no answer.
    enum Refusal {
        case closed(CloseOutcome)
        case changed
        case noAnswer(TimeAmount)
    }

    private enum Verdict {
        case accepted
        case refused(Refusal)
    }

    /// Sends one binary message of `size` bytes on a connection of its own and tells whether
    /// the server took it.
    private func trial(size: Int, echoes: Bool) async throws -> Verdict {
        let payload = Self.payload(size)
        return try await connect { webSocket in
            do {
                // One final fragment is a whole message. Unlike `send(_:)`, sending it as a
                // fragment does not refuse locally a message over the server's announced limit:
                // the probe must find what the server does, not what it says. Frames are still
                // cut to the announced frame limit, as any Holdfast client sends them.
                try await webSocket.sendFragment(payload, of: .binary, isFinal: true)
            } catch {
                return .refused(.closed(await webSocket.closeOutcome))
            }
            guard echoes else {
                // RFC 6455 §5.4: frames arrive in order, so the server reads the message before
                // the close; it answers 1000 only if it took the message.
                let outcome = await webSocket.close(code: .normalClosure)
                return outcome.received?.code == .normalClosure ? .accepted : .refused(.closed(outcome))
            }
            var messages = webSocket.messages.makeAsyncIterator()
            switch await answer(on: webSocket, &messages) {
            case .message(let message):
                return message.kind == .binary && message.data == payload ? .accepted : .refused(.changed)
            case .ended:
                return .refused(.closed(await webSocket.closeOutcome))
            case .timedOut:
                return .refused(.noAnswer(timeout))
            }
        }
    }

    /// `size` bytes of a pattern that does not repeat every 256 bytes, built by doubling.
    private static func payload(_ size: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(size)
        buffer.writeBytes((0..<min(size, 251)).map { UInt8($0) })
        while buffer.readableBytes < size {
            let copied = min(buffer.readableBytes, size - buffer.readableBytes)
            buffer.writeBytes(buffer.getBytes(at: buffer.readerIndex, length: copied) ?? [])
        }
        return buffer
    }

    /// Runs `body` on a new connection; a failure to connect is the tool's one-line error.
    private func connect<Result: Sendable>(_ body: (WebSocket) async -> Result) async throws -> Result {
        connections += 1
        do {
            return try await WebSocketClient.connect(to: url, configuration: configuration, logger: logger, body)
        } catch {
            throw Terminal.fail(ConnectionFailure.message(connectingTo: url, through: configuration.proxy, error))
        }
    }

    // MARK: Waiting for answers

    private enum Answer {
        case message(WebSocketMessage)
        case ended
        case timedOut
    }

    /// Sends `message` and waits for its echo: whether it came back unchanged, and how long it took.
    /// The round trips of `count` pings, each from sending the ping to receiving its pong; stops
    /// early (fewer results) when a pong does not come within the timeout.
    private func pingRoundTrips(_ count: Int, on webSocket: WebSocket) async -> [Duration] {
        let clock = ContinuousClock()
        let limit = Duration.nanoseconds(timeout.nanoseconds)
        var roundTrips: [Duration] = []
        for index in 0..<count {
            let start = clock.now
            let answered = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await webSocket.ping(ByteBuffer(string: "probe \(index)"))) != nil }
                group.addTask {
                    try? await Task.sleep(for: limit)
                    return false
                }
                defer { group.cancelAll() }
                return await group.next() ?? false
            }
            guard answered else { break }
            roundTrips.append(clock.now - start)
        }
        return roundTrips
    }

    private func exchange(_ message: WebSocketMessage, on webSocket: WebSocket,
                          _ messages: inout WebSocketMessages.AsyncIterator) async -> (echoed: Bool, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await webSocket.send(message)
        } catch {
            return (false, .zero)
        }
        guard case .message(let answer) = await answer(on: webSocket, &messages) else { return (false, .zero) }
        return (answer == message, clock.now - start)
    }

    /// The next message, or why there is none: the connection ended, or nothing came within the
    /// timeout — then the connection is aborted, since a message may still be on its way.
    private func answer(on webSocket: WebSocket, _ messages: inout WebSocketMessages.AsyncIterator) async -> Answer {
        let clock = ContinuousClock()
        let deadline = clock.now + .nanoseconds(timeout.nanoseconds)
        let message = await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Aborting ends the iteration below; a cancelled sleep means the answer came.
                guard (try? await Task.sleep(until: deadline, clock: clock)) != nil else { return }
                webSocket.abort()
            }
            defer { group.cancelAll() }
            return await messages.next()
        }
        if let message { return .message(message) }
        return clock.now >= deadline ? .timedOut : .ended
    }
}

/// What `holdfast probe` found, as text or JSON.
private struct ProbeReport: Encodable {
    struct Limits: Encodable {
        var maxMessageSize: Int?
        var maxFrameSize: Int?

        private enum CodingKeys: String, CodingKey {
            case maxMessageSize, maxFrameSize
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(maxMessageSize, forKey: .maxMessageSize)
            try container.encode(maxFrameSize, forKey: .maxFrameSize)
        }
    }

    struct RefusalJSON: Encodable {
        /// The close code that ended the connection (1006 when it was dropped), or `nil` when
        /// there was no answer or the echo came back changed.
        var code: Int?
        var name: String?
        var reason: String

        private enum CodingKeys: String, CodingKey {
            case code, name, reason
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(name, forKey: .name)
            try container.encode(reason, forKey: .reason)
        }
    }

    var url: String
    var echoes: Bool
    var subprotocol: String?
    var extensions: [String]
    var announcedLimits: Limits?
    var pingRoundTripMilliseconds: Double?
    var roundTripMethod: String?
    var maxMessageSize: Int?
    var smallestRefusedSize: Int?
    var refusal: RefusalJSON?
    var probeMax: Int
    var connections: Int

    /// The close that refused the smallest refused size, explained for the summary.
    private var refusalExplanation: String?
    private var roundTripCount: Int

    private enum CodingKeys: String, CodingKey {
        case url, echoes, subprotocol, extensions, announcedLimits, pingRoundTripMilliseconds, roundTripMethod
        case maxMessageSize, smallestRefusedSize, refusal, probeMax, connections
    }

    init(url: String, survey: Prober.Survey, size: Prober.SizeResult, probeMax: Int, connections: Int) {
        self.url = url
        echoes = survey.echoes
        subprotocol = survey.subprotocol
        extensions = survey.extensions
        let announced = survey.announcedLimits
        announcedLimits = announced.maxMessageSize == nil && announced.maxFrameSize == nil
            ? nil : Limits(maxMessageSize: announced.maxMessageSize, maxFrameSize: announced.maxFrameSize)
        roundTripCount = survey.roundTrips.count
        if !survey.roundTrips.isEmpty {
            let sorted = survey.roundTrips.sorted()
            let middle = sorted.count / 2
            let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
            let (seconds, attoseconds) = median.components
            pingRoundTripMilliseconds = ((Double(seconds) * 1e3 + Double(attoseconds) / 1e15) * 1000).rounded() / 1000
            roundTripMethod = "ping"
        }
        maxMessageSize = size.accepted
        smallestRefusedSize = size.refused?.size
        switch size.refused?.refusal {
        case .closed(let outcome)?:
            refusal = RefusalJSON(code: Int(outcome.code.rawValue), name: outcome.code.name, reason: outcome.reason)
            refusalExplanation = "closed with \(outcome.explanation())"
        case .changed?:
            refusal = RefusalJSON(code: nil, name: nil, reason: "the echo came back changed")
            refusalExplanation = "the echo came back changed"
        case .noAnswer(let timeout)?:
            let text = "no answer within \(timeout.readableDescription)"
            refusal = RefusalJSON(code: nil, name: nil, reason: text)
            refusalExplanation = text
        case nil:
            refusal = nil
        }
        self.probeMax = probeMax
        self.connections = connections
    }

    func encode(to encoder: any Encoder) throws {
        // Every key is present; what is unknown is null rather than missing.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(url, forKey: .url)
        try container.encode(echoes, forKey: .echoes)
        try container.encode(subprotocol, forKey: .subprotocol)
        try container.encode(extensions, forKey: .extensions)
        try container.encode(announcedLimits, forKey: .announcedLimits)
        try container.encode(pingRoundTripMilliseconds, forKey: .pingRoundTripMilliseconds)
        try container.encode(roundTripMethod, forKey: .roundTripMethod)
        try container.encode(maxMessageSize, forKey: .maxMessageSize)
        try container.encode(smallestRefusedSize, forKey: .smallestRefusedSize)
        try container.encode(refusal, forKey: .refusal)
        try container.encode(probeMax, forKey: .probeMax)
        try container.encode(connections, forKey: .connections)
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func text(offered: [String]) -> String {
        let offeredNote = offered.isEmpty ? "none offered" : "offered: \(offered.joined(separator: ", "))"
        var rows: [(String, String)] = [
            ("echoes", echoes ? "yes: a text and a binary message came back unchanged, with their type"
                              : "no: a message sent did not come back unchanged"),
            ("subprotocol", subprotocol.map { "\($0) (\(offeredNote))" } ?? "none (\(offeredNote))"),
            ("extensions", extensions.isEmpty ? "none" : extensions.joined(separator: ", ")),
        ]
        if let announcedLimits {
            let parts = [announcedLimits.maxMessageSize.map { "message \($0) bytes" },
                         announcedLimits.maxFrameSize.map { "frame \($0) bytes" }].compactMap { $0 }
            rows.append(("announced limits", parts.joined(separator: ", ")))
        } else {
            rows.append(("announced limits", "none"))
        }
        if let pingRoundTripMilliseconds {
            rows.append(("ping round trip", "\(pingRoundTripMilliseconds) ms, median of \(roundTripCount) pings"))
        } else {
            rows.append(("ping round trip", "unknown: no pong came within the timeout"))
        }
        if let maxMessageSize, let smallestRefusedSize {
            var line = "\(maxMessageSize) bytes (exact to within 1 %): \(smallestRefusedSize) bytes were refused"
            if let refusalExplanation { line += ", \(refusalExplanation)" }
            if let announced = announcedLimits?.maxMessageSize,
               !(maxMessageSize...smallestRefusedSize - 1).contains(announced) {
                line += "; this differs from the announced \(announced) bytes"
            }
            rows.append(("largest message", line))
        } else {
            rows.append(("largest message", "unknown: nothing was refused up to \(probeMax) bytes (--probe-max)"))
        }
        rows.append(("connections", "\(connections)"))
        let width = rows.map(\.0.count).max() ?? 0
        return (["holdfast probe \(url)"] + rows.map { label, value in
            "  " + label + String(repeating: " ", count: width - label.count + 2) + value
        }).joined(separator: "\n")
    }
}
