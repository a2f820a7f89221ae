/// A safety net fired: the awaited thing did not happen in time.
public struct TimeoutError: Error, CustomStringConvertible {
    public let what: String
    public let limit: Duration
    public var description: String { "timed out after \(limit) waiting for \(what)" }

    public init(what: String, limit: Duration) {
        self.what = what
        self.limit = limit
    }
}

/// Runs `operation`, failing with ``TimeoutError`` if it has not finished within `limit`.
///
/// The limit is a safety net against a hang, never a way to wait for something: tests await
/// events. `operation` must end when cancelled (async sequences and `Task.sleep` do).
public func withTimeout<Result: Sendable>(
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
        guard let result = try await group.next() else { throw TimeoutError(what: what, limit: limit) }
        return result
    }
}

/// The first element of `stream`, within `limit`.
public func first<Element: Sendable>(
    of stream: AsyncStream<Element>, _ what: String, limit: Duration = .seconds(10)
) async throws -> Element {
    try await withTimeout(what, limit: limit) {
        for await element in stream { return element }
        throw StreamEndedError(what: what)
    }
}

/// Collects the first `count` elements of `stream`, within `limit`.
public func collect<Element: Sendable>(
    _ count: Int, of stream: AsyncStream<Element>, _ what: String, limit: Duration = .seconds(10)
) async throws -> [Element] {
    try await withTimeout(what, limit: limit) {
        var elements: [Element] = []
        elements.reserveCapacity(count)
        guard count > 0 else { return elements }
        for await element in stream {
            elements.append(element)
            if elements.count == count { return elements }
        }
        throw StreamEndedError(what: "\(what) (\(elements.count) of \(count) arrived)")
    }
}

/// A stream ended before what a test awaited from it arrived.
public struct StreamEndedError: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "the stream ended before \(what) arrived" }

    public init(what: String) { self.what = what }
}

/// Polls `condition` every 10 ms until it holds, failing after `limit`: for counters that are
/// updated on an event loop just after the event a test can await, or figures another process
/// reports (the condition may ask it).
public func waitUntil(_ what: String, limit: Duration = .seconds(10),
                      _ condition: @escaping @Sendable () async throws -> Bool) async throws {
    try await withTimeout(what, limit: limit) {
        while try await !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }
}
