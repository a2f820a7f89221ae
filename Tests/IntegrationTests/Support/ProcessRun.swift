import Foundation
import HoldfastTestSupport
import Testing

/// One run of a subprocess to its end: how it exited and what it printed. Every test that runs
/// a program (the tool, Python) goes through ``run(_:_:environment:stdin:limit:)``, which
/// awaits the exit without blocking a thread of the concurrency pool (the servers under test
/// may need it while the program runs).
struct ProcessRun {
    let status: Int32
    let stdout: String
    let stderr: String

    /// Stdout parsed as one JSON object.
    func jsonObject() throws -> [String: Any] {
        let parsed = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        return try #require(parsed as? [String: Any], "not a JSON object: \(stdout) \(stderr)")
    }

    /// Runs `executable` with `arguments` until it exits, at most `limit` (then it is killed by
    /// its PID and the run fails). `environment`: default the test process's. `stdin`, if
    /// given, is what the program reads, then the end of its input; else it reads nothing.
    static func run(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil,
                    stdin: String? = nil, limit: Duration = .seconds(60)) async throws -> ProcessRun {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let (ended, end) = AsyncStream.makeStream(of: Int32.self)
        process.terminationHandler = { process in
            end.yield(process.terminationStatus)
            end.finish()
        }
        try process.run()
        if let stdin {
            // Small enough for the pipe's buffer: written at once, then closed for the end of input.
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        let stdout = read(output)
        let stderr = read(errors)
        let pid = process.processIdentifier
        do {
            let command = ([executable.lastPathComponent] + arguments).joined(separator: " ")
            let status = try await first(of: ended, "`\(command)` to exit", limit: limit)
            return ProcessRun(status: status, stdout: try await first(of: stdout, "its stdout"),
                              stderr: try await first(of: stderr, "its stderr"))
        } catch {
            kill(pid, SIGKILL)
            throw error
        }
    }

    /// Everything written to `pipe`, read on a thread of its own so that a full pipe never
    /// blocks the program.
    private static func read(_ pipe: Pipe) -> AsyncStream<String> {
        let (text, sink) = AsyncStream.makeStream(of: String.self)
        let handle = pipe.fileHandleForReading
        Thread {
            sink.yield(String(decoding: handle.readDataToEndOfFile(), as: UTF8.self))
            sink.finish()
        }.start()
        return text
    }
}
