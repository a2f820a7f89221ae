import Foundation
import HoldfastTestSupport
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// `holdfast serve` running as the built tool in a subprocess, on a free port.
final class ServeProcess: Sendable {
    /// The port it listens on.
    let port: Int
    private let process: Process

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    /// Whether it serves `wss://` (it was started with `--tls-cert` and `--tls-key`).
    let isSecure: Bool

    private init(process: Process, port: Int, isSecure: Bool) {
        self.process = process
        self.port = port
        self.isSecure = isSecure
    }

    /// Runs `holdfast serve --port 0` with `arguments` for the duration of `body`, then stops it.
    /// With `fileDescriptorLimit`, the server runs under that `ulimit -n` (started through
    /// `/bin/sh`, which `exec`s it, so the PID is the server's).
    static func with<Result: Sendable>(_ arguments: [String], fileDescriptorLimit: Int? = nil,
                                       _ body: (ServeProcess) async throws -> Result) async throws -> Result
    {
        let server = try await start(arguments, fileDescriptorLimit: fileDescriptorLimit)
        defer { server.stop(signal: SIGTERM) }
        return try await body(server)
    }

    /// Starts `holdfast serve` with `arguments` on `port` (0: a free one) and returns once it
    /// listens; the caller stops it (``stop(signal:)``).
    static func start(_ arguments: [String], port: Int = 0, fileDescriptorLimit: Int? = nil) async throws -> ServeProcess {
        let process = Process()
        let serve = ["serve", "--port", String(port)] + arguments
        if let fileDescriptorLimit {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -n \(fileDescriptorLimit) && exec \"$0\" \"$@\"",
                                 try HoldfastTool.executable().path] + serve
        } else {
            process.executableURL = try HoldfastTool.executable()
            process.arguments = serve
        }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        let lines = stdout.lines()
        try process.run()
        do {
            let line = try await first(of: lines, "`holdfast serve` to print its address")
            let isSecure = line.hasPrefix("listening on wss://")
            guard let port = line.split(separator: ":").last.flatMap({ Int($0) }),
                  line.hasPrefix("listening on ws://") || isSecure
            else {
                throw Failed(description: "unexpected first line from holdfast serve: \(line)")
            }
            return ServeProcess(process: process, port: port, isSecure: isSecure)
        } catch {
            process.terminate()
            process.waitUntilExit()
            let errors = String(decoding: stderr.fileHandleForReading.availableData, as: UTF8.self)
            throw Failed(description: "holdfast serve did not start: \(error) \(errors)")
        }
    }

    /// Sends `signal` (SIGTERM: a graceful shutdown; SIGKILL: a crash) and waits for the process
    /// to end; returns its exit status.
    @discardableResult
    func stop(signal: Int32) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The CPU time the server process has used so far (user and system), from `/proc/PID/stat`.
    func cpuTime() throws -> Duration {
        let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
        // The fields after the command name in parentheses; utime and stime are the 14th and 15th.
        guard let close = stat.lastIndex(of: ")") else { throw Failed(description: "unreadable /proc stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else {
            throw Failed(description: "unreadable /proc stat: \(stat)")
        }
        let ticksPerSecond = sysconf(Int32(_SC_CLK_TCK))
        return .milliseconds((user + system) * 1000 / ticksPerSecond)
    }

    /// The server process's resident memory now, from `/proc/PID/status` (`VmRSS`), in bytes.
    func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
            throw Failed(description: "no VmRSS in /proc/\(process.processIdentifier)/status")
        }
        return kilobytes * 1024
    }

    /// The server's URL for `path`, at `host` (default its address; `localhost` for a name that
    /// TLS verifies).
    func url(_ path: String = "/", host: String = "127.0.0.1") -> String {
        "\(isSecure ? "wss" : "ws")://\(host):\(port)\(path)"
    }

    /// An HTTP response as received.
    struct HTTPResponse {
        let status: Int
        let headers: [(String, String)]
        let body: String

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// Sends a plain `GET` for `target` and reads the whole response (the server closes after it).
    func get(_ target: String) async throws -> HTTPResponse {
        let port = self.port
        let raw = try await withTimeout("the response to GET \(target)") {
            try await RawConnection.with(port: port) { connection in
                try await connection.write("GET \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
                let head = try await connection.readHTTPHead()
                var rest = try await connection.readToEnd()
                return head + (rest.readString(length: rest.readableBytes) ?? "")
            }
        }
        let parts = raw.components(separatedBy: "\r\n\r\n")
        let headLines = parts[0].components(separatedBy: "\r\n")
        let statusLine = headLines[0].split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw Failed(description: "not an HTTP response: \(headLines[0])")
        }
        let headers = headLines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return HTTPResponse(status: status, headers: headers, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }
}
