import Holdfast
import NIOCore
import Testing

/// `holdfast serve --api`: the same echo through the event-loop API and through the async API.
@Suite("holdfast serve --api, and option mistakes", .timeLimit(.minutes(1)))
struct ServeAPITests {
    @Test("text, binary and a 1 MiB message come back unchanged, whichever API serves them",
          arguments: [["--api", "event-loop"], ["--api", "tasks"], []])
    func echo(arguments: [String]) async throws {
        let large = ByteBuffer(bytes: (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try await ServeProcess.with(arguments) { server in
            try await connect(server.url("/echo")) { client in
                var echoes = client.messages.makeAsyncIterator()
                try await client.send(text: "héllo")
                #expect(await echoes.next() == .text("héllo"))
                try await client.send(binary: ByteBuffer(bytes: [0, 1, 2, 255]))
                #expect(await echoes.next() == .binary(ByteBuffer(bytes: [0, 1, 2, 255])))
                try await client.send(binary: large)
                #expect(await echoes.next() == .binary(large))
            }
        }
    }

    @Test("an option mistake is one line on stderr, not the usage, and exit 64",
          arguments: [(["serve", "--max-connections", "0"], "--max-connections must be positive"),
                      (["serve", "--idle-timeout", "0"], "--idle-timeout must be positive"),
                      (["serve", "--ping-interval", "0"], "--ping-interval must be positive"),
                      (["serve", "--handshake-timeout=-1"], "--handshake-timeout must not be negative"),
                      (["serve", "--bogus"], "Unknown option '--bogus'")])
    func optionMistakes(arguments: [String], message: String) async throws {
        let run = try await HoldfastTool.run(arguments)
        #expect(run.status == 64)
        #expect(run.stderr == "holdfast: error: \(message)\n")
    }

    @Test("--api tasks with another mode is one line on stderr and exit 1")
    func tasksNeedEcho() async throws {
        let run = try await HoldfastTool.run(["serve", "--api", "tasks", "--mode", "broadcast"])
        #expect(run.status == 1)
        #expect(run.stderr == "holdfast: error: --api tasks is for --mode echo (broadcast runs on the event loop, files in tasks)\n")
    }
}
