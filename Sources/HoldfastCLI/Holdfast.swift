import ArgumentParser

@main
struct HoldfastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "holdfast",
        abstract: "A WebSocket server and client that get the end of a connection right.",
        discussion: """
            Examples:
              holdfast serve --port 9001                  # echo on ws://127.0.0.1:9001
              holdfast connect ws://127.0.0.1:9001/chat   # type lines, see replies
              holdfast serve --mode files --files-dir in  # receive transfers
              holdfast send ws://127.0.0.1:8080/ big.iso  # chunked, resumable
              holdfast serve --mode channels --history-dir state
              holdfast subscribe ws://127.0.0.1:8080/ room  # resumes by offset
              echo hi | holdfast publish ws://127.0.0.1:8080/ room
            """,
        subcommands: [Serve.self, Connect.self, Send.self, Subscribe.self, Publish.self, Explain.self, Compare.self, Probe.self]
    )

    /// Runs the command; a mistake on the command line (an unknown option, a bad value) is one
    /// line on stderr, `holdfast: error: …`, and exit status 64, instead of the error followed by
    /// the usage. `--help` and `--version` print as usual.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            // Help, and errors that were reported already (an exit code alone), keep
            // ArgumentParser's handling.
            let code = exitCode(for: error)
            let message = message(for: error)
            guard code != .success, !message.isEmpty else { exit(withError: error) }
            Terminal.note("holdfast: error: \(message)")
            exit(withError: ExitCode(code.rawValue))
        }
    }
}
