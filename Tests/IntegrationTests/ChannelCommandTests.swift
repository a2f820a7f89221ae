import Foundation
import HoldfastTestSupport
import Testing

/// `holdfast publish` and `holdfast subscribe` against `holdfast serve --mode channels`, run as
/// the built tool.
@Suite("holdfast subscribe and publish — every message once, across restarts", .serialized, .timeLimit(.minutes(2)))
struct ChannelCommandTests {
    @Test("publish prints each position and exits 0; subscribe --since prints them again as JSON")
    func publishThenReplay() async throws {
        try await ServeProcess.with(["--mode", "channels"]) { server in
            let url = server.url("/")
            let published = try await HoldfastTool.run(["publish", url, "room"], stdin: "hello\nworld\nline \"three\"\n")
            #expect(published.status == 0, "\(published.stderr)")
            let positions = published.stdout.split(separator: "\n").map(String.init)
            #expect(positions.count == 3)
            let epoch = try #require(positions.first?.split(separator: " ").last?.split(separator: ":").first.map(String.init))
            #expect(positions == (1...3).map { "room \(epoch):\($0)" })
            #expect(published.stderr == "published 3 message(s) to room, every one acknowledged\n")

            let replayed = try await HoldfastTool.run(["subscribe", url, "room", "--since", "\(epoch):0", "--json", "--count", "3"])
            #expect(replayed.status == 0, "\(replayed.stderr)")
            let lines = replayed.stdout.split(separator: "\n").map(String.init)
            #expect(lines == [
                #"{"channel":"room","epoch":"\#(epoch)","kind":"text","offset":1,"text":"hello"}"#,
                #"{"channel":"room","epoch":"\#(epoch)","kind":"text","offset":2,"text":"world"}"#,
                #"{"channel":"room","epoch":"\#(epoch)","kind":"text","offset":3,"text":"line \"three\""}"#,
            ])

            // The status page and its JSON count what happened.
            let status = try await server.get("/status.json")
            #expect(status.header("Content-Type") == "application/json; charset=utf-8")
            let figures = try #require(try JSONSerialization.jsonObject(with: Data(status.body.utf8)) as? [String: Any])
            let channels = try #require(figures["channels"] as? [String: Any])
            let statistics = try #require(channels["statistics"] as? [String: Any])
            #expect(statistics["published"] as? Int == 3)
            #expect(statistics["recoveries"] as? Int == 1)
            #expect(statistics["replayed"] as? Int == 3)
            #expect(statistics["recoveriesFailed"] as? Int == 0)
            let page = try await server.get("/")
            #expect(page.body.contains("<h2>Channels</h2>"))
            #expect(page.body.contains("History: in memory (lost on restart), 10000 messages per channel for 3600 s, at most 256.0 MiB (268435456 bytes) in all"))
        }
    }

    @Test("subscribe keeps printing across a graceful restart with --history-dir, each message once")
    func subscribeSurvivesRestart() async throws {
        try await withTemporaryDirectory { directory in
            let arguments = ["--mode", "channels", "--history-dir", directory]
            var server = try await ServeProcess.start(arguments)
            let port = server.port
            let url = server.url("/")
            async let subscribed = HoldfastTool.run(["subscribe", url, "news", "--count", "6"])
            let first = server
            try await withTimeout("the subscription") {
                while try await first.channelSubscriptions() < 1 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(try await HoldfastTool.run(["publish", url, "news"], stdin: "one\ntwo\nthree\n").status == 0)
            server.stop(signal: SIGTERM)
            server = try await ChannelRestartTests.restart(arguments, port: port)
            #expect(try await HoldfastTool.run(["publish", url, "news"], stdin: "four\nfive\nsix\n").status == 0)
            let run = try await subscribed
            server.stop(signal: SIGTERM)
            #expect(run.status == 0, "\(run.stderr)")
            let lines = run.stdout.split(separator: "\n")
            #expect(lines.map { $0.split(separator: " ").last ?? "" } == ["one", "two", "three", "four", "five", "six"])
            #expect(lines.map { $0.split(separator: ":").last?.split(separator: " ").first ?? "" } == ["1", "2", "3", "4", "5", "6"])
            #expect(!run.stderr.contains("gap"), "\(run.stderr)")
        }
    }

    @Test("mistakes get one line on stderr and a non-zero exit", arguments: [
        (["subscribe", "ws://127.0.0.1:9/"], "holdfast: error: Missing expected argument '<channels> ...'"),
        (["subscribe", "ws://127.0.0.1:9/", "room", "--since", "41"],
         "holdfast: error: --since takes EPOCH:OFFSET as printed, e.g. 3f9a0c1b2d4e5f60:41, not 41"),
        (["publish", "ws://127.0.0.1:9/", ""], "holdfast: error: channel \"\": a channel name may not be empty"),
        (["publish", "http://127.0.0.1:9/", "room"], "holdfast: error: 'http://127.0.0.1:9/' is not a ws:// or wss:// URL"),
        (["serve", "--history-dir", "/tmp/x"], "holdfast: error: --history-dir is for --mode channels"),
    ])
    func mistakes(arguments: [String], error: String) async throws {
        let run = try await HoldfastTool.run(arguments, stdin: "")
        #expect(run.status != 0)
        #expect(run.stderr == error + "\n")
        #expect(run.stdout.isEmpty)
    }

    @Test("a server that cannot be reached: publish gives up after --max-attempts with one line and exit 1")
    func unreachable() async throws {
        let run = try await HoldfastTool.run(["publish", "ws://127.0.0.1:9/", "room", "--max-attempts", "0"], stdin: "x\n")
        #expect(run.status == 1)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(run.stderr)")
        #expect(lines.first?.hasPrefix("holdfast: error: cannot reach ws://127.0.0.1:9/") == true, "\(run.stderr)")
    }
}
