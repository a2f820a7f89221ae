import Foundation
import HoldfastTestSupport
import NIOConcurrencyHelpers
import Testing

/// A headless Chromium started for the tests, with its DevTools endpoint on a free port and a
/// profile in a temporary directory; ``stop()`` ends it (and every process it started) and
/// removes the profile.
///
/// The back/forward cache is on as users have it: headless mode (`--headless=new`) keeps it
/// without any flag (a page left with `Page.navigate` and returned to with
/// `Page.navigateToHistoryEntry` fires `pageshow` with `persisted === true`).
final class Chromium: Sendable {
    /// The browser endpoint: `ws://127.0.0.1:PORT/devtools/browser/ID`.
    let browserURL: String
    /// The DevTools port (also serves `/json/list`).
    let port: Int
    /// The browser process's ID (the one this class started).
    let pid: Int32
    private let process: Process
    private let profile: URL
    private let errors: NIOLockedValueBox<String>
    private let stopped = NIOLockedValueBox(false)
    /// Whether the browser leads a process group of its own (Foundation's `Process` starts it so
    /// on Linux), which its zygote and renderers join: they are reparented to init, not its
    /// children, so the group is how they are found.
    private let leadsGroup: Bool

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    /// The flags every launch uses (besides `--user-data-dir`).
    static let flags = [
        "--headless=new", "--no-sandbox", "--remote-debugging-port=0", "--no-first-run",
        "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage",
        // No crash reports. (Its crashpad handlers still start, each in a session of its own,
        // and end with the browser; --disable-crashpad-for-testing, which would stop them,
        // makes every navigation fail with net::ERR_ABORTED.)
        "--disable-crash-reporter",
        // No sign-in, sync, component updates or metrics on a test machine.
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
        // Pages in background tabs keep their timers (each test has its own tab).
        "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
        "--disable-backgrounding-occluded-windows",
    ]

    private init(process: Process, profile: URL, browserURL: String, port: Int, errors: NIOLockedValueBox<String>) {
        self.process = process
        self.pid = process.processIdentifier
        self.profile = profile
        self.browserURL = browserURL
        self.port = port
        self.errors = errors
        self.leadsGroup = getpgid(process.processIdentifier) == process.processIdentifier
    }

    /// The browser itself: Debian's `/usr/bin/chromium` is a script that `exec`s
    /// `/usr/lib/chromium/chromium` with extra flags (extensions, GPU rasterization); the tests
    /// start the browser directly when it is there, else the script (whose `exec` keeps the PID).
    static func executable() async throws -> URL {
        let launcher = try await DebianPackages.chromium()
        let browser = "/usr/lib/chromium/chromium"
        return FileManager.default.isExecutableFile(atPath: browser) ? URL(fileURLWithPath: browser) : launcher
    }

