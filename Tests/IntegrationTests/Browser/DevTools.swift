import Foundation
import Holdfast
import HoldfastTestSupport
import NIOConcurrencyHelpers
import NIOCore

/// A minimal Chrome DevTools Protocol client over Holdfast's own WebSocket client: one
/// connection to the browser endpoint, pages as flattened sessions on it (`Target.createTarget`
/// and `Target.attachToTarget` with `flatten: true`), commands with ids and the events as they
/// come. Every wait is bounded.
final class DevTools: Sendable {
    /// An event, as the browser sent it.
    struct Event: Sendable {
        let method: String
        /// The page session it belongs to (`nil`: the browser's own).
        let sessionID: String?
        let params: JSON
    }

    /// A command the browser answered with an error.
    struct CommandError: Error, CustomStringConvertible {
        let method: String
        let code: Int
        let message: String
        var description: String { "\(method) failed: \(message) (\(code))" }
    }

    /// The connection ended while something still waited on it.
    struct Disconnected: Error, CustomStringConvertible {
        var description: String { "the DevTools connection closed" }
    }

    private struct State {
        var nextID = 0
        var pending: [Int: AsyncStream<Result<JSON, any Error>>.Continuation] = [:]
        var listeners: [Int: (session: String?, sink: AsyncStream<Event>.Continuation)] = [:]
        var nextListener = 0
        /// Console output and exceptions per session, for failure messages (the last 300 lines).
        var logs: [String: [String]] = [:]
        var closed = false
    }

    private let socket: WebSocket
    private let state = NIOLockedValueBox(State())

    private init(socket: WebSocket) {
        self.socket = socket
    }

