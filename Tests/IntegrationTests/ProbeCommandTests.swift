import Foundation
import Holdfast
import HoldfastTestSupport
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `holdfast probe`, run as the built tool in a subprocess against a Python `websockets` echo
/// server and against Holdfast servers in this process.
@Suite("holdfast probe — what a server does, measured", .timeLimit(.minutes(2)))
struct ProbeCommandTests {
    /// Whether `measured` is the limit `limit` to within 1 %, from below: the probe reports the
    /// largest size it saw accepted.
    static func isWithinOnePercent(_ measured: Int?, of limit: Int) -> Bool {
        guard let measured else { return false }
        return measured <= limit && limit - measured <= limit / 100
    }

    @Test("a websockets echo server with max_size 100000: echo, no subprotocol or limits, the limit to 1 %")
    func pythonServer() async throws {
        let limit = 100_000
        try await PythonEchoServer.with(maxSize: limit) { port in
            // A generous answer timeout: only a server that never answers waits for it, and a busy
            // machine must not turn a slow echo into "does not echo".
            let run = try await HoldfastTool.run(["probe", "ws://127.0.0.1:\(port)/", "--json", "--timeout", "30"])
            #expect(run.status == 0, "\(run.stderr)")
            let report = try run.jsonObject()
            let measured = report["maxMessageSize"] as? Int
            #expect(Self.isWithinOnePercent(measured, of: limit), "maxMessageSize \(String(describing: measured))")
            let refused = try #require(report["smallestRefusedSize"] as? Int)
            #expect(refused > limit && refused - (measured ?? 0) <= limit / 100)
            let refusal = try #require(report["refusal"] as? [String: Any])
            #expect(refusal["code"] as? Int == 1009)
            #expect(refusal["name"] as? String == "messageTooBig")
            #expect(report["echoes"] as? Bool == true)
            #expect(report["subprotocol"] is NSNull)
            // websockets compresses by default and answers the probe's offer with its own windows.
            let extensions = try #require(report["extensions"] as? [String])
            #expect(extensions.count == 1 && extensions[0].hasPrefix("permessage-deflate"), "\(extensions)")
            #expect(report["announcedLimits"] is NSNull)
            #expect(report["roundTripMethod"] as? String == "ping")
            let roundTrip = try #require(report["pingRoundTripMilliseconds"] as? Double)
            #expect(roundTrip > 0 && roundTrip < 1000)
            // Doubling from 1 KiB, then halving: a handful of connections, not hundreds.
            let connections = try #require(report["connections"] as? Int)
            #expect((10...25).contains(connections), "\(connections) connections")
        }
    }

    @Test("a Holdfast echo server with a 300000-byte limit: the announced limit is tested, not trusted")
    func holdfastServer() async throws {
        let limit = 300_000
        let configuration = WebSocketServerConfiguration(
            webSocket: testWebSocketConfiguration(maxMessageSize: limit), subprotocols: ["probe.v2"])
        try await withServer(configuration: configuration, handler: echo) { port in
            let run = try await HoldfastTool.run(["probe", "ws://127.0.0.1:\(port)/", "--json", "--timeout", "30",
                                              "--subprotocol", "probe.v1", "--subprotocol", "probe.v2"])
            #expect(run.status == 0, "\(run.stderr)")
            let report = try run.jsonObject()
            let measured = report["maxMessageSize"] as? Int
            #expect(Self.isWithinOnePercent(measured, of: limit), "maxMessageSize \(String(describing: measured))")
            // The sizes over the announced limit were sent, and the server itself refused them.
            let refused = try #require(report["smallestRefusedSize"] as? Int)
            #expect(refused > limit)
            let refusal = try #require(report["refusal"] as? [String: Any])
            #expect(refusal["code"] as? Int == 1009)
            #expect((refusal["reason"] as? String)?.contains("\(limit)") == true, "\(refusal)")
            #expect(report["echoes"] as? Bool == true)
            #expect(report["subprotocol"] as? String == "probe.v2")
            let announced = try #require(report["announcedLimits"] as? [String: Any])
            #expect(announced["maxMessageSize"] as? Int == limit)
            #expect(announced["maxFrameSize"] as? Int == limit)
        }
    }