    /// Starts Chromium on `about:blank` and returns once it prints its DevTools address
    /// (at most `limit`).
    static func launch(limit: Duration = .seconds(30)) async throws -> Chromium {
        let executable = try await executable()
        let profile = FileManager.default.temporaryDirectory
            .appendingPathComponent("holdfast-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = executable
        process.arguments = flags + ["--user-data-dir=\(profile.path)", "about:blank"]
        // Loopback servers only: a proxy set where the tests run must not stand in between.
        process.environment = HoldfastTool.environmentWithoutProxies()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        let errors = NIOLockedValueBox("")
        // Drained for the browser's whole life; the last few kilobytes are kept for failure messages.
        let lines = stderr.lines(keepingTailIn: errors)
        try process.run()
        do {
            let address = try await withTimeout("Chromium to print its DevTools address", limit: limit) {
                for await line in lines {
                    if let range = line.range(of: "DevTools listening on ") {
                        return String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
                    }
                }
                throw Failed(description: "Chromium ended before printing its DevTools address")
            }
            guard let url = URL(string: address), let port = url.port, address.hasPrefix("ws://") else {
                throw Failed(description: "unexpected DevTools address: \(address)")
            }
            return Chromium(process: process, profile: profile, browserURL: address, port: port, errors: errors)
        } catch {
            let chromium = Chromium(process: process, profile: profile, browserURL: "", port: 0, errors: errors)
            await chromium.stop()
            throw Failed(description: "Chromium did not start: \(error)\n\(errors.withLockedValue { $0 })")
        }
    }

    /// What Chromium last wrote to stderr (at most 4000 characters).
    var recentErrors: String { errors.withLockedValue { $0 } }

    /// Ends the browser: SIGTERM, then after `grace` SIGKILL; then SIGKILL to every process of
    /// its group (its zygote and renderers, which may outlive it for a moment) and to any other
    /// process it started still there; then removes the profile. Stopping twice does nothing.
    func stop(grace: Duration = .seconds(5)) async {
        guard stopped.withLockedValue({ stopped in
            defer { stopped = true }
            return !stopped
        }) else { return }
        // Its renderers, GPU, network and zygote processes (its descendants), found now: once the
        // browser is gone, they are no longer its children.
        let descendants = Self.descendants(of: pid)
        if process.isRunning { kill(pid, SIGTERM) }
        if !(await exits(within: grace)) {
            kill(pid, SIGKILL)
            _ = await exits(within: .seconds(5))
        }
        // What it started and is still there: the group's members (a group's ID is not given
        // to a new process while a member runs), and its descendants if it led no group.
        if leadsGroup { kill(-pid, SIGKILL) }
        for child in descendants where Self.isChromium(child) { kill(child, SIGKILL) }
        try? FileManager.default.removeItem(at: profile)
    }

    /// Whether the browser has exited within `limit` (polled; also when the task is cancelled,
    /// as a test that ran out of time still stops its browser).
    private func exits(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            guard ContinuousClock.now < deadline else { return false }
            if Task.isCancelled {
                usleep(20_000)
            } else {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return true
    }

    /// Every process whose parent chain leads to `root`, from `/proc`.
    static func descendants(of root: Int32) -> [Int32] {
        var parents: [Int32: Int32] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), let parent = parentPID(of: pid) else { continue }
            parents[pid] = parent
        }
        var found: Set<Int32> = [root]
        var grew = true
        while grew {
            grew = false
            for (pid, parent) in parents where found.contains(parent) && !found.contains(pid) {
                found.insert(pid)
                grew = true
            }
        }
        found.remove(root)
        return found.sorted()
    }

    private static func parentPID(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    /// Whether `pid` is still a Chromium process (not a PID reused by something else).
    private static func isChromium(_ pid: Int32) -> Bool {
        guard let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return false }
        return name.hasPrefix("chrom")
    }
}

/// One Chromium for a whole suite: the suite's tests find it in ``Chromium/shared``; it is
/// started before the first test and stopped after the last.
struct SharedChromium: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable () async throws -> Void) async throws {
        let chromium = try await Chromium.launch()
        do {
            try await Chromium.$shared.withValue(chromium) { try await function() }
        } catch {
            await chromium.stop()
            throw error
        }
        await chromium.stop()
    }
}

extension Trait where Self == SharedChromium {
    /// One Chromium for the suite's tests (``Chromium/shared``).
    static var sharedChromium: Self { SharedChromium() }
}

extension Chromium {
    /// The suite's browser (``SharedChromium``), if the test runs in such a suite.
    @TaskLocal static var shared: Chromium?

    /// Runs `body` with the suite's browser, or with one started for it alone.
    static func withBrowser<Result: Sendable>(_ body: (Chromium) async throws -> Result) async throws -> Result {
        if let shared { return try await body(shared) }
        let chromium = try await launch()
        do {
            let result = try await body(chromium)
            await chromium.stop()
            return result
        } catch {
            await chromium.stop()
            throw error
        }
    }
}
