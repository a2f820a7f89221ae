import Crypto
import Foundation
import Holdfast
import HoldfastChannels
import HoldfastCore
import HoldfastTestSupport
import NIOConcurrencyHelpers
import NIOCore
import Testing

/// Real pages in a real headless Chromium (one for the suite, a new tab per test) against real
/// `holdfast serve` processes, driven over the DevTools protocol (``DevTools``) by Holdfast's own
/// client. The pages use the served `holdfast.js`; the back/forward cache is on, as for users.
@Suite("Browser — headless Chromium and holdfast.js against holdfast serve", .serialized, .sharedChromium,
       .timeLimit(.minutes(3)))
struct BrowserTests {
    /// Runs `body` with a new tab of the suite's Chromium.
    static func withPage<Result: Sendable>(_ body: (Page) async throws -> Result) async throws -> Result {
        try await Chromium.withBrowser { chromium in
            try await DevTools.with(chromium) { devtools in
                try await devtools.withPage(body)
            }
        }
    }

    /// Runs `body` with a new tab showing `/codes/1000` of `server` (a page that opens no
    /// socket of its own and may enter the back/forward cache), `holdfast.js` loaded as `HF` and
    /// the recorder `T` installed (``BrowserSupport/prelude``).
    static func withModulePage<Result: Sendable>(_ port: Int, path: String = "/codes/1000",
                                                 _ body: (Page) async throws -> Result) async throws -> Result {
        try await withPage { page in
            try await page.navigate("http://127.0.0.1:\(port)\(path)")
            try await page.run(BrowserSupport.prelude)
            return try await body(page)
        }
    }

    // MARK: - The harness