    @Test("a server that does not echo: the limit from how it answers a close; the round trip by ping")
    func silentServer() async throws {
        let limit = 50_000
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: limit))
        try await withServer(configuration: configuration, handler: { webSocket in
            for await _ in webSocket.messages {}
        }) { port in
            let run = try await HoldfastTool.run(["probe", "ws://127.0.0.1:\(port)/", "--json", "--timeout", "1"])
            #expect(run.status == 0, "\(run.stderr)")
            let report = try run.jsonObject()
            #expect(report["echoes"] as? Bool == false)
            let roundTrip = try #require(report["pingRoundTripMilliseconds"] as? Double, "pings are answered by any server")
            #expect(roundTrip > 0 && roundTrip < 1000)
            let measured = report["maxMessageSize"] as? Int
            #expect(Self.isWithinOnePercent(measured, of: limit), "maxMessageSize \(String(describing: measured))")
            #expect((report["refusal"] as? [String: Any])?["code"] as? Int == 1009)
        }
    }

    @Test("nothing refused up to --probe-max: maxMessageSize is null; the summary says so")
    func neverRefused() async throws {
        let configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration(maxMessageSize: 1 << 20))
        try await withServer(configuration: configuration, handler: echo) { port in
            let url = "ws://127.0.0.1:\(port)/"
            let json = try await HoldfastTool.run(["probe", url, "--json", "--probe-max", "200000", "--timeout", "30"])
            #expect(json.status == 0, "\(json.stderr)")
            let report = try json.jsonObject()
            #expect(report["maxMessageSize"] is NSNull)
            #expect(report["smallestRefusedSize"] is NSNull)
            #expect(report["refusal"] is NSNull)
            #expect(report["probeMax"] as? Int == 200_000)

            let text = try await HoldfastTool.run(["probe", url, "--probe-max", "200000", "--timeout", "30"])
            #expect(text.status == 0, "\(text.stderr)")
            #expect(text.stdout.hasPrefix("holdfast probe \(url)\n"), "\(text.stdout)")
            for line in ["echoes", "yes", "announced limits", "message 1048576 bytes",
                         "nothing was refused up to 200000 bytes", "ping round trip", "median of 5 pings"] {
                #expect(text.stdout.contains(line), "\(line) in \(text.stdout)")
            }
        }
    }

    @Test("an unreachable server (ws or wss), a bad URL: one line naming the URL and the cause, exit 1",
          arguments: [
              ("ws://127.0.0.1:1/", "holdfast: error: cannot connect to ws://127.0.0.1:1/: connection refused"),
              ("http://127.0.0.1:1/", "holdfast: error: 'http://127.0.0.1:1/' is not a ws:// or wss:// URL"),
              ("ws://127.0.0.1:99999/", "holdfast: error: invalid URL 'ws://127.0.0.1:99999/': '99999' is not a port number (1-65535)"),
              ("wss://127.0.0.1:1/", "holdfast: error: cannot connect to wss://127.0.0.1:1/: connection refused"),
          ])
    func errors(url: String, line: String) async throws {
        let run = try await HoldfastTool.run(["probe", url])
        #expect(run.status == 1)
        #expect(run.stdout.isEmpty, "\(run.stdout)")
        #expect(run.stderr == line + "\n")
    }

    @Test("--help explains the measures and shows examples")
    func help() async throws {
        let run = try await HoldfastTool.run(["probe", "--help"])
        #expect(run.status == 0)
        for text in ["Examples:", "holdfast probe ws://", "--probe-max", "--subprotocol", "--json", "1 %"] {
            #expect(run.stdout.contains(text), "\(text)")
        }
    }
}

/// `Python/echo_server.py`: a `websockets` echo server with a message limit, in a subprocess.
enum PythonEchoServer {
    /// Runs `body` with the port of a server whose `max_size` is `maxSize`, and kills the server
    /// by its PID afterwards, whatever happened. With `tls` (PEM certificate and key files) it
    /// serves `wss://`.
    static func with<Result>(maxSize: Int, tls: (certificate: String, key: String)? = nil,
                             _ body: (_ port: Int) async throws -> Result) async throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try await PythonEnvironment.python())
        process.arguments = ["-u", TestPaths.python.appendingPathComponent("echo_server.py").path, String(maxSize)]
            + (tls.map { [$0.certificate, $0.key] } ?? [])
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        defer {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            try? input.fileHandleForWriting.close()
        }
        let stderr = NIOLockedValueBox("")
        let errorHandle = errors.fileHandleForReading
        Thread {
            while case let data = errorHandle.availableData, !data.isEmpty {
                stderr.withLockedValue { $0 += String(decoding: data, as: UTF8.self) }
            }
        }.start()
        let (lines, sink) = AsyncStream.makeStream(of: String.self)
        let outputHandle = output.fileHandleForReading
        Thread {
            var buffer = Data()
            while case let data = outputHandle.availableData, !data.isEmpty {
                buffer.append(data)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    sink.yield(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
            }
            sink.finish()
        }.start()
        do {
            let line = try await first(of: lines, "echo_server.py to listen")
            let port = try #require(try JSON(parsing: line)["port"]?.int, "\(line)")
            return try await body(port)
        } catch {
            throw SubprocessError(description: "\(error)\necho_server.py stderr:\n\(stderr.withLockedValue { $0 })")
        }
    }
}
