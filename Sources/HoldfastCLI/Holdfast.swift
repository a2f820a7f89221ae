import ArgumentParser

@main
struct HoldfastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holdfast",
        abstract: "A WebSocket server and client that get the end of a connection right.",
        discussion: """
            Examples:
              holdfast serve --port 9001                    # echo server on ws://127.0.0.1:9001
              holdfast connect ws://127.0.0.1:9001/chat     # type lines, see replies
              holdfast serve --mode files --files-dir inbox # receive transfers into ./inbox
              holdfast send ws://127.0.0.1:8080/ big.iso    # chunked, verified, resumable
            """,
        subcommands: [Serve.self, Connect.self, Send.self, Explain.self, Compare.self, Probe.self]
    )
}
