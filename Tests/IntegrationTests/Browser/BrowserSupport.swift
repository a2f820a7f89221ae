import Foundation
import HoldfastTestSupport
import NIOConcurrencyHelpers
import Testing

/// What the browser tests share: the page-side recorder, the server's figures, restarts.
enum BrowserSupport {
    /// Loads `holdfast.js` into the page as `HF` and installs `T`, the recorder: `T.watch(target,
    /// label, types)` records each event of `types` as `{label, type, at, detail}` in `T.events`
    /// (binary data as `{bytes: [...]}`, blobs read in order), `T.of(type, label)` filters them;
    /// `pageshow`/`pagehide` are recorded with label `window` and `{persisted}`.
    static let prelude = """
        window.HF = await import('/holdfast.js');
        window.T = {
          events: [],
          plain(value) {
            return JSON.parse(JSON.stringify(value ?? null, (key, v) => {
              if (v instanceof ArrayBuffer) return { bytes: Array.from(new Uint8Array(v)) };
              if (ArrayBuffer.isView(v)) return { bytes: Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
              if (v instanceof Blob) return { blob: v.size };
              if (v instanceof Error) return { error: String(v) };
              if (typeof v === 'bigint') return Number(v);
              return v;
            }) ?? null);
          },
          watch(target, label, types) {
            for (const type of types) target.addEventListener(type, event => {
              const entry = { label, type, at: performance.now(), detail: T.plain(event.detail) };
              T.events.push(entry);
              const data = event.detail && event.detail.data;
              if (data instanceof Blob) {
                entry.pending = true;
                data.arrayBuffer().then(buffer => {
                  entry.detail.data = { bytes: Array.from(new Uint8Array(buffer)) };
                  entry.pending = false;
                });
              }
            });
            return target;
          },
          of(type, label) { return T.events.filter(e => e.type === type && (label === undefined || e.label === label)); },
        };
        for (const type of ['pageshow', 'pagehide']) {
          addEventListener(type, event => T.events.push({ label: 'window', type, at: performance.now(),
                                                          detail: { persisted: event.persisted } }));
        }
        return Object.keys(HF).sort();
        """

    /// The events a ``HoldfastSocket`` dispatches.
    static let socketEvents = "['open', 'message', 'reconnecting', 'close', 'gaveup']"

    /// Opens `window.socket`, a `HoldfastSocket` to `url` with `options` (a JavaScript object
    /// literal), its events recorded with label `socket`, and waits for its first `open`.
    static func openSocket(_ page: Page, _ url: String, options: String = "{}") async throws {
        try await page.run("""
            window.socket = T.watch(new HF.HoldfastSocket(\(DevTools.text(.string(url))), \(options)),
                                    'socket', \(socketEvents));
            """)
        try await page.waitFor("T.of('open', 'socket').length >= 1", "the socket's first open")
    }

    /// The server's `/status.json`.
    static func status(_ server: ServeProcess) async throws -> JSON {
        let response = try await server.get("/status.json")
        #expect(response.status == 200)
        return try JSON(parsing: response.body)
    }

    /// How many closes with `code` the status counts.
    static func closes(_ status: JSON, code: Int) -> Int {
        guard case .array(let closes)? = status["closes"] else { return 0 }
        return closes.filter { $0["code"]?.int == code }.compactMap { $0["count"]?.int }.reduce(0, +)
    }

    /// Stops `server` with `signal` on a thread of its own (`stop` blocks until the process has
    /// exited, which takes a graceful shutdown's drain), without holding a thread of the pool.
    static func stop(_ server: ServeProcess, signal: Int32 = SIGTERM) async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: server.stop(signal: signal)) }.start()
        }
    }

    /// Starts `holdfast serve` with `arguments` on `port`, retrying while the old socket lets go.
    static func restart(_ arguments: [String], port: Int) async throws -> ServeProcess {
        var lastError: (any Error)?
        for _ in 0..<40 {
            do { return try await ServeProcess.start(arguments, port: port) } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw lastError ?? ServeProcess.Failed(description: "the server did not restart on \(port)")
    }

    /// A new temporary directory for one test.
    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("holdfast-browser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}

/// The one server of a test that restarts it: whichever runs now, stopped at the end.
final class CurrentServer: Sendable {
    private let box: NIOLockedValueBox<ServeProcess?>
    let port: Int
    let arguments: [String]

    init(_ arguments: [String]) async throws {
        let server = try await ServeProcess.start(arguments)
        box = NIOLockedValueBox(server)
        port = server.port
        self.arguments = arguments
    }

    var server: ServeProcess {
        get throws {
            guard let server = box.withLockedValue({ $0 }) else {
                throw ServeProcess.Failed(description: "the server is stopped")
            }
            return server
        }
    }

    /// Stops the running server with `signal` (SIGTERM: 1001 to every client).
    @discardableResult
    func stop(signal: Int32 = SIGTERM) async -> Int32? {
        guard let server = box.withLockedValue({ server in
            defer { server = nil }
            return server
        }) else { return nil }
        return await BrowserSupport.stop(server, signal: signal)
    }

    /// Starts the server again on the same port with the same arguments.
    func start() async throws {
        let server = try await BrowserSupport.restart(arguments, port: port)
        box.withLockedValue { $0 = server }
    }

    /// Stops and starts it again.
    func restart(signal: Int32 = SIGTERM) async throws {
        await stop(signal: signal)
        try await start()
    }

    /// Runs `body` with a server started with `arguments`, then stops whichever runs.
    static func with<Result: Sendable>(_ arguments: [String], _ body: (CurrentServer) async throws -> Result)
        async throws -> Result
    {
        let current = try await CurrentServer(arguments)
        do {
            let result = try await body(current)
            await current.stop()
            return result
        } catch {
            await current.stop()
            throw error
        }
    }

    func url(_ path: String = "/") -> String { "ws://127.0.0.1:\(port)\(path)" }
    func page(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }
}
