import Foundation
import NIOConcurrencyHelpers

/// A throw-away nginx from Debian's packages in front of `holdfast serve` nodes: the cluster's
/// configuration (`scripts/nginx-cluster.conf.template`, which `scripts/cluster.sh` uses too)
/// filled in for a temporary folder (pid file, error log, temp paths), a free loopback port and
/// the given nodes as one upstream. Runs in the foreground (`daemon off;`), so the PID is the
/// master's; stopped by that PID, and the folder is removed.
final class NginxServer: ThrowAwayServer {
    /// The loopback port it listens on.
    let port: Int
    /// The ports of the nodes it passes connections to, in the upstream's order.
    let upstreams: [Int]
    private let folder: URL
    private let process = NIOLockedValueBox<Process?>(nil)

    /// nginx did not start: its output and error log.
    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    private init(folder: URL, port: Int, upstreams: [Int]) {
        self.folder = folder
        self.port = port
        self.upstreams = upstreams
    }

    /// `ws://127.0.0.1:PORT` and `path`.
    func url(_ path: String = "/") -> String {
        "ws://127.0.0.1:\(port)\(path)"
    }

    /// What nginx wrote to its error log so far (for a failure's message).
    var errorLog: String {
        (try? String(contentsOf: folder.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
    }

    /// Starts nginx in front of `upstreams` for the duration of `body`, then stops it and
    /// removes its folder.
    static func with<Result: Sendable>(upstreams: [Int], _ body: (NginxServer) async throws -> Result) async throws -> Result {
        try await start(upstreams: upstreams).stopping(after: body)
    }

    /// Writes the configuration into a new temporary folder and starts nginx on a free port
    /// (another port if the first is taken meanwhile); returns once it listens.
    static func start(upstreams: [Int]) async throws -> NginxServer {
        precondition(!upstreams.isEmpty, "nginx needs at least one node")
        let nginx = try await DebianPackages.executable(["/usr/sbin/nginx"], package: "nginx")
        var lastError: (any Error)?
        for _ in 0..<5 {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-nginx-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let server = NginxServer(folder: folder, port: try freeLoopbackPort(), upstreams: upstreams)
            do {
                try await server.launch(nginx)
                return server
            } catch {
                // Another process may have taken the port first: try another.
                lastError = error
                await server.stop()
            }
        }
        throw lastError ?? Failed(description: "nginx did not start")
    }

    /// The cluster's configuration with its placeholders filled in.
    static func configuration(folder: String, port: Int, upstreams: [Int]) throws -> String {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let template = try String(contentsOf: packageRoot.appendingPathComponent("scripts/nginx-cluster.conf.template"),
                                  encoding: .utf8)
        let servers = upstreams.map { "        server 127.0.0.1:\($0) max_fails=0;" }.joined(separator: "\n")
        return template.replacingOccurrences(of: "{{FOLDER}}", with: folder)
            .replacingOccurrences(of: "{{PORT}}", with: String(port))
            .replacingOccurrences(of: "{{UPSTREAMS}}", with: servers)
    }

    private func launch(_ nginx: URL) async throws {
        let configuration = folder.appendingPathComponent("nginx.conf")
        try Self.configuration(folder: folder.path, port: port, upstreams: upstreams)
            .write(to: configuration, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = nginx
        // -e: the error log before the configuration is read (else Debian's /var/log/nginx).
        process.arguments = ["-p", folder.path, "-e", folder.appendingPathComponent("error.log").path,
                             "-c", configuration.path]
        let output = folder.appendingPathComponent("output.log")
        self.process.withLockedValue { $0 = process }
        // nginx writes its pid file once its listening socket is bound; a taken port makes it
        // exit instead (after its own retries, about 2.5 s).
        let pidFile = folder.appendingPathComponent("nginx.pid")
        if try await process.run(loggingTo: output, until: {
            let written = (try? String(contentsOf: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            return written == String(process.processIdentifier)
        }) { return }
        let printed = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        throw Failed(description: "nginx did not start on \(port): \(printed.suffix(500)) \(errorLog.suffix(1000))")
    }

    /// Stops nginx by its PID (SIGTERM: a fast shutdown that closes open connections), waiting
    /// at most 10 s, then SIGKILL for the master and its workers; removes the folder.
    func stop() async {
        let running = process.withLockedValue { process -> Process? in
            defer { process = nil }
            return process
        }
        if let process = running, process.isRunning {
            let pid = process.processIdentifier
            kill(pid, SIGTERM)
            for _ in 0..<200 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning {
                // A killed master leaves its workers behind: they go first.
                for worker in Self.children(of: pid) { kill(worker, SIGKILL) }
                kill(pid, SIGKILL)
                process.waitUntilExit()
            }
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// The processes whose parent is `pid`, from `/proc`.
    private static func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> pid_t? in
            guard let child = pid_t(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            // After the command name in parentheses: the state, then the parent's PID.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == pid ? child : nil
        }
    }
}
