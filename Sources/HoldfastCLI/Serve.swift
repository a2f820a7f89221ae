import ArgumentParser
import Holdfast
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a WebSocket echo server.",
        discussion: """
            Every text or binary message is sent back with its type. Prints
            `listening on ws://HOST:PORT` once connections are accepted.

            Examples:
              holdfast serve                                   # ws://127.0.0.1:8080
              holdfast serve --port 0                          # any free port
              holdfast serve --host :: --port 9001 --max-message-size 16777216
            """
    )

    @Option(help: "Address to listen on (0.0.0.0 or :: for every interface).")
    var host = "127.0.0.1"

    @Option(help: "TCP port; 0 picks a free one.")
    var port = 8080

    @Option(name: .customLong("max-message-size"), help: "Largest message accepted, in bytes (bigger: close 1009).")
    var maxMessageSize = WebSocketConfiguration.defaultMaxMessageSize

    @Option(name: .customLong("max-frame-size"), help: "Largest frame accepted, in bytes (default: the message limit).")
    var maxFrameSize: Int?

    @Option(help: "Event-loop threads (default: one per core).")
    var threads: Int?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .warning

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        guard maxMessageSize > 0 else { throw ValidationError("--max-message-size must be positive") }
        if let maxFrameSize, maxFrameSize <= 0 { throw ValidationError("--max-frame-size must be positive") }
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive") }
    }

    func run() async throws {
        var logger = Logger(label: "holdfast.serve")
        logger.logLevel = logLevel
        let configuration = WebSocketServerConfiguration(
            host: host, port: port,
            webSocket: WebSocketConfiguration(maxMessageSize: maxMessageSize, maxFrameSize: maxFrameSize),
            threads: threads)
        let server = WebSocketServer(configuration: configuration, logger: logger) { webSocket in
            for await message in webSocket.messages {
                try await webSocket.send(message)
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let address = try await server.listeningAddress
            let shownHost = host.contains(":") ? "[\(host)]" : host
            Terminal.say("listening on ws://\(shownHost):\(address.port ?? port)")
            try await group.next()
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
