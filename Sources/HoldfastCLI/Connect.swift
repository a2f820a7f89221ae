import ArgumentParser
import Foundation
import Holdfast

struct Connect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to a WebSocket server: stdin lines out, messages in.",
        discussion: """
            Each line read from stdin is sent as a text message; each message received is \
            printed on stdout as one line (binary as a length). Connection events and close \
            codes, with their names, go to stderr.

            By default the client reconnects after 1001, 1006, 1011-1014, HTTP 5xx or a network \
            failure, with exponential backoff and full jitter; lines typed meanwhile wait and go \
            out in order once connected. When stdin ends, what is queued is sent, the connection \
            closes with 1000 and the tool exits 0; it exits 1 when the server ends the \
            connection in a way a retry cannot fix. --echo never reconnects.

            \(ClientConnectionOptions.discussion)

            Examples:
              holdfast connect ws://127.0.0.1:8080/
              holdfast connect wss://localhost:8443/ --ca ca.pem
              holdfast connect wss://echo.example.com/ \\
                --proxy http://user:secret@proxy.example:3128
              holdfast connect ws://127.0.0.1:8080/ --no-reconnect --fragment-size 16384
              holdfast connect 'ws://[::1]:9001/runCase?case=1&agent=holdfast' --echo
            """
    )

    @Argument(help: "ws:// or wss:// URL to connect to.")
    var url: String

    @OptionGroup(title: "TLS and proxy")
    var connection: ClientConnectionOptions

    @Flag(help: "Echo every received message back (until the server closes) instead of reading stdin.")
    var echo = false

    @Flag(name: .customLong("no-input"), help: "Do not read stdin: print what arrives until the server closes.")
    var noInput = false

    @Flag(name: .customLong("no-reconnect"), help: "End when the connection ends instead of reconnecting.")
    var noReconnect = false

    @Option(name: .customLong("max-message-size"), help: "Largest message accepted, in bytes.")
    var maxMessageSize = WebSocketConfiguration.defaultMaxMessageSize

    @Option(name: .customLong("max-frame-size"), help: "Largest frame accepted, in bytes (default: the message limit).")
    var maxFrameSize: Int?

    @Option(name: .customLong("fragment-size"),
            help: "Send messages longer than this as fragments of this size (the server's announced frame limit is honoured anyway).")
    var fragmentSize: Int?

    @Option(name: .customLong("subprotocol"), help: "A subprotocol to offer (repeatable).")
    var subprotocols: [String] = []

    @Flag(name: .customLong("no-compression"), help: "Do not offer permessage-deflate (offered by default).")
    var noCompression = false

    func run() async throws {
        let parsedURL = try ConnectionFailure.checkedURL(url)
        if let fragmentSize, fragmentSize <= 0 { throw Terminal.fail("--fragment-size must be positive") }
        var configuration = WebSocketClientConfiguration(
            webSocket: WebSocketConfiguration(maxMessageSize: maxMessageSize, maxFrameSize: maxFrameSize,
                                              fragmentSize: fragmentSize,
                                              compression: noCompression ? nil : PerMessageDeflateConfiguration()),
            subprotocols: subprotocols)
        try connection.apply(to: &configuration, for: parsedURL)
        if !echo && !noInput && !noReconnect {
            try await reconnecting(configuration)
            return
        }
        let outcome: CloseOutcome
        do {
            outcome = try await WebSocketClient.connect(to: url, configuration: configuration) { webSocket in
                if echo {
                    for await message in webSocket.messages {
                        try? await webSocket.send(message)
                    }
                } else if noInput {
                    for await message in webSocket.messages { Self.show(message) }
                } else {
                    try await interact(webSocket)
                }
                return await webSocket.closeOutcome
            }
        } catch {
            throw Terminal.fail(ConnectionFailure.message(connectingTo: url, through: configuration.proxy, error))
        }
        if !echo {
            Terminal.note("closed: \(outcome.explanation())")
        }
    }

    /// The default mode: a reconnecting client, stdin lines out, messages in, events on stderr.
    private func reconnecting(_ client: WebSocketClientConfiguration) async throws {
        let webSocket = ReconnectingWebSocket(url: url, configuration: .init(client: client))
        let lines = Self.stdinLines()
        let result: Result<Void, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in webSocket.events { Terminal.note(Self.describe(event)) }
            }
            group.addTask {
                for await message in webSocket.messages { Self.show(message) }
            }
            group.addTask {
                for await line in lines {
                    do {
                        try await webSocket.send(text: line)
                    } catch {
                        Terminal.note("holdfast: not sent: \(error)")
                    }
                }
                webSocket.close(code: .normalClosure)
            }
            let result: Result<Void, any Error>
            do {
                try await webSocket.run()
                result = .success(())
            } catch {
                result = .failure(error)
            }
            group.cancelAll()
            return result
        }
        if case .failure(let error) = result { throw Terminal.fail(Terminal.explain(error)) }
    }

    private static func describe(_ event: ReconnectEvent) -> String {
        switch event {
        case .disconnected(.closed(let outcome)), .gaveUp(.closed(let outcome)):
            let prefix = if case .gaveUp = event { "gave up: " } else { "disconnected: " }
            return prefix + outcome.explanation()
        default:
            return "\(event)"
        }
    }

    /// Lines from stdin. Reading blocks its thread and cannot be cancelled, so the reader runs on
    /// a thread of its own that ends with the process rather than in a task that must be awaited.
    private static func stdinLines() -> AsyncStream<String> {
        AsyncStream<String> { continuation in
            let reader = Thread {
                while let line = readLine() { continuation.yield(line) }
                continuation.finish()
            }
            reader.start()
        }
    }

    /// Prints what arrives while stdin lines are sent; returns when the connection has ended.
    private func interact(_ webSocket: WebSocket) async throws {
        let lines = Self.stdinLines()
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await line in lines {
                    try await webSocket.send(text: line)
                }
                await webSocket.close(code: .normalClosure)
            }
            for await message in webSocket.messages { Self.show(message) }
            group.cancelAll()
        }
    }

    private static func show(_ message: WebSocketMessage) {
        switch message.kind {
        case .text: Terminal.say(message.text ?? "")
        case .binary: Terminal.say("<binary \(message.data.readableBytes) bytes>")
        }
    }
}