    /// Connects to `chromium`'s browser endpoint for the duration of `body`.
    static func with<Result: Sendable>(_ chromium: Chromium, _ body: (DevTools) async throws -> Result) async throws
        -> Result
    {
        // Screenshots come back as one base64 message of a few megabytes.
        let configuration = WebSocketClientConfiguration(
            webSocket: WebSocketConfiguration(maxMessageSize: 256 << 20, compression: nil), connectTimeout: .seconds(10))
        return try await WebSocketClient.connect(to: chromium.browserURL, configuration: configuration,
                                                 logger: silentLogger) { socket in
            let devtools = DevTools(socket: socket)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await devtools.read() }
                do {
                    let result = try await body(devtools)
                    await socket.close()
                    return result
                } catch {
                    await socket.close()
                    throw error
                }
            }
        }
    }

    /// Dispatches what the browser sends until the connection closes.
    private func read() async {
        for await message in socket.messages {
            guard let text = message.text, let parsed = try? JSON(parsing: text) else { continue }
            if let id = parsed["id"]?.int {
                let result: Result<JSON, any Error>
                if let error = parsed["error"] {
                    result = .failure(CommandError(method: "command \(id)", code: error["code"]?.int ?? 0,
                                                   message: error["message"]?.string ?? error.serialized))
                } else {
                    result = .success(parsed["result"] ?? .object([:]))
                }
                let sink = state.withLockedValue { $0.pending.removeValue(forKey: id) }
                sink?.yield(result)
                sink?.finish()
            } else if let method = parsed["method"]?.string {
                let event = Event(method: method, sessionID: parsed["sessionId"]?.string,
                                  params: parsed["params"] ?? .object([:]))
                let sinks = state.withLockedValue { state in
                    if let session = event.sessionID, let line = Self.logLine(event) {
                        state.logs[session, default: []].append(line)
                        if state.logs[session]!.count > 300 { state.logs[session]!.removeFirst() }
                    }
                    return state.listeners.values.filter { $0.session == nil || $0.session == event.sessionID }
                        .map(\.sink)
                }
                for sink in sinks { sink.yield(event) }
            }
        }
        let (pending, listeners) = state.withLockedValue { state in
            state.closed = true
            defer {
                state.pending = [:]
                state.listeners = [:]
            }
            return (Array(state.pending.values), state.listeners.values.map(\.sink))
        }
        for sink in pending {
            sink.yield(.failure(Disconnected()))
            sink.finish()
        }
        for sink in listeners { sink.finish() }
    }

    private static func logLine(_ event: Event) -> String? {
        switch event.method {
        case "Runtime.consoleAPICalled":
            let args = event.params["args"].flatMap { args -> [JSON]? in
                if case .array(let values) = args { return values }
                return nil
            } ?? []
            let text = args.map { $0["value"]?.string ?? $0["value"]?.serialized ?? $0["description"]?.string ?? "?" }
            return "console.\(event.params["type"]?.string ?? "log"): \(text.joined(separator: " "))"
        case "Runtime.exceptionThrown":
            let details = event.params["exceptionDetails"]
            return "uncaught: \(details?["exception"]?["description"]?.string ?? details?["text"]?.string ?? "?")"
        case "Inspector.targetCrashed":
            return "the page crashed"
        default:
            return nil
        }
    }

    /// The console output and uncaught exceptions of `session` so far (the last 300).
    func log(of session: String) -> [String] {
        state.withLockedValue { $0.logs[session] ?? [] }
    }

    /// Sends `method` with `params` (to the page `session`, or the browser) and returns the
    /// answer's `result`, within `limit`.
    func send(_ method: String, _ params: JSON = [:], session: String? = nil,
              limit: Duration = .seconds(10)) async throws -> JSON {
        let (answer, sink) = AsyncStream.makeStream(of: Result<JSON, any Error>.self)
        let id: Int? = state.withLockedValue { state in
            guard !state.closed else { return nil }
            state.nextID += 1
            state.pending[state.nextID] = sink
            return state.nextID
        }
        guard let id else { throw Disconnected() }
        var fields = ["\"id\":\(id)", "\"method\":\(Self.text(.string(method)))", "\"params\":\(Self.text(params))"]
        if let session { fields.append("\"sessionId\":\(Self.text(.string(session)))") }
        do {
            try await socket.send(text: "{\(fields.joined(separator: ","))}")
            let result = try await first(of: answer, "the answer to \(method)", limit: limit)
            switch result {
            case .success(let value): return value
            case .failure(let error as CommandError):
                throw CommandError(method: method, code: error.code, message: error.message)
            case .failure(let error): throw error
            }
        } catch {
            state.withLockedValue { _ = $0.pending.removeValue(forKey: id) }
            throw error
        }
    }

    /// The events from now on (of `session` only, or all), until the stream is dropped.
    func events(session: String? = nil) -> AsyncStream<Event> {
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        let registered = state.withLockedValue { state -> Int? in
            guard !state.closed else { return nil }
            state.nextListener += 1
            state.listeners[state.nextListener] = (session, sink)
            return state.nextListener
        }
        guard let registered else {
            sink.finish()
            return events
        }
        sink.onTermination = { [weak self] _ in
            self?.state.withLockedValue { _ = $0.listeners.removeValue(forKey: registered) }
        }
        return events
    }

    /// The first event of `stream` named `method` for which `matching` holds, within `limit`.
    static func next(_ method: String, in stream: AsyncStream<Event>, limit: Duration = .seconds(10),
                     where matching: @escaping @Sendable (Event) -> Bool = { _ in true }) async throws -> Event {
        try await withTimeout("the event \(method)", limit: limit) {
            for await event in stream where event.method == method && matching(event) { return event }
            throw Disconnected()
        }
    }

    /// Opens a new tab on `about:blank`, attached as a flattened session with the Page, Runtime
    /// and Inspector domains enabled.
    func openPage() async throws -> Page {
        let target = try await send("Target.createTarget", ["url": "about:blank"])
        guard let targetID = target["targetId"]?.string else {
            throw CommandError(method: "Target.createTarget", code: 0, message: "no targetId in \(target)")
        }
        let attached = try await send("Target.attachToTarget", ["targetId": .string(targetID), "flatten": true])
        guard let sessionID = attached["sessionId"]?.string else {
            throw CommandError(method: "Target.attachToTarget", code: 0, message: "no sessionId in \(attached)")
        }
        let page = Page(devtools: self, targetID: targetID, sessionID: sessionID)
        _ = try await page.send("Page.enable")
        _ = try await page.send("Runtime.enable")
        _ = try await page.send("Inspector.enable")
        return page
    }

    /// Runs `body` with a new tab, then closes the tab; on failure the page's console output is
    /// printed, then the error is rethrown.
    func withPage<Result: Sendable>(_ body: (Page) async throws -> Result) async throws -> Result {
        let page = try await openPage()
        do {
            let result = try await body(page)
            _ = try? await send("Target.closeTarget", ["targetId": .string(page.targetID)])
            return result
        } catch {
            print("page console (\(page.targetID)):\n  " + log(of: page.sessionID).joined(separator: "\n  "))
            _ = try? await send("Target.closeTarget", ["targetId": .string(page.targetID)])
            throw error
        }
    }

    /// `value` as JSON text for the browser: whole numbers without a fraction (ids and node ids
    /// must be integers), strings escaped by `JSONEncoder`.
    static func text(_ value: JSON) -> String {
        switch value {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let value):
            if let whole = Int64(exactly: value) { return String(whole) }
            return "\(value)"
        case .string(let value):
            return String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
        case .array(let values):
            return "[" + values.map(text).joined(separator: ",") + "]"
        case .object(let fields):
            return "{" + fields.sorted { $0.key < $1.key }.map { "\(text(.string($0.key))):\(text($0.value))" }
                .joined(separator: ",") + "}"
        }
    }
}

