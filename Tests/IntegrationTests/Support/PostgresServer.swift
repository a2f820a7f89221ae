import Foundation
import NIOConcurrencyHelpers
import Testing

/// A throw-away PostgreSQL server from Debian's packages: its own data folder in a temporary
/// folder, a free loopback port, trust authentication for the role `holdfast`, and the database
/// `holdfast`. PostgreSQL refuses to run as root, so under root it runs as the `postgres` user
/// (`setpriv`, which execs: the PID is the postmaster's). Stopped by its PID; the folder is removed.
final class PostgresServer: ThrowAwayServer {
    /// The port it listens on (the same across ``restart()``).
    let port: Int
    /// `postgres://holdfast@127.0.0.1:PORT/holdfast`.
    var url: String { "postgres://holdfast@127.0.0.1:\(port)/holdfast" }
    private let folder: URL
    private let binaries: URL
    private let process = NIOLockedValueBox<Process?>(nil)

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    private init(folder: URL, binaries: URL, port: Int) {
        self.folder = folder
        self.binaries = binaries
        self.port = port
    }

    /// The tests that run a PostgreSQL (with their nodes, clients, nginx) run one at a time.
    private static let oneAtATime = OneAtATime()

    /// Starts a server for the duration of `body`, then stops it and removes its folder. One
    /// such test runs at a time; the others wait for it.
    static func with<Result: Sendable>(_ body: (PostgresServer) async throws -> Result) async throws -> Result {
        await oneAtATime.acquire()
        do {
            let result = try await start().stopping(after: body)
            await oneAtATime.release()
            return result
        } catch {
            await oneAtATime.release()
            throw error
        }
    }

    /// Makes a new data folder and starts the server on a free port.
    static func start() async throws -> PostgresServer {
        let binaries = try await DebianPackages.postgresBinaries()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-pg-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try await asServerUser(["/bin/chown", "-R", "postgres:postgres", folder.path], rootOnly: true)
        let initdb = try await asServerUser([binaries.appendingPathComponent("initdb").path, "-D", folder.appendingPathComponent("data").path,
                                             "-U", "holdfast", "--auth=trust", "-E", "UTF8", "--no-sync"])
        guard initdb.status == 0 else {
            try? FileManager.default.removeItem(at: folder)
            throw Failed(description: "initdb failed: \(initdb.stderr)")
        }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let server = PostgresServer(folder: folder, binaries: binaries, port: try freeLoopbackPort())
            do {
                try await server.launch()
                let created = try await ProcessRun.run(binaries.appendingPathComponent("createdb"),
                                                       ["-h", "127.0.0.1", "-p", String(server.port), "-U", "holdfast", "holdfast"])
                guard created.status == 0 else { throw Failed(description: "createdb failed: \(created.stderr)") }
                return server
            } catch {
                // Another process may have taken the port first: try another.
                lastError = error
                await server.stopProcess()
            }
        }
        try? FileManager.default.removeItem(at: folder)
        throw lastError ?? Failed(description: "PostgreSQL did not start")
    }

    /// Stops the server (fast shutdown: open connections are ended) and starts it again on the
    /// same port with the same data.
    func restart() async throws {
        await stopProcess()
        try await launch()
    }

    /// Stops the server (fast shutdown), keeping its data for ``startAfterRestart()``.
    func stopForRestart() async {
        await stopProcess()
    }

    /// Starts the server again after ``stopForRestart()``, on the same port with the same data.
    func startAfterRestart() async throws {
        try await launch()
    }

    /// Stops the server and removes its folder.
    func stop() async {
        await stopProcess()
        try? FileManager.default.removeItem(at: folder)
    }

    /// Runs `sql` with `psql` and returns what it printed (unaligned, tuples only).
    func psql(_ sql: String) async throws -> String {
        let run = try await ProcessRun.run(URL(fileURLWithPath: "/usr/bin/psql"),
                                           ["-h", "127.0.0.1", "-p", String(port), "-U", "holdfast", "-d", "holdfast",
                                            "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard run.status == 0 else { throw Failed(description: "psql failed: \(run.stderr)") }
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func launch() async throws {
        let process = Process()
        let postgres = binaries.appendingPathComponent("postgres").path
        let arguments = [postgres, "-D", folder.appendingPathComponent("data").path, "-p", String(port),
                         "-k", folder.path, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"]
        if getuid() == 0 {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: postgres)
            process.arguments = Array(arguments.dropFirst())
        }
        let log = folder.appendingPathComponent("server.log")
        self.process.withLockedValue { $0 = process }
        let ready = binaries.appendingPathComponent("pg_isready")
        let port = self.port
        if try await process.run(loggingTo: log, until: {
            try await ProcessRun.run(ready, ["-q", "-h", "127.0.0.1", "-p", String(port), "-U", "holdfast"]).status == 0
        }) { return }
        let printed = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        throw Failed(description: "PostgreSQL did not accept connections on \(port): \(printed.suffix(1000))")
    }

    /// Fast shutdown by PID, waiting (at most 20 s, then SIGKILL) until it has exited.
    private func stopProcess() async {
        let running = process.withLockedValue { process -> Process? in
            defer { process = nil }
            return process
        }
        guard let process = running, process.isRunning else { return }
        kill(process.processIdentifier, SIGINT)
        for _ in 0..<400 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Runs `command` as the `postgres` user when the tests run as root, else as is.
    @discardableResult
    private static func asServerUser(_ command: [String], rootOnly: Bool = false) async throws -> ProcessRun {
        if getuid() == 0 {
            let run = try await ProcessRun.run(URL(fileURLWithPath: rootOnly ? command[0] : "/usr/bin/setpriv"),
                                               rootOnly ? Array(command.dropFirst())
                                                   : ["--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + command)
            return run
        }
        if rootOnly { return ProcessRun(status: 0, stdout: "", stderr: "") }
        return try await ProcessRun.run(URL(fileURLWithPath: command[0]), Array(command.dropFirst()))
    }
}

/// A port no one listens on now, on 127.0.0.1 (bound and released: another process could take
/// it before it is used, so callers retry).
func freeLoopbackPort() throws -> Int {
    let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw PostgresServer.Failed(description: "socket() failed") }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            Foundation.bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
        }
    }
    guard bound else { throw PostgresServer.Failed(description: "bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
