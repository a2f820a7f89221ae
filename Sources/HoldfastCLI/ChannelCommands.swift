import ArgumentParser
import Foundation
import Holdfast
import HoldfastChannels
import Logging
import NIOConcurrencyHelpers

/// What `holdfast subscribe` and `holdfast publish` share: the connection options and how a
/// channels client is made and run.
struct ChannelConnectionOptions: ParsableArguments {
    @OptionGroup(title: "TLS and proxy")
    var connection: ClientConnectionOptions

    @Option(name: .customLong("max-attempts"), help: "Reconnection attempts in a row before giving up.")
    var maxAttempts = 10

    /// A client of the channels server at `url`, or the tool's one-line error for a bad URL or option.
    func client(for url: String) throws -> ChannelClient {
        let parsedURL = try ConnectionFailure.checkedURL(url)
        guard maxAttempts >= 0 else { throw Terminal.fail("--max-attempts must not be negative") }
        var clientConfiguration = WebSocketClientConfiguration()
        try connection.apply(to: &clientConfiguration, for: parsedURL)
        let reconnecting = ReconnectingWebSocketConfiguration(client: clientConfiguration,
                                                              policy: ReconnectPolicy(maximumAttempts: maxAttempts))
        // Gaps and refusals are the commands' own lines; the client's log keeps to errors.
        var logger = Logger(label: "holdfast.channels")
        logger.logLevel = .error
        return ChannelClient(url: url, configuration: ChannelClientConfiguration(connection: reconnecting), logger: logger)
    }

    /// Channel names from the command line, or the tool's one-line error for an invalid one.
    static func channelNames(_ names: [String]) throws -> [ChannelName] {
        try names.map { name in
            do { return try ChannelName(validating: name) } catch { throw Terminal.fail("channel \"\(name)\": \(error)") }
        }
    }

    /// The one-line error for a client that stopped: the server gave up on it, or refused it.
    static func failure(_ error: any Error, url: String) -> ExitCode {
        if let ended = error as? ReconnectingWebSocket.ConnectionEnded {
            return Terminal.fail("cannot reach \(url): \(ended.ending)")
        }
        return Terminal.fail(Terminal.explain(error))
    }
}

struct Subscribe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the messages of channels as they are published, resuming after reconnects without losing any.",
        discussion: """
            Connects to a channels server ('holdfast serve --mode channels') with the subprotocol \
            holdfast.channels.v1 and prints each publication on stdout as one line: the channel, \
            its position EPOCH:OFFSET and the message (text as it is, binary as its size and \
            base64). When the connection is lost (a restart's 1001, a crash's 1006, a 1013 for \
            reading too slowly) it reconnects with backoff and resumes after the last offset it \
            printed: every message is printed exactly once, in order, per channel. When the \
            server cannot fill the gap (its history was lost or trimmed) a line on stderr says \
            which offsets are gone — never silently. --since starts after a position printed \
            earlier, so a later run continues where one stopped.

            With --json every line is a JSON object: {"channel","epoch","offset","kind","text"} \
            or "base64" for binary, and {"type":"gap",...} for a gap. It runs until interrupted, \
            or until --count messages were printed.

            Examples:
              holdfast subscribe ws://127.0.0.1:8080/ room
              holdfast subscribe ws://127.0.0.1:8080/ room news --json
              holdfast subscribe ws://127.0.0.1:8080/ room --since 3f9a0c1b2d4e5f60:41
              holdfast subscribe wss://chat.example/ room --ca ca.pem --count 10
            """
    )

    @Argument(help: "ws:// or wss:// URL of the channels server.")
    var url: String

    @Argument(help: "The channels to subscribe to.")
    var channels: [String]

    @Option(help: ArgumentHelp("Print what follows this position (as printed: EPOCH:OFFSET), on every channel given.",
                               valueName: "epoch:offset"))
    var since: String?

    @Flag(help: "Print one JSON object per line.")
    var json = false

    @Option(help: "Exit 0 after printing this many messages.")
    var count: Int?

    @OptionGroup var options: ChannelConnectionOptions

    func run() async throws {
        guard !channels.isEmpty else { throw Terminal.fail("name at least one channel to subscribe to") }
        let names = try ChannelConnectionOptions.channelNames(channels)
        let start = try since.map { text -> StreamPosition in
            guard let position = StreamPosition(text) else {
                throw Terminal.fail("--since takes EPOCH:OFFSET as printed, e.g. 3f9a0c1b2d4e5f60:41, not \(text)")
            }
            return position
        }
        if let count, count <= 0 { throw Terminal.fail("--count must be positive") }
        let client = try options.client(for: url)
        let subscriptions = try names.map { try client.subscribe($0, since: start) }
        let printed = Counter()
        let outcome: (any Error)? = await withTaskGroup(of: (any Error)?.self) { group in
            group.addTask {
                do { try await client.run() } catch { return error }
                return nil
            }
            for subscription in subscriptions {
                group.addTask {
                    do {
                        for try await event in subscription {
                            print(event)
                            if case .publication = event, let count, printed.increment() >= count { client.close() }
                        }
                    } catch {
                        return error
                    }
                    return nil
                }
            }
            var firstError: (any Error)?
            for await result in group where firstError == nil { firstError = result }
            return firstError
        }
        if let count, printed.value >= count { return }
        if let outcome { throw ChannelConnectionOptions.failure(outcome, url: url) }
    }

    /// Prints `event` as one line: a publication on stdout, a gap on stderr (stdout with --json).
    private func print(_ event: SubscriptionEvent) {
        switch event {
        case .publication(let publication):
            if json {
                Terminal.say(ChannelLine.json(publication))
            } else {
                Terminal.say("\(publication.channel) \(publication.position) \(ChannelLine.text(publication.message))")
            }
        case .gap(let gap):
            if json { Terminal.say(ChannelLine.json(gap)) } else { Terminal.note(gap.description) }
        }
    }
}

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish each line of stdin (or a file) to a channel, and exit once every one is acknowledged.",
        discussion: """
            Each line read from stdin is published as a text message to the channel, in order; \
            with --file the file's contents go as one message (text if it is UTF-8, else binary). \
            Every publish carries an id: when the connection is lost before the server's \
            acknowledgement it is sent again after reconnecting, and the server stores it once. \
            Prints the position of each message (EPOCH:OFFSET) on stdout, or one JSON object per \
            message with --json, and exits 0 once every message was acknowledged; a refusal (a \
            message over the server's limit, an invalid channel) is one line on stderr and exit 1.

            Examples:
              echo hello | holdfast publish ws://127.0.0.1:8080/ room
              tail -f app.log | holdfast publish ws://127.0.0.1:8080/ logs
              holdfast publish ws://127.0.0.1:8080/ reports --file report.pdf
            """
    )

    @Argument(help: "ws:// or wss:// URL of the channels server.")
    var url: String

    @Argument(help: "The channel to publish to.")
    var channel: String

    @Option(help: "Publish this file's contents as one message instead of stdin's lines.")
    var file: String?

    @Flag(help: "Print one JSON object per acknowledged message.")
    var json = false

    @OptionGroup var options: ChannelConnectionOptions

    func run() async throws {
        guard let name = try ChannelConnectionOptions.channelNames([channel]).first else { return }
        let payload = try file.map { path -> WebSocketMessage in
            guard let data = FileManager.default.contents(atPath: path) else { throw Terminal.fail("cannot read \(path)") }
            if let text = String(data: data, encoding: .utf8) { return .text(text) }
            return .binary(Array(data))
        }
        let client = try options.client(for: url)
        let outcome: Result<Int, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await client.run() }
            defer { group.cancelAll() }
            do {
                var published = 0
                let messages: AnySequence<WebSocketMessage> = payload.map { AnySequence([$0]) }
                    ?? AnySequence(StandardInputLines().lazy.map { WebSocketMessage.text($0) })
                for message in messages {
                    let ack = try await client.publish(message, to: name)
                    Terminal.say(json ? ChannelLine.json(ack) : "\(ack.channel) \(ack.position)\(ack.duplicate ? " (stored before)" : "")")
                    published += 1
                }
                client.close()
                return .success(published)
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .success(let published): Terminal.note("published \(published) message(s) to \(name), every one acknowledged")
        case .failure(let error): throw ChannelConnectionOptions.failure(error, url: url)
        }
    }
}