/// One tab, as a flattened session of a ``DevTools`` connection.
struct Page: Sendable {
    let devtools: DevTools
    let targetID: String
    let sessionID: String

    /// A script in the page threw, or its promise rejected.
    struct ScriptError: Error, CustomStringConvertible {
        let description: String
    }

    /// Sends `method` to this page.
    func send(_ method: String, _ params: JSON = [:], limit: Duration = .seconds(10)) async throws -> JSON {
        try await devtools.send(method, params, session: sessionID, limit: limit)
    }

    /// This page's events from now on.
    func events() -> AsyncStream<DevTools.Event> {
        devtools.events(session: sessionID)
    }

    /// What the page logged to its console, and its uncaught exceptions.
    var log: [String] { devtools.log(of: sessionID) }

    /// Navigates to `url` and returns once its `load` event fired.
    func navigate(_ url: String, limit: Duration = .seconds(15)) async throws {
        let events = events()
        let result = try await send("Page.navigate", ["url": .string(url)])
        if let error = result["errorText"]?.string, !error.isEmpty {
            throw ScriptError(description: "navigating to \(url) failed: \(error)")
        }
        _ = try await DevTools.next("Page.loadEventFired", in: events, limit: limit)
    }

    /// Goes back one entry in the tab's history and returns once the main frame navigated (a
    /// page restored from the back/forward cache fires no `load`); returns the navigation type
    /// (`BackForwardCacheRestore` for a restore).
    @discardableResult
    func goBack(limit: Duration = .seconds(15)) async throws -> String {
        let history = try await send("Page.getNavigationHistory")
        guard let index = history["currentIndex"]?.int, index > 0, case .array(let entries)? = history["entries"],
              let entry = entries[index - 1]["id"]?.int else {
            throw ScriptError(description: "no entry to go back to: \(history)")
        }
        let events = events()
        _ = try await send("Page.navigateToHistoryEntry", ["entryId": .number(Double(entry))])
        let navigated = try await DevTools.next("Page.frameNavigated", in: events, limit: limit) {
            $0.params["frame"]?["parentId"] == nil
        }
        return navigated.params["type"]?.string ?? ""
    }

    /// Evaluates `expression` in the page and returns its value (`null` for `undefined`);
    /// with `awaitPromise`, a promise's result. Throws ``ScriptError`` with the exception's
    /// text when it throws or the promise rejects.
    @discardableResult
    func evaluate(_ expression: String, awaitPromise: Bool = true, limit: Duration = .seconds(10)) async throws -> JSON {
        let answer = try await send("Runtime.evaluate",
                                    ["expression": .string(expression), "awaitPromise": .bool(awaitPromise),
                                     "returnByValue": true, "userGesture": true],
                                    limit: limit)
        if let details = answer["exceptionDetails"] {
            let text = details["exception"]?["description"]?.string ?? details["exception"]?["value"]?.serialized
                ?? details["text"]?.string ?? details.serialized
            throw ScriptError(description: text)
        }
        return answer["result"]?["value"] ?? .null
    }

