import Foundation

/// A server the tests start as a subprocess of their own (PostgreSQL, nginx) and stop by its PID.
protocol ThrowAwayServer: Sendable {
    /// Stops the process by its PID and removes what it was given.
    func stop() async
}

extension ThrowAwayServer {
    /// Runs `body` with this server, then stops it, whether `body` returned or threw.
    func stopping<Result: Sendable>(after body: (Self) async throws -> Result) async throws -> Result {
        do {
            let result = try await body(self)
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }
}

extension Process {
    /// Runs the process with its stdout and stderr appended to `log` (created if missing) and no
    /// input, then asks `isReady` every 50 ms, at most 300 times, while it runs. Returns whether it
    /// became ready (false: it exited, or is still not ready after about 15 s).
    func run(loggingTo log: URL, until isReady: () async throws -> Bool) async throws -> Bool {
        if !FileManager.default.fileExists(atPath: log.path) {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: log)
        try handle.seekToEnd()
        standardOutput = handle
        standardError = handle
        standardInput = FileHandle.nullDevice
        try run()
        for _ in 0..<300 {
            guard isRunning else { return false }
            if try await isReady() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
