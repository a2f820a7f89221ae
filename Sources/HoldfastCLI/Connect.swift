import ArgumentParser
import Foundation
import Holdfast

struct Connect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to a WebSocket server: stdin lines out, messages in.",
        discussion: """
            Each line read from stdin is sent as a text message; each message received is
            printed as one line (binary as a length). The close code is printed with its name
            when the connection ends.

            Examples:
              holdfast connect ws://127.0.0.1:8080/
              holdfast connect 'ws://[::1]:9001/runCase?case=1&agent=holdfast' --echo
            """
    )

    @Argument(help: "ws:// URL to connect to.")
    var url: String

    @Flag(help: "Echo every received message back (until the server closes) instead of reading stdin.")
    var echo = false

    @Flag(name: .customLong("no-input"), help: "Do not read stdin: print what arrives until the server closes.")
    var noInput = false

    @Option(name: .customLong("max-message-size"), help: "Largest message accepted, in bytes.")
    var maxMessageSize = WebSocketConfiguration.defaultMaxMessageSize

    @Option(name: .customLong("max-frame-size"), help: "Largest frame accepted, in bytes (default: the message limit).")
    var maxFrameSize: Int?

    @Option(name: .customLong("subprotocol"), help: "A subprotocol to offer (repeatable).")
    var subprotocols: [String] = []

    func run() async throws {
        do {
            _ = try WebSocketURL(url)
        } catch {
            throw Terminal.fail("\(error)")
        }
        let configuration = WebSocketClientConfiguration(
            webSocket: WebSocketConfiguration(maxMessageSize: maxMessageSize, maxFrameSize: maxFrameSize),
            subprotocols: subprotocols)
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
            throw Terminal.fail("\(error)")
        }
        if !echo {
            Terminal.note("closed: \(outcome)")
        }
    }

    /// Prints what arrives while stdin lines are sent; returns when the connection has ended.
    ///
    /// Reading stdin blocks its thread and cannot be cancelled, so the line reader runs on a
    /// thread of its own that ends with the process rather than inside a task that must be awaited.
    private func interact(_ webSocket: WebSocket) async throws {
        let lines = AsyncStream<String> { continuation in
            let reader = Thread {
                while let line = readLine() { continuation.yield(line) }
                continuation.finish()
            }
            reader.start()
        }
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