    /// Runs `body` as the body of an async function in the page and returns what it returns.
    @discardableResult
    func run(_ body: String, limit: Duration = .seconds(10)) async throws -> JSON {
        try await evaluate("(async () => {\n\(body)\n})()", limit: limit)
    }

    /// Waits until `condition` (a JavaScript expression) is truthy in the page, polled every
    /// 20 ms, at most `limit`; returns its value.
    @discardableResult
    func waitFor(_ condition: String, _ what: String, limit: Duration = .seconds(10)) async throws -> JSON {
        let milliseconds = limit.components.seconds * 1000 + limit.components.attoseconds / 1_000_000_000_000_000
        let script = """
            new Promise((resolve, reject) => {
              const deadline = performance.now() + \(milliseconds);
              const tick = () => {
                let value;
                try { value = (\(condition)); } catch (error) { reject(error); return; }
                if (value) { resolve(value); return; }
                if (performance.now() > deadline) {
                  reject(new Error(\(DevTools.text(.string("timed out after \(limit) waiting for \(what)")))));
                  return;
                }
                setTimeout(tick, 20);
              };
              tick();
            })
            """
        return try await evaluate(script, limit: limit + .seconds(5))
    }

    /// Sets the files of the `<input type=file>` that `selector` finds.
    func setFileInputFiles(_ selector: String, _ paths: [String]) async throws {
        let document = try await send("DOM.getDocument", ["depth": 0])
        guard let root = document["root"]?["nodeId"]?.int else {
            throw ScriptError(description: "no document: \(document)")
        }
        let found = try await send("DOM.querySelector", ["nodeId": .number(Double(root)), "selector": .string(selector)])
        guard let node = found["nodeId"]?.int, node != 0 else {
            throw ScriptError(description: "nothing matches \(selector)")
        }
        _ = try await send("DOM.setFileInputFiles", ["files": .array(paths.map(JSON.string)),
                                                     "nodeId": .number(Double(node))])
    }

    /// Writes a PNG screenshot of the page to `path`.
    func screenshot(to path: URL) async throws {
        let shot = try await send("Page.captureScreenshot", ["format": "png"], limit: .seconds(20))
        guard let base64 = shot["data"]?.string, let data = Data(base64Encoded: base64) else {
            throw ScriptError(description: "no screenshot data")
        }
        try data.write(to: path)
    }

    /// The page's JavaScript memory (`Runtime.getHeapUsage`).
    struct HeapUsage: Sendable, CustomStringConvertible {
        /// Bytes used in the V8 heap.
        let used: Int
        /// Bytes allocated for the V8 heap.
        let total: Int
        /// Bytes of ArrayBuffer backing stores (outside the V8 heap: file slices, messages);
        /// `nil` when this Chromium does not report it.
        let backingStorage: Int?

        /// What the page's script holds: the heap used and the ArrayBuffers' bytes.
        var held: Int { used + (backingStorage ?? 0) }

        var description: String {
            "heap \(used / 1024) KiB used of \(total / 1024) KiB, ArrayBuffers \(backingStorage.map { "\($0 / 1024) KiB" } ?? "not reported")"
        }
    }

    /// Runs a full garbage collection in the page (what is left is what the page holds).
    func collectGarbage() async throws {
        _ = try await send("HeapProfiler.collectGarbage", limit: .seconds(20))
    }

    /// The page's JavaScript memory now.
    func heapUsage() async throws -> HeapUsage {
        let usage = try await send("Runtime.getHeapUsage")
        guard case .number(let used)? = usage["usedSize"], case .number(let total)? = usage["totalSize"] else {
            throw ScriptError(description: "unexpected heap usage: \(usage)")
        }
        var backing: Int?
        if case .number(let bytes)? = usage["backingStorageSize"] { backing = Int(bytes) }
        return HeapUsage(used: Int(used), total: Int(total), backingStorage: backing)
    }
}
