import Holdfast
import Testing

/// `holdfast serve --mode broadcast`, the chat room, run as the built tool.
@Suite("holdfast serve --mode broadcast — every message to every other client", .timeLimit(.minutes(1)))
struct BroadcastTests {
    @Test("with three clients, a message from one reaches the two others and never its sender")
    func threeClients() async throws {
        try await ServeProcess.with(["--mode", "broadcast"]) { server in
            let url = server.url("/room")
            try await connect(url) { a in
                try await connect(url) { b in
                    try await connect(url) { c in
                        var fromA = a.messages.makeAsyncIterator()
                        var fromB = b.messages.makeAsyncIterator()
                        var fromC = c.messages.makeAsyncIterator()
                        // C speaks first: once A and B hear it, every member's arrival is complete.
                        try await c.send(text: "c is here")
                        #expect(await fromA.next() == .text("c is here"))
                        #expect(await fromB.next() == .text("c is here"))

                        try await a.send(text: "hello from a")
                        #expect(await fromB.next() == .text("hello from a"))
                        #expect(await fromC.next() == .text("hello from a"))

                        // B answers only after it heard A: had A been sent its own message, it
                        // would have reached A before this one.
                        try await b.send(.binary([1, 2, 3]))
                        #expect(await fromA.next() == .binary([1, 2, 3]))
                        #expect(await fromC.next() == .binary([1, 2, 3]))
                        // Each sender's next message is someone else's: C heard A after its own
                        // greeting, and A and B hear C now after their own messages.
                        try await c.send(text: "bye")
                        #expect(await fromA.next() == .text("bye"))
                        #expect(await fromB.next() == .text("bye"))
                    }
                }
            }
        }
    }

    @Test("--stream cannot broadcast: a one-line error and a non-zero exit")
    func streamRejected() async throws {
        let run = try await HoldfastTool.run(["serve", "--port", "0", "--stream", "--mode", "broadcast"])
        #expect(run.status != 0)
        let lines = run.stderr.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.count == 1, "\(run.stderr)")
        #expect(lines.first?.contains("--stream") == true, "\(run.stderr)")
        #expect(lines.first?.contains("broadcast") == true, "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }
}