    @Test("the harness: the status page loads, 1+1 evaluates, a plain WebSocket echoes, a screenshot is a PNG")
    func harness() async throws {
        try await ServeProcess.with([]) { server in
            try await Self.withPage { page in
                try await page.navigate("http://127.0.0.1:\(server.port)/")
                #expect(try await page.evaluate("1+1") == 2)
                #expect(try await page.evaluate("document.title").string?.isEmpty == false)
                let echoed = try await page.run("""
                    const ws = new WebSocket('ws://127.0.0.1:\(server.port)/echo');
                    await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
                    ws.send('hello from Chromium');
                    const reply = await new Promise(resolve => { ws.onmessage = event => resolve(event.data); });
                    ws.close(1000);
                    return reply;
                    """)
                #expect(echoed == "hello from Chromium")
                do {
                    try await page.evaluate("Promise.reject(new Error('thrown on purpose'))")
                    Issue.record("a rejected promise did not throw")
                } catch let error as Page.ScriptError {
                    #expect(error.description.contains("thrown on purpose"))
                }
                let directory = try BrowserSupport.temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: directory) }
                let shot = directory.appendingPathComponent("status.png")
                try await page.screenshot(to: shot)
                #expect(try Data(contentsOf: shot).starts(with: [0x89, 0x50, 0x4E, 0x47]))
                let heap = try await page.heapUsage()
                #expect(heap.used > 0 && heap.used <= heap.total, "\(heap)")
                print("status page: \(heap)")
            }
        }
    }

    @Test("the harness: the back/forward cache is on in headless Chromium (away and back: pageshow persisted, the same document)")
    func backForwardCache() async throws {
        try await ServeProcess.with([]) { server in
            try await Self.withPage { page in
                try await page.navigate("http://127.0.0.1:\(server.port)/codes/1000")
                try await page.run("""
                    window.shown = [];
                    addEventListener('pageshow', event => shown.push(event.persisted));
                    window.marker = Math.random();
                    """)
                let marker = try await page.evaluate("marker")
                try await page.navigate("http://127.0.0.1:\(server.port)/codes/1001")
                #expect(try await page.goBack() == "BackForwardCacheRestore")
                #expect(try await page.evaluate("marker") == marker)
                #expect(try await page.waitFor("shown.length >= 1 && shown", "pageshow") == [true])
            }
        }
    }

    // MARK: - HoldfastSocket

    @Test("a. echo through HoldfastSocket: a text and a binary message come back as sent")
    func echo() async throws {
        try await ServeProcess.with([]) { server in
            try await Self.withModulePage(server.port) { page in
                try await BrowserSupport.openSocket(page, "ws://127.0.0.1:\(server.port)/")
                try await page.run("socket.send('hello, holdfast'); socket.send(new Uint8Array([0, 1, 2, 127, 128, 254, 255]));")
                let messages = try await page.waitFor(
                    "T.of('message').length >= 2 && T.of('message').every(e => !e.pending) && T.of('message').map(e => e.detail.data)",
                    "two echoes")
                #expect(messages == ["hello, holdfast", ["bytes": [0, 1, 2, 127, 128, 254, 255]]])
                #expect(try await page.evaluate("T.of('close').length + T.of('reconnecting').length") == 0)
            }
        }
    }

    @Test("b. across a server restart (SIGTERM → 1001, same port): what was sent while down arrives after the reconnect, in order, exactly once")
    func reconnectAcrossRestart() async throws {
        try await CurrentServer.with([]) { server in
            try await Self.withModulePage(server.port) { page in
                try await BrowserSupport.openSocket(page, server.url())
                try await page.run("socket.send('before');")
                try await page.waitFor("T.of('message').length >= 1", "the echo of `before`")
                await server.stop()
                let reconnecting = try await page.waitFor("T.of('reconnecting')[0]", "the reconnecting event")
                #expect(reconnecting["detail"]?["code"] == 1001, "\(reconnecting)")
                // Sent while no connection is open: they wait in the outbox.
                try await page.run("for (let i = 1; i <= 5; i++) socket.send('queued ' + i);")
                #expect(try await page.evaluate("T.of('open').length") == 1)
                try await Task.sleep(for: .milliseconds(300))
                try await server.start()
                try await page.waitFor("T.of('open').length >= 2", "the reconnect", limit: .seconds(20))
                try await page.waitFor("T.of('message').length >= 6", "the queued messages' echoes")
                // Anything sent twice would have come back by now.
                try await Task.sleep(for: .milliseconds(500))
                let messages = try await page.evaluate("T.of('message').map(e => e.detail.data)")
                #expect(messages == ["before", "queued 1", "queued 2", "queued 3", "queued 4", "queued 5"])
                #expect(try await page.evaluate("T.of('gaveup').length") == 0)
            }
        }
    }

    @Test("c. a retry hint (--shutdown-spread 2): reconnecting carries hintMs, delayMs is the hint clamped by the policy, and the reconnect waits that long")
    func retryHint() async throws {
        try await CurrentServer.with(["--shutdown-spread", "2"]) { server in
            try await Self.withModulePage(server.port) { page in
                try await BrowserSupport.openSocket(page, server.url())
                await server.stop()
                try await server.start()
                let event = try await page.waitFor("T.of('reconnecting')[0]", "the reconnecting event")
                let detail = try #require(event["detail"])
                #expect(detail["code"] == 1001, "\(detail)")
                let reason = try #require(detail["reason"]?.string)
                let hint = try #require(CloseFrame(code: .goingAway, reason: reason).retryHint, "no hint in \(reason)")
                let hintMs = Int(hint.components.seconds * 1000 + hint.components.attoseconds / 1_000_000_000_000_000)
                #expect(detail["hintMs"]?.int == hintMs, "\(detail)")
                let policy = try await page.evaluate("HF.POLICY")
                let minimum = try #require(policy["minimumRetryHintMs"]?.int)
                let maximum = try #require(policy["maximumDelayMs"]?.int)
                let expected = min(max(hintMs, minimum), maximum)
                #expect(detail["delayMs"]?.int == expected, "\(detail)")
                #expect(try await page.evaluate("HF.honouredHintMs(\(hintMs))").int == expected)
                let waited = try await page.waitFor(
                    "T.of('open').length >= 2 && (T.of('open')[1].at - T.of('reconnecting')[0].at)",
                    "the reconnect", limit: .seconds(20))
                guard case .number(let milliseconds) = waited else {
                    Issue.record("no time between the events: \(waited)")
                    return
                }
                // Timers never fire early; 2 ms for the clock's rounding.
                #expect(milliseconds >= Double(expected) - 2, "reconnected \(milliseconds) ms after a \(expected) ms delay")
                print("retry hint \(hintMs) ms, delay \(expected) ms, reconnected after \(Int(milliseconds)) ms")
            }
        }
    }

    @Test("d. no reconnect after 1008: a garbage binary message to --mode files ends in gaveup(1008), and the server sees one connection only")
    func noRetryAfterPolicyViolation() async throws {
        let directory = try BrowserSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await ServeProcess.with(["--mode", "files", "--files-dir", directory.path]) { server in
            try await Self.withModulePage(server.port) { page in
                try await BrowserSupport.openSocket(page, "ws://127.0.0.1:\(server.port)/")
                try await page.run("socket.send(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));")
                let gaveUp = try await page.waitFor("T.of('gaveup')[0]", "gaveup")
                #expect(gaveUp["detail"]?["code"] == 1008, "\(gaveUp)")
                try await Task.sleep(for: .seconds(3))
                #expect(try await page.evaluate("T.of('reconnecting').length") == 0)
                #expect(try await page.evaluate("T.of('open').length") == 1)
                let status = try await BrowserSupport.status(server)
                #expect(status["totalConnections"] == 1, "\(status)")
                #expect(BrowserSupport.closes(status, code: 1008) == 1, "\(status)")
            }
        }
    }

    @Test("e. a message over the server's limit is refused in the page (MessageTooBigError naming 1024), no 1009, and the connection still echoes")
    func overTheLimitRefusedInPage() async throws {
        try await ServeProcess.with(["--max-message-size", "1024"]) { server in
            try await Self.withModulePage(server.port) { page in
                try await BrowserSupport.openSocket(page, "ws://127.0.0.1:\(server.port)/")
                // The limits came from /limits.json before the connection opened.
                let limits = try await page.evaluate("T.of('open')[0].detail.limits")
                #expect(limits["maxMessageSize"] == 1024, "\(limits)")
                #expect(limits["mode"] == "echo", "\(limits)")
                let refusal = try await page.run("""
                    try {
                      socket.send('x'.repeat(2000));
                      return { thrown: false };
                    } catch (error) {
                      return { thrown: true, name: error.name, constructor: error.constructor.name,
                               instance: typeof HF.MessageTooBigError === 'function' ? error instanceof HF.MessageTooBigError : null,
                               size: error.size, limit: error.limit, message: String(error.message) };
                    }
                    """)
                #expect(refusal["thrown"] == true, "\(refusal)")
                #expect(refusal["name"] == "MessageTooBigError" || refusal["constructor"] == "MessageTooBigError", "\(refusal)")
                #expect(refusal["instance"] == true, "\(refusal)")
                #expect(refusal["limit"] == 1024, "\(refusal)")
                #expect(refusal["size"] == 2000, "\(refusal)")
                #expect(refusal["message"]?.string?.contains("1024") == true, "\(refusal)")
                try await page.run("socket.send('small');")
                let echoed = try await page.waitFor("T.of('message').length >= 1 && T.of('message').map(e => e.detail.data)",
                                                    "the small message's echo")
                #expect(echoed == ["small"])
                #expect(try await page.evaluate("T.of('close').length") == 0)
                let status = try await BrowserSupport.status(server)
                #expect(BrowserSupport.closes(status, code: 1009) == 0, "\(status)")
                #expect(status["connections"] == 1, "\(status)")
                #expect(status["totalConnections"] == 1, "\(status)")
            }
        }
    }

    @Test("e'. a frame limit below the message limit bounds the page too: a browser sends a message as one frame, so 20,000 random bytes through a 16 KiB frame limit are refused in the page, and an upload's chunks fit it, with no 1009")
    func frameLimitRefusedInPage() async throws {
        let directory = try BrowserSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await ServeProcess.with(["--mode", "files", "--files-dir", directory.path,
                                     "--max-message-size", "65536", "--max-frame-size", "16384"]) { server in
            try await Self.withModulePage(server.port) { page in
                let result = try await page.run("""
                    const socket = new HF.HoldfastSocket('ws://127.0.0.1:\(server.port)/');
                    await new Promise((resolve) => socket.addEventListener('open', resolve, { once: true }));
                    const random = new Uint8Array(20000);
                    crypto.getRandomValues(random);
                    let refusal = null;
                    try { socket.send(random); } catch (error) { refusal = { limit: error.limit, size: error.size }; }
                    socket.close();
                    const file = new Uint8Array(200000);
                    for (let at = 0; at < file.length; at += 65536) crypto.getRandomValues(file.subarray(at, at + 65536));
                    const upload = await HF.upload('ws://127.0.0.1:\(server.port)/', new Blob([file]), { name: 'frames.bin' });
                    return { refusal, limit: socket.maxMessageSize, chunkSize: upload.chunkSize, connections: upload.connections };
                    """)
                #expect(result["refusal"]?["limit"] == 16384, "\(result)")
                #expect(result["refusal"]?["size"] == 20000, "\(result)")
                #expect(result["limit"] == 16384, "\(result)")
                #expect(result["chunkSize"] == .number(16384 - 27), "\(result)")
                #expect(result["connections"] == 1, "\(result)")
                let status = try await BrowserSupport.status(server)
                #expect(BrowserSupport.closes(status, code: 1009) == 0, "\(status)")
            }
        }
    }

    @Test("f. leaving the page closes with 4001 (a departure, no 1006) within 1 s; going back restores it from the back/forward cache and it reconnects")
    func pageDeparture() async throws {
        try await ServeProcess.with([]) { server in
            try await Self.withModulePage(server.port) { page in
                try await BrowserSupport.openSocket(page, "ws://127.0.0.1:\(server.port)/")
                let started = ContinuousClock.now
                try await page.navigate("http://127.0.0.1:\(server.port)/codes/1001")
                let departure = NIOLockedValueBox<JSON>(.null)
                try await waitUntil("a 4001 close and a departure in /status.json", limit: .seconds(1)) {
                    let status = try await BrowserSupport.status(server)
                    departure.withLockedValue { $0 = status }
                    return BrowserSupport.closes(status, code: 4001) == 1 && status["pageDepartures"] == 1
                }
                let counted = ContinuousClock.now - started
                print("departure counted \(counted) after the navigation began")
                #expect(counted < .seconds(1), "counted \(counted) after the navigation began")
                let status = departure.withLockedValue { $0 }
                #expect(BrowserSupport.closes(status, code: 1006) == 0, "\(status)")
                #expect(BrowserSupport.closes(status, code: 1001) == 0, "\(status)")

                let navigation = try await page.goBack()
                #expect(navigation == "BackForwardCacheRestore", "the page was loaded again, not restored")
                let shown = try await page.waitFor("T.of('pageshow').at(-1)", "pageshow")
                #expect(shown["detail"]?["persisted"] == true, "\(shown)")
                try await page.waitFor("T.of('open').length >= 2", "the reconnect after the restore")
                try await page.run("socket.send('back again');")
                try await page.waitFor("T.of('message').some(e => e.detail.data === 'back again')", "the echo after the restore")
                let after = try await BrowserSupport.status(server)
                #expect(after["totalConnections"] == 2, "\(after)")
                #expect(after["connections"] == 1, "\(after)")
                #expect(BrowserSupport.closes(after, code: 1006) == 0, "\(after)")
                #expect(try await page.evaluate("T.of('gaveup').length") == 0)
            }
        }
    }

    // MARK: - Uploads

    /// What an upload test needs, in a temporary folder it removes: `random-NMiB.bin` of seeded
    /// random bytes with its SHA-256 in hexadecimal, and a folder `received` for the server to
    /// write into, with the `holdfast serve` arguments that do so through a 64 KiB message limit.
    struct UploadFixture {
        let directory: URL
        let received: URL
        let file: URL
        let digest: String
        var serveArguments: [String] { ["--mode", "files", "--files-dir", received.path, "--max-message-size", "65536"] }

        init(size: Int) throws {
            directory = try BrowserSupport.temporaryDirectory()
            received = directory.appendingPathComponent("received")
            try FileManager.default.createDirectory(at: received, withIntermediateDirectories: true)
            file = directory.appendingPathComponent("random-\(size >> 20)MiB.bin")
            let data = seededBytes(size, seed: UInt64(size)).withUnsafeReadableBytes { Data($0) }
            try data.write(to: file)
            digest = BrowserTests.hex(SHA256.hash(data: data))
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    /// Opens `/upload` at `url`; `false`, with an issue recorded, when the server answered
    /// something else (a build without the page, a server of another mode).
    static func openUploadPage(_ page: Page, _ url: String) async throws -> Bool {
        try await page.navigate(url)
        guard try await page.evaluate("document.getElementById('file') !== null") == true else {
            let body = try await page.evaluate("document.body.innerText.slice(0, 200)")
            Issue.record("/upload has no <input id=file>; it answered: \(body)")
            return false
        }
        return true
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// Puts an `<input type=file id=upload-source>` in the page with `path` as its file.
    static func chooseFile(_ page: Page, _ path: String) async throws {
        try await page.run("""
            const input = document.createElement('input');
            input.type = 'file';
            input.id = 'upload-source';
            document.body.append(input);
            """)
        try await page.setFileInputFiles("#upload-source", [path])
        #expect(try await page.evaluate("document.getElementById('upload-source').files.length") == 1)
    }

    /// Starts `HF.upload` of the chosen file to `url` with `options` (a JavaScript object literal
    /// without `onProgress`); every progress report goes to `T.progress`, the result to
    /// `T.uploaded`, a failure to `T.uploadFailed`.
    static func startUpload(_ page: Page, _ url: String, options: String = "{}") async throws {
        try await page.run("""
            T.progress = [];
            T.uploaded = null;
            T.uploadFailed = null;
            const file = document.getElementById('upload-source').files[0];
            const options = Object.assign(\(options), { onProgress(report) { T.progress.push(T.plain(report)); } });
            HF.upload(\(DevTools.text(.string(url))), file, options)
              .then(result => { T.uploaded = T.plain(result); })
              .catch(error => { T.uploadFailed = String(error && error.stack || error); });
            """)
    }

    @Test("g. a 64 MiB file chosen on /upload survives two server restarts (at ~30% and ~60% acknowledged): the page shows the file's SHA-256, the received file is identical, the page's heap with its ArrayBuffers stays under 16 MiB, a quarter of the file, uncollected and after a collection")
    func uploadAcrossRestarts() async throws {
        let size = 64 << 20
        let heapBound = 16 << 20
        let upload = try UploadFixture(size: size)
        defer { upload.remove() }
        let (received, file, digest, arguments) = (upload.received, upload.file, upload.digest, upload.serveArguments)
        try await CurrentServer.with(arguments) { server in
            try await Self.withPage { page in
                guard try await Self.openUploadPage(page, server.page("/upload")) else { return }
                // The V8 heap's used bytes, every 250 ms; and at each checkpoint, after a full
                // garbage collection, what the page holds: the heap plus the ArrayBuffers (file
                // slices and chunks live outside the V8 heap, so a page that read the whole file
                // would show there; without the collection they count the slices already sent
                // that no collection has freed yet).
                let heapPeak = NIOLockedValueBox(0)
                let rawPeak = NIOLockedValueBox(0)
                var heldAtCheckpoints: [Page.HeapUsage] = []
                let sampling = Task {
                    while !Task.isCancelled {
                        if let heap = try? await page.heapUsage() {
                            heapPeak.withLockedValue { $0 = max($0, heap.used) }
                            rawPeak.withLockedValue { $0 = max($0, heap.held) }
                        }
                        try? await Task.sleep(for: .milliseconds(250))
                    }
                }
                defer { sampling.cancel() }
                let started = ContinuousClock.now
                // Choosing the file starts the page's upload, as a user's choice does.
                try await page.setFileInputFiles("#file", [file.path])
                let finished = "!document.getElementById('result').hidden || !document.getElementById('error').hidden"
                let sending = "document.querySelector('#phases [data-phase=sending]').className === 'current'"
                let acknowledged = "(\(sending) ? document.getElementById('progress').value : 0)"
                // Kept after the test (the directory with the 64 MiB files is removed): a look at
                // the page mid-transfer, its path in the log.
                let screenshots = FileManager.default.temporaryDirectory.appendingPathComponent("holdfast-browser-screenshots")
                try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
                let screenshot = screenshots.appendingPathComponent("upload-mid-transfer-\(UUID().uuidString.prefix(8)).png")
                for (fraction, shoot) in [(0.3, false), (0.45, true), (0.6, false)] {
                    let bytes = Int(Double(size) * fraction)
                    try await page.waitFor("(\(finished)) || \(acknowledged) >= \(bytes)",
                                           "\(Int(fraction * 100))% acknowledged", limit: .seconds(60))
                    guard try await page.evaluate(finished) == false else {
                        let error = try await page.evaluate("document.getElementById('error').textContent")
                        Issue.record("the upload ended before \(Int(fraction * 100))% could be passed: \(error)")
                        return
                    }
                    try await page.collectGarbage()
                    heldAtCheckpoints.append(try await page.heapUsage())
                    if shoot {
                        try await page.screenshot(to: screenshot)
                        print("mid-transfer screenshot of /upload: \(screenshot.path)")
                    } else {
                        print("restarting at \(try await page.evaluate(acknowledged)) of \(size) acknowledged")
                        try await server.restart()
                    }
                }
                try await page.waitFor(finished, "the page's result", limit: .seconds(90))
                sampling.cancel()
                let error = try await page.evaluate("document.getElementById('error').hidden ? null : document.getElementById('error').textContent")
                #expect(error == .null, "the page shows an error: \(error)")
                let shown = try await page.evaluate("""
                    ({ digest: document.getElementById('digest').textContent,
                       name: document.getElementById('resultName').textContent,
                       connections: document.getElementById('connections').textContent,
                       progress: document.getElementById('progress').value })
                    """)
                let peak = heapPeak.withLockedValue { $0 }
                print("""
                    64 MiB upload through /upload: \(ContinuousClock.now - started); JS heap used peaked at \(peak / 1024) KiB \
                    (with uncollected ArrayBuffers \(rawPeak.withLockedValue { $0 } / 1024) KiB); after a collection at \
                    30/45/60%: \(heldAtCheckpoints.map(\.description).joined(separator: "; ")); page shows \(shown)
                    """)
                #expect(shown["digest"]?.string?.lowercased() == digest, "\(shown)")
                #expect(shown["name"] == "random-64MiB.bin", "\(shown)")
                #expect(shown["progress"]?.int == size, "\(shown)")
                // The first connection and one after each restart, at least.
                #expect(Int(shown["connections"]?.string ?? "") ?? 0 >= 3, "\(shown)")
                let copied = try Data(contentsOf: received.appendingPathComponent("random-64MiB.bin"))
                #expect(copied.count == size)
                #expect(Self.hex(SHA256.hash(data: copied)) == digest)
                #expect(peak > 0 && peak < heapBound, "the page's heap peaked at \(peak) bytes")
                // With its ArrayBuffers, uncollected: the hash reads into one reused buffer and the
                // chunks are Blobs the browser reads itself, so nothing waits for the collector.
                let held = rawPeak.withLockedValue { $0 }
                #expect(held < heapBound, "with uncollected ArrayBuffers the page peaked at \(held) bytes")
                #expect(heldAtCheckpoints.count == 3)
                for held in heldAtCheckpoints {
                    #expect(held.held < heapBound, "after a collection, the page holds \(held)")
                }
            }
        }
    }

    @Test("g'. without the limits (limitsURL: null), a 1 MiB chunk trips one 1009, the upload adapts and completes")
    func uploadLearnsTheLimit() async throws {
        let size = 6 << 20
        let upload = try UploadFixture(size: size)
        defer { upload.remove() }
        let (received, file, digest, arguments) = (upload.received, upload.file, upload.digest, upload.serveArguments)
        try await ServeProcess.with(arguments) { server in
            try await Self.withModulePage(server.port) { page in
                try await Self.chooseFile(page, file.path)
                try await Self.startUpload(page, "ws://127.0.0.1:\(server.port)/",
                                           options: "{ limitsURL: null, chunkSize: 1 << 20 }")
                let result = try await page.waitFor("T.uploadFailed ? { failed: T.uploadFailed } : T.uploaded",
                                                    "the upload's result", limit: .seconds(60))
                #expect(result["failed"] == nil, "\(result)")
                #expect(result["digest"]?.string?.lowercased() == digest, "\(result)")
                #expect(result["size"]?.int == size, "\(result)")
                // The first connection ended in the 1009; the second carried the file.
                #expect(result["connections"] == 2, "\(result)")
                #expect((result["chunkSize"]?.int ?? .max) <= 65536 - 27, "\(result)")
                let reconnects = try await page.evaluate("T.progress.filter(p => p.phase === 'reconnecting').map(p => p.code)")
                #expect(reconnects == [1009], "\(reconnects)")
                let status = try await BrowserSupport.status(server)
                #expect(BrowserSupport.closes(status, code: 1009) == 1, "\(status)")
                #expect(status["totalConnections"] == 2, "\(status)")
                let copied = try Data(contentsOf: received.appendingPathComponent("random-6MiB.bin"))
                #expect(Self.hex(SHA256.hash(data: copied)) == digest)
            }
        }
    }

    /// Wraps the `value` setter of `/upload`'s `<progress id=progress>`: every value set while the
    /// Sending phase is current (the page sets the bar to each report's `acknowledged`, right after
    /// it marks the phase) goes to `window.acknowledgedValues` and, the last one, to
    /// `sessionStorage` (`holdfast.test.lastAcknowledged`), which outlives a reload of the tab.
    static let progressRecorder = """
        window.acknowledgedValues = [];
        window.pageMarker = Math.random();
        const bar = document.getElementById('progress');
        const original = Object.getOwnPropertyDescriptor(HTMLProgressElement.prototype, 'value');
        Object.defineProperty(bar, 'value', {
          configurable: true,
          get() { return original.get.call(this); },
          set(value) {
            if (document.querySelector('#phases [data-phase=sending]').className === 'current') {
              acknowledgedValues.push(value);
              sessionStorage.setItem('holdfast.test.lastAcknowledged', String(value));
            }
            original.set.call(this, value);
          },
        });
        // How the page's sockets are closed (the last one, with what was still buffered), kept
        // across the reload.
        const close = WebSocket.prototype.close;
        WebSocket.prototype.close = function (...args) {
          sessionStorage.setItem('holdfast.test.close',
                                 JSON.stringify({ code: args[0] ?? null, buffered: this.bufferedAmount }));
          return close.apply(this, args);
        };
        return window.pageMarker;
        """

    /// The bytes of the partial transfers (`.holdfast-partial/*.data`) in the files directory `received`.
    static func partialBytes(in received: URL) -> Int {
        let partial = received.appendingPathComponent(".holdfast-partial")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: partial.path)) ?? []
        return names.filter { $0.hasSuffix(".data") }.compactMap { name in
            (try? FileManager.default.attributesOfItem(atPath: partial.appendingPathComponent(name).path))?[.size]
                as? Int
        }.reduce(0, +)
    }

    @Test("j. an upload on /upload resumes after a page reload at ≥ 40% acknowledged: the same file chosen again starts from the server's offset (not 0), completes with the file's SHA-256, the received file is identical, and the server received less than the file + 8 MiB")
    func uploadResumesAfterReload() async throws {
        let size = 32 << 20
        let window = 4 << 20
        let upload = try UploadFixture(size: size)
        defer { upload.remove() }
        let (received, file, digest, arguments) = (upload.received, upload.file, upload.digest, upload.serveArguments)
        try await ServeProcess.with(arguments) { server in
            try await Self.withPage { page in
                guard try await Self.openUploadPage(page, "http://127.0.0.1:\(server.port)/upload") else { return }
                let finished = "!document.getElementById('result').hidden || !document.getElementById('error').hidden"
                let firstMarker = try await page.run(Self.progressRecorder)
                let started = ContinuousClock.now
                try await page.setFileInputFiles("#file", [file.path])
                let fortyPercent = Int(Double(size) * 0.4)
                try await page.waitFor("(\(finished)) || acknowledgedValues.some(value => value >= \(fortyPercent))",
                                       "40% acknowledged", limit: .seconds(60))
                // A reload, as a person's: the page is unloaded (pagehide closes its socket with
                // 4001), not kept in the back/forward cache, and loaded again.
                let events = page.events()
                _ = try await page.send("Page.reload", ["ignoreCache": false])
                let navigated = try await DevTools.next("Page.frameNavigated", in: events, limit: .seconds(15)) {
                    $0.params["frame"]?["parentId"] == nil
                }
                _ = try await DevTools.next("Page.loadEventFired", in: events, limit: .seconds(15))
                #expect(navigated.params["type"]?.string != "BackForwardCacheRestore", "\(navigated.params)")
                // The old document is gone: its marker and its recorder with it.
                #expect(try await page.evaluate("typeof window.pageMarker") == "undefined")
                let lastAcknowledged = try #require(
                    Int(try await page.evaluate("sessionStorage.getItem('holdfast.test.lastAcknowledged')").string ?? ""),
                    "the old page recorded no acknowledged offset")
                guard lastAcknowledged < size else {
                    Issue.record("the upload had completed (\(lastAcknowledged) acknowledged) before the reload")
                    return
                }
                // Its upload stopped: the server holds no connection, and the partial file no longer
                // grows.
                try await waitUntil("the old page's connection closed", limit: .seconds(3)) {
                    let status = try await BrowserSupport.status(server)
                    return status["connections"] == 0
                }
                // The page closed with 4001 on pagehide. Its close frame queues behind what is
                // still in the socket's buffer; when that has not drained as the document goes,
                // Chromium closes with its own 1001 instead. Either is a departure, never a 1006:
                // the upload keeps less than two chunks in the buffer (with megabytes there, the
                // server saw 1006 every time).
                let departed = try await BrowserSupport.status(server)
                let leaving = BrowserSupport.closes(departed, code: 4001) + BrowserSupport.closes(departed, code: 1001)
                #expect(leaving == 1 && departed["pageDepartures"] == 1, "\(departed)")
                #expect(BrowserSupport.closes(departed, code: 1006) == 0, "\(departed)")
                let closed = try JSON(
                    parsing: try await page.evaluate("sessionStorage.getItem('holdfast.test.close')").string ?? "null")
                print("""
                    the old page closed its socket with \(closed); the server counted \(departed["closes"] ?? .null), \
                    pageDepartures \(departed["pageDepartures"] ?? .null)
                    """)
                #expect(closed["code"] == 4001, "\(closed)")
                let held = Self.partialBytes(in: received)
                try await Task.sleep(for: .milliseconds(300))
                #expect(Self.partialBytes(in: received) == held, "the partial file still grows after the reload")
                let receivedBeforeReload = try #require(departed["bytesReceived"]?.int)
                print("""
                    reload at \(lastAcknowledged) of \(size) acknowledged in the old page; the server holds \(held) \
                    bytes, received \(receivedBeforeReload)
                    """)
                #expect(held >= lastAcknowledged, "the server holds \(held) bytes, \(lastAcknowledged) were acknowledged")
                #expect(held < size)

                // The new page: the same file chosen again.
                let secondMarker = try await page.run(Self.progressRecorder)
                #expect(secondMarker != firstMarker)
                try await page.setFileInputFiles("#file", [file.path])
                try await page.waitFor(finished, "the page's result", limit: .seconds(60))
                let elapsed = ContinuousClock.now - started
                let error = try await page.evaluate(
                    "document.getElementById('error').hidden ? null : document.getElementById('error').textContent")
                #expect(error == .null, "the page shows an error: \(error)")
                let shown = try await page.evaluate("""
                    ({ digest: document.getElementById('digest').textContent,
                       name: document.getElementById('resultName').textContent,
                       resent: document.getElementById('resent').textContent,
                       connections: document.getElementById('connections').textContent,
                       progress: document.getElementById('progress').value,
                       acknowledged: acknowledgedValues })
                    """)
                guard case .array(let values)? = shown["acknowledged"], let first = values.first?.int else {
                    Issue.record("the new page reported no sending progress: \(shown)")
                    return
                }
                print("""
                    upload resumed after a reload: first offset on the new page \(first) (the server held \(held), \
                    the old page saw \(lastAcknowledged) acknowledged); \(values.count) sending reports; done in \
                    \(elapsed); page shows digest \(shown["digest"] ?? .null), resent \(shown["resent"] ?? .null), \
                    connections \(shown["connections"] ?? .null)
                    """)
                // It resumed: from what the server held (within a window), never from 0.
                #expect(first > 0, "the new page started from 0")
                #expect(first >= held - window, "resumed at \(first), the server held \(held)")
                #expect(first >= lastAcknowledged, "resumed at \(first) below the \(lastAcknowledged) acknowledged")
                #expect(values.last?.int == size, "\(shown)")
                #expect(shown["digest"]?.string?.lowercased() == digest, "\(shown)")
                #expect(shown["name"] == "random-32MiB.bin", "\(shown)")
                #expect(shown["progress"]?.int == size, "\(shown)")
                let copied = try Data(contentsOf: received.appendingPathComponent("random-32MiB.bin"))
                #expect(copied.count == size)
                #expect(Self.hex(SHA256.hash(data: copied)) == digest)
                #expect(Self.partialBytes(in: received) == 0, "a partial transfer is left")
                // Sent once, not twice: everything arrived, and at most a window or two again.
                let status = try await BrowserSupport.status(server)
                let total = try #require(status["bytesReceived"]?.int)
                print("the server received \(total) bytes for a \(size)-byte file (\(total - size) over)")
                #expect(total >= size, "\(status)")
                #expect(total < size + (8 << 20), "the server received \(total) bytes for a \(size)-byte file")
                #expect(status["totalConnections"]?.int == 2, "\(status)")
            }
        }
    }

    // MARK: - Channels

    @Test("h. channels: a page subscribed while 200 messages are published over ~3 s and the server restarts twice gets offsets 1…200 once each, in order")
    func channelsAcrossRestarts() async throws {
        let count = 200
        let directory = try BrowserSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = ["--mode", "channels", "--history-dir", directory.path, "--drain-timeout", "2"]
        try await CurrentServer.with(arguments) { server in
            try await Self.withModulePage(server.port) { page in
                try await page.run("""
                    window.channels = new HF.ChannelClient(\(DevTools.text(.string(server.url()))));
                    T.watch(channels.socket, 'channels', ['open', 'close', 'gaveup']);
                    window.subscription = T.watch(channels.subscribe('browser'), 'subscription',
                                                  ['publication', 'subscribed', 'gap', 'error']);
                    """)
                try await page.waitFor("T.of('subscribed').length >= 1", "the subscription")
                let policy = ReconnectPolicy(initialDelay: .milliseconds(50), serverRestartInitialDelay: .milliseconds(200),
                                             maximumDelay: .milliseconds(500))
                let connection = ReconnectingWebSocketConfiguration(
                    client: .init(webSocket: testWebSocketConfiguration()), policy: policy)
                let publisher = ChannelClient(url: server.url(), configuration: .init(connection: connection),
                                              logger: silentLogger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try? await publisher.run() }
                    defer {
                        publisher.close()
                        group.cancelAll()
                    }
                    let acknowledged = NIOLockedValueBox(0)
                    let publishing = Task {
                        for index in 1...count {
                            _ = try await publisher.publish(.text("message \(index)"), to: "browser")
                            acknowledged.withLockedValue { $0 = index }
                            try await Task.sleep(for: .milliseconds(15))
                        }
                    }
                    for _ in 1...2 {
                        try await Task.sleep(for: .seconds(1))
                        let before = acknowledged.withLockedValue { $0 }
                        #expect(before < count, "publishing had ended before the restart")
                        try await server.restart()
                        print("channels: restarted after \(before) of \(count) publishes acknowledged")
                    }
                    try await withTimeout("every publish acknowledged", limit: .seconds(60)) {
                        try await publishing.value
                    }
                }
                try await page.waitFor("T.of('publication').some(e => e.detail.offset >= \(count))",
                                       "offset \(count) in the page", limit: .seconds(30))
                try await Task.sleep(for: .milliseconds(300))
                let offsets = try await page.evaluate("T.of('publication').map(e => e.detail.offset)")
                #expect(offsets == .array((1...count).map { .number(Double($0)) }))
                let data = try await page.evaluate("T.of('publication').map(e => e.detail.data)")
                #expect(data == .array((1...count).map { .string("message \($0)") }))
                #expect(try await page.evaluate("T.of('gap').length + T.of('error').length") == 0)
                // The restarts reached the page: it connected again (once or twice: the second
                // restart may come before its backoff after the first one has run out) and
                // subscribed again on every connection.
                let opens = try #require(try await page.evaluate("T.of('open', 'channels').length").int)
                #expect(opens >= 2)
                #expect(try await page.evaluate("T.of('subscribed').length").int == opens)
                print("channels: the page connected \(opens) times")
                #expect(try await page.evaluate("T.of('gaveup').length") == 0)
            }
        }
    }

    /// The entries of `/chat`'s log, in the order shown: `{offset, from, text}` for a message
    /// (`offset` as shown, `#N`), `{marker}` for a gap or new-history marker.
    static let chatLog = """
        [...document.querySelectorAll('#log > li')].map(item => item.classList.contains('marker')
          ? { marker: item.textContent }
          : { offset: item.querySelector('.offset')?.textContent ?? null,
              from: item.querySelector('.from')?.textContent ?? null,
              text: item.querySelector('.text')?.textContent ?? null })
        """

    /// Types `text` into the input `id` of the page, as a keyboard would (`Input.insertText`).
    static func type(_ page: Page, into id: String, _ text: String) async throws {
        try await page.run("const input = document.getElementById(\(DevTools.text(.string(id)))); input.focus(); input.select();")
        _ = try await page.send("Input.insertText", ["text": .string(text)])
        #expect(try await page.evaluate("document.getElementById(\(DevTools.text(.string(id)))).value") == .string(text))
    }

    /// Writes `text` in `/chat`'s message field and presses Send.
    static func say(_ page: Page, _ text: String) async throws {
        try await type(page, into: "message", text)
        try await page.run("document.getElementById('send').click();")
    }

    @Test("k. /chat mid-conversation (?lang=es): three messages through the form, two published from Swift, a server restart, one more after the reconnect — the log shows each once, in offset order; a page opened afterwards shows the room's recent history")
    func chatMidConversation() async throws {
        let directory = try BrowserSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = ["--mode", "channels", "--history-dir", directory.path, "--drain-timeout", "2"]
        // Who says what, in the order sent (and so the offsets): the page's person and Ada, from Swift.
        let conversation: [(from: String, text: String, fromPage: Bool)] = [
            ("Grace", "Hola, ¿hay alguien?", true),
            ("Ada", "Sí, aquí estoy", false),
            ("Grace", "<b>esto no es HTML</b> & 😀", true),
            ("Ada", "Se ve como texto, bien", false),
            ("Grace", "Voy a reiniciar el servidor", true),
            ("Grace", "Y seguimos tras la reconexión", true),
        ]
        let entries: [JSON] = conversation.enumerated().map { index, message in
            ["offset": .string("#\(index + 1)"), "from": .string(message.from), "text": .string(message.text)]
        }
        let expected = JSON.array(entries)
        let joined = "conectado — en room"
        let resumed = "conectado de nuevo — se reenviaron los mensajes perdidos"
        try await CurrentServer.with(arguments) { server in
            try await Chromium.withBrowser { chromium in
                try await DevTools.with(chromium) { devtools in
                    try await devtools.withPage { page in
                        try await page.navigate(server.page("/chat?lang=es"))
                        guard try await page.evaluate("document.getElementById('log') !== null") == true else {
                            let body = try await page.evaluate("document.body.innerText.slice(0, 200)")
                            Issue.record("/chat has no #log; it answered: \(body)")
                            return
                        }
                        #expect(try await page.evaluate("document.documentElement.lang") == "es")
                        try await page.waitFor("document.getElementById('status').textContent === \(DevTools.text(.string(joined)))",
                                               "the page to join the room")
                        try await Self.type(page, into: "name", "Grace")
                        try await page.run("document.getElementById('name').blur();")

                        let policy = ReconnectPolicy(initialDelay: .milliseconds(50),
                                                     serverRestartInitialDelay: .milliseconds(200),
                                                     maximumDelay: .milliseconds(500))
                        let connection = ReconnectingWebSocketConfiguration(
                            client: .init(webSocket: testWebSocketConfiguration()), policy: policy)
                        let publisher = ChannelClient(url: server.url(), configuration: .init(connection: connection),
                                                      logger: silentLogger)
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask { try? await publisher.run() }
                            defer {
                                publisher.close()
                                group.cancelAll()
                            }
                            for (index, message) in conversation.prefix(5).enumerated() {
                                if message.fromPage {
                                    try await Self.say(page, message.text)
                                } else {
                                    let json = DevTools.text(["from": .string(message.from), "text": .string(message.text)])
                                    let ack = try await withTimeout("Ada's publish", limit: .seconds(10)) {
                                        try await publisher.publish(.text(json), to: "room")
                                    }
                                    #expect(ack.position.offset == UInt64(index + 1), "\(ack)")
                                }
                                try await page.waitFor("document.querySelectorAll('#log > li').length >= \(index + 1)",
                                                       "message \(index + 1) in the log")
                            }
                        }
                        #expect(try await page.evaluate(Self.chatLog) == .array(Array(entries.prefix(5))))
                        // Kept after the test: the page mid-conversation, its path in the log.
                        let screenshots = FileManager.default.temporaryDirectory
                            .appendingPathComponent("holdfast-browser-screenshots")
                        try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
                        let screenshot = screenshots.appendingPathComponent(
                            "chat-mid-conversation-\(UUID().uuidString.prefix(8)).png")
                        try await page.screenshot(to: screenshot)
                        print("mid-conversation screenshot of /chat?lang=es: \(screenshot.path)")

                        try await server.restart()
                        try await page.waitFor(
                            "document.getElementById('status').textContent === \(DevTools.text(.string(resumed)))",
                            "the page to reconnect and resume", limit: .seconds(20))
                        try await Self.say(page, conversation[5].text)
                        try await page.waitFor("document.querySelectorAll('#log > li').length >= 6", "message 6 in the log")
                        // Anything shown twice would be there by now.
                        try await Task.sleep(for: .milliseconds(300))
                        let log = try await page.evaluate(Self.chatLog)
                        #expect(log == expected, "the log: \(log)")
                        #expect(try await page.evaluate("document.getElementById('error').hidden") == true)
                        #expect(try await page.evaluate("document.querySelectorAll('#log b').length") == 0)

                        // A page opened now: the room's recent history, once each, in order.
                        try await devtools.withPage { second in
                            try await second.navigate(server.page("/chat?lang=es"))
                            try await second.waitFor(
                                "document.getElementById('status').textContent === \(DevTools.text(.string(joined)))",
                                "the second page to join the room")
                            do {
                                try await second.waitFor("document.querySelectorAll('#log > li').length >= 6",
                                                         "the room's history in a page opened afterwards",
                                                         limit: .seconds(5))
                            } catch let error as Page.ScriptError {
                                Issue.record("a page opened after the conversation does not show it: \(error)")
                            }
                            try await Task.sleep(for: .milliseconds(300))
                            let history = try await second.evaluate(Self.chatLog)
                            #expect(history == expected, "the second page's log: \(history)")
                        }
                    }
                }
            }
        }
    }

    // MARK: - The policy in the page and in Swift

    @Test("i. no drift: for every code 1000–4999, isRetryable and initialDelayMs in the page equal ReconnectPolicy's; so do the backoff ceilings, the hint's floor and ceiling, the hint read from a reason, and the limit a 1009 names")
    func policyDrift() async throws {
        try await ServeProcess.with([]) { server in
            try await Self.withModulePage(server.port) { page in
                let table = try await page.run("""
                    const retryable = [], initial = [];
                    for (let code = 1000; code <= 4999; code++) {
                      retryable.push(HF.isRetryable(code));
                      initial.push(HF.initialDelayMs(code));
                    }
                    return { retryable, initial };
                    """)
                guard case .array(let retryable)? = table["retryable"], case .array(let initial)? = table["initial"],
                      retryable.count == 4000, initial.count == 4000 else {
                    Issue.record("unexpected table: \(table.serialized.prefix(300))")
                    return
                }
                let policy = ReconnectPolicy()
                var differences: [String] = []
                for code in 1000...4999 {
                    let ending = ReconnectPolicy.Disconnection.closed(
                        CloseOutcome(sent: nil, received: CloseFrame(code: CloseCode(UInt16(code)), reason: "")))
                    let delay = policy.initialDelay(after: ending).components
                    let milliseconds = Int(delay.seconds * 1000 + delay.attoseconds / 1_000_000_000_000_000)
                    let index = code - 1000
                    if retryable[index] != .bool(policy.isRetryable(ending)) {
                        differences.append("\(code): isRetryable \(retryable[index]) in the page")
                    }
                    if initial[index] != .number(Double(milliseconds)) {
                        differences.append("\(code): initialDelayMs \(initial[index]) in the page, \(milliseconds) in Swift")
                    }
                }
                #expect(differences.isEmpty, "\(differences.prefix(20).joined(separator: "; "))")

                // The backoff and the retry hint, read and clamped, by the same numbers.
                let hints = [0, 1, 99, 100, 1500, 29_999, 30_000, 45_000]
                let reasons = ["server shutting down; retry in 1500 ms", "retry in 0 ms", "retry in 250 msec",
                               "retry in -5 ms", "retry in 12 s", "retry in ms", "going away", "", "retry in 70 ms please"]
                let reasonsJSON = JSON.array(reasons.map { .string($0) }).serialized
                let limitReasons = ["message exceeds limit of 65536 bytes", "frame exceeds limit of 16384 bytes",
                                    "limit of 1 byte", "limit of 0 bytes", "limit of -3 bytes", "limit of 4096 KiB",
                                    "message too big", "", "exceeds limit of 2048 bytes; retry in 100 ms"]
                let limitReasonsJSON = JSON.array(limitReasons.map { .string($0) }).serialized
                let shared = try await page.run("""
                    const ceilings = [];
                    for (const code of [1001, 1006]) for (let attempt = 0; attempt < 12; attempt++) {
                      ceilings.push(HF.backoffCeilingMs(attempt, code));
                    }
                    return { ceilings, honoured: \(hints).map((hint) => HF.honouredHintMs(hint)),
                             read: \(reasonsJSON).map((reason) => HF.retryHintMs(reason)),
                             limits: \(limitReasonsJSON).map((reason) => HF.announcedLimitFromReason(reason)) };
                    """)
                func milliseconds(_ duration: Duration) -> Double {
                    let (seconds, attoseconds) = duration.components
                    return Double(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
                }
                let ceilings = [1001, 1006].flatMap { code in
                    (0..<12).map { attempt in
                        JSON.number(milliseconds(policy.ceiling(forAttempt: attempt, after: .closed(
                            CloseOutcome(sent: nil, received: CloseFrame(code: CloseCode(UInt16(code))))))))
                    }
                }
                #expect(shared["ceilings"] == .array(ceilings))
                #expect(shared["honoured"] == .array(hints.map { .number(milliseconds(policy.delay(honouring: .milliseconds($0)))) }))
                #expect(shared["read"] == .array(reasons.map { reason in
                    CloseFrame(code: .goingAway, reason: reason).retryHint.map { .number(milliseconds($0)) } ?? .null
                }))
                // The limit a 1009's reason names, which the page (like the Swift sender) fits its
                // messages and chunks to.
                #expect(shared["limits"] == .array(limitReasons.map { reason in
                    CloseFrame(code: .messageTooBig, reason: reason).namedLimit.map { .number(Double($0)) } ?? .null
                }))
            }
        }
    }
}
