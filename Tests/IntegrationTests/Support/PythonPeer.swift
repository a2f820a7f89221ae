import Foundation
import HoldfastTestSupport
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the integration tests' own files are, found from this file's path.
enum TestPaths {
    /// `Tests/IntegrationTests/Python`.
    static let python = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Python")
    /// The package root, three levels above `Tests/IntegrationTests/Support`.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
}

/// A subprocess that failed: what it ran, how it ended, and what it wrote to stderr.
struct SubprocessError: Error, CustomStringConvertible {
    let description: String
}

/// The virtual environment with the `websockets` package, in `<package root>/.test-venv/`
/// (git-ignored). It is set up once per test process, and `setup_venv.py` locks it against other
/// processes doing the same; set-up failures fail the tests that need it, with the reason.
enum PythonEnvironment {
    private static let setUp = Task<String, any Error> {
        let venv = TestPaths.packageRoot.appendingPathComponent(".test-venv/websockets").path
        let script = TestPaths.python.appendingPathComponent("setup_venv.py").path
        let result = try await ProcessRun.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", script, venv],
                                              limit: .seconds(300))
        guard result.status == 0 else {
            throw SubprocessError(description: """
                could not set up the Python environment at \(venv) (`python3 \(script)` exited with \
                \(result.status)): \(result.stderr)
                """)
        }
        return venv + "/bin/python"
    }

    /// The path of the venv's Python, once the venv is ready.
    static func python() async throws -> String {
        try await setUp.value
    }
}


/// Reads `pipe` to its end on a thread of its own, handing each chunk to `chunk`, then calls `end`.
///
/// A plain blocking read on a dedicated thread: `FileHandle.readabilityHandler` on Linux can crash
/// in libdispatch when the pipe's descriptor is closed while its source is still registered.
private func readToEnd(_ pipe: Pipe, chunk: @escaping @Sendable (Data) -> Void, end: @escaping @Sendable () -> Void) {
    let handle = pipe.fileHandleForReading
    Thread {
        while true {
            let data = handle.availableData
            if data.isEmpty { break }
            chunk(data)
        }
        end()
    }.start()
}

/// What a process writes to `pipe`, read as it comes so that a full pipe never blocks the process;
/// `ended` finishes at the end of the file.
private func collect(_ pipe: Pipe) -> (text: NIOLockedValueBox<String>, ended: AsyncStream<Void>) {
    let text = NIOLockedValueBox("")
    let (ended, end) = AsyncStream.makeStream(of: Void.self)
    readToEnd(pipe, chunk: { data in text.withLockedValue { $0 += String(decoding: data, as: UTF8.self) } },
              end: { end.finish() })
    return (text, ended)
}

/// A Python `websockets` peer (`Python/peer.py`) running as a subprocess: JSON commands go to its
/// stdin, one JSON answer per command comes back on its stdout.
final class PythonPeer {
    private let process: Process
    private let stdin: FileHandle
    private let lines: AsyncStream<String>
    private let stderr: NIOLockedValueBox<String>

    /// Runs `body` with a peer started with `arguments` (`client URL [SUBPROTOCOL...]` or
    /// `server [SUBPROTOCOL...]`), and kills the peer by its PID afterwards, whatever happened.
    static func with<Result>(_ arguments: [String], _ body: (PythonPeer) async throws -> Result) async throws
        -> Result
    {
        let python = try await PythonEnvironment.python()
        let peer = try PythonPeer(python: python, arguments: arguments)
        defer { peer.kill() }
        do {
            return try await body(peer)
        } catch {
            // Whatever went wrong, Python's own account of it is the most useful part.
            throw SubprocessError(description: "\(error)\npeer.py stderr:\n\(peer.stderr.withLockedValue { $0 })")
        }
    }

    private init(python: String, arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-u", TestPaths.python.appendingPathComponent("peer.py").path] + arguments
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        stdin = input.fileHandleForWriting

        try process.run()

        let (lines, linesSink) = AsyncStream.makeStream(of: String.self)
        self.lines = lines
        let partial = NIOLockedValueBox(Data())
        readToEnd(output, chunk: { data in
            let complete: [String] = partial.withLockedValue { buffer in
                buffer.append(data)
                var complete: [String] = []
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    complete.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
                return complete
            }
            for line in complete { linesSink.yield(line) }
        }, end: { linesSink.finish() })
        stderr = collect(errors).text
    }

    /// The next line the peer writes, parsed.
    func next(_ what: String = "an answer from peer.py") async throws -> JSON {
        let line = try await first(of: lines, what)
        let json = try JSON(parsing: line)
        if let error = json["error"] { throw SubprocessError(description: "peer.py failed: \(error)") }
        return json
    }

    /// Sends one command and returns its answer.
    @discardableResult
    func call(_ command: JSON) async throws -> JSON {
        try stdin.write(contentsOf: Data((command.serialized + "\n").utf8))
        return try await next("the answer to \(command)")
    }

    /// Kills the process by its PID and reaps it.
    private func kill() {
        if process.isRunning {
            #if canImport(Glibc)
            _ = Glibc.kill(process.processIdentifier, SIGKILL)
            #else
            _ = Darwin.kill(process.processIdentifier, SIGKILL)
            #endif
        }
        process.waitUntilExit()
        try? stdin.close()
    }
}
