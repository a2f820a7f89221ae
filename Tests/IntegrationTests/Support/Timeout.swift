/// A safety net fired: the awaited thing did not happen in time.
struct TimeoutError: Error, CustomStringConvertible {
    let what: String
    let limit: Duration
    var description: String { "timed out after \(limit) waiting for \(what)" }
}

/// Runs `operation`, failing with ``TimeoutError`` if it has not finished within `limit`.
///
/// The limit is a safety net against a hang, never a way to wait for something: tests await
/// events. `operation` must end when cancelled (async sequences and `Task.sleep` do).
func withTimeout<Result: Sendable>(
    _ what: String, limit: Duration = .seconds(10),
    _ operation: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimeoutError(what: what, limit: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// The first element of `stream`, within `limit`.
func first<Element: Sendable>(
    of stream: AsyncStream<Element>, _ what: String, limit: Duration = .seconds(10)
) async throws -> Element {
    try await withTimeout(what, limit: limit) {
        for await element in stream { return element }
        throw StreamEndedError(what: what)
    }
}

struct StreamEndedError: Error, CustomStringConvertible {
    let what: String
    var description: String { "the stream ended before \(what) arrived" }
}