/// The lines of standard input, read as they come.
private struct StandardInputLines: Sequence, IteratorProtocol {
    mutating func next() -> String? { readLine(strippingNewline: true) }
}

/// A count shared by the tasks that print.
private final class Counter: Sendable {
    private let count = NIOLockedValueBox(0)
    var value: Int { count.withLockedValue { $0 } }
    /// Adds one and returns the new count.
    func increment() -> Int { count.withLockedValue { $0 += 1; return $0 } }
}

/// How the channel commands print what they receive.
enum ChannelLine {
    /// A message as one line of text: text as it is (line feeds escaped), binary as its size and base64.
    static func text(_ message: WebSocketMessage) -> String {
        if let text = message.text { return text.escapingLineBreaks }
        return "binary \(message.data.readableBytes) bytes " + Data(message.data.readableBytesView).base64EncodedString()
    }

    static func json(_ publication: ChannelPublication) -> String {
        var object: [String: String] = ["channel": publication.channel.value, "epoch": publication.position.epoch]
        if let text = publication.message.text {
            object["kind"] = "text"
            object["text"] = text
        } else {
            object["kind"] = "binary"
            object["base64"] = Data(publication.message.data.readableBytesView).base64EncodedString()
        }
        return encode(object, numbers: ["offset": publication.offset])
    }

    static func json(_ gap: ChannelGap) -> String {
        encode(["type": "gap", "channel": gap.channel.value, "lastEpoch": gap.lastDelivered.epoch, "epoch": gap.resumesAt.epoch],
               numbers: ["lastOffset": gap.lastDelivered.offset, "resumesAt": gap.resumesAt.offset])
    }

    static func json(_ ack: ChannelPublishAck) -> String {
        var object = ["channel": ack.channel.value, "epoch": ack.position.epoch]
        if let id = ack.id { object["id"] = id }
        return encode(object, numbers: ["offset": ack.position.offset], flags: ["duplicate": ack.duplicate])
    }

    private static func encode(_ strings: [String: String], numbers: [String: UInt64], flags: [String: Bool] = [:]) -> String {
        var object: [String: Any] = strings
        for (key, value) in numbers { object[key] = value }
        for (key, value) in flags { object[key] = value }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension String {
    /// The string with line feeds and carriage returns written as `\n` and `\r`, so a message
    /// stays on its line.
    fileprivate var escapingLineBreaks: String {
        replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
    }
}
