import Foundation

/// Real parts from Debian's packages (PostgreSQL, nginx), found where Debian puts them and
/// installed with `apt-get` when missing, so that a test never skips for want of one.
enum DebianPackages {
    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    /// The first of `candidates` that exists; if none does, installs `package` once and looks again.
    static func executable(_ candidates: @autoclosure () -> [String], package: String) async throws -> URL {
        if let found = candidates().first(where: { FileManager.default.isExecutableFile(atPath: $0) }) {
            return URL(fileURLWithPath: found)
        }
        try await install(package)
        guard let found = candidates().first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Missing(description: "\(package) was installed but none of \(candidates()) is there")
        }
        return URL(fileURLWithPath: found)
    }

    private static let installs = OneAtATime()

    /// Installs `package` with `apt-get` (one install at a time; tests run in parallel).
    private static func install(_ package: String) async throws {
        await installs.acquire()
        defer { Task { await installs.release() } }
        do {
            let environment = ProcessInfo.processInfo.environment.merging(["DEBIAN_FRONTEND": "noninteractive"]) { $1 }
            var run = try await ProcessRun.run(URL(fileURLWithPath: "/usr/bin/apt-get"), ["install", "-y", "-q", package],
                                               environment: environment, limit: .seconds(600))
            if run.status != 0 {
                // The package lists may be missing on a fresh machine.
                _ = try await ProcessRun.run(URL(fileURLWithPath: "/usr/bin/apt-get"), ["update", "-q"],
                                             environment: environment, limit: .seconds(600))
                run = try await ProcessRun.run(URL(fileURLWithPath: "/usr/bin/apt-get"), ["install", "-y", "-q", package],
                                               environment: environment, limit: .seconds(600))
            }
            guard run.status == 0 else {
                throw Missing(description: "apt-get install \(package) failed: \(run.stderr.suffix(500))")
            }
        }
    }

    /// The executables of the newest PostgreSQL server Debian installed (`/usr/lib/postgresql/N/bin`).
    static func postgresBinaries() async throws -> URL {
        func newest() -> [String] {
            let root = "/usr/lib/postgresql"
            let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
            return versions.compactMap(Int.init).sorted(by: >).map { "\(root)/\($0)/bin/postgres" }
        }
        return try await executable(newest(), package: "postgresql").deletingLastPathComponent()
    }

    /// Debian's Chromium launcher, `/usr/bin/chromium` (a shell script that `exec`s the browser
    /// in `/usr/lib/chromium`, so the PID it starts with is the browser's).
    static func chromium() async throws -> URL {
        try await executable(["/usr/bin/chromium"], package: "chromium")
    }
}

/// Lets one holder at a time through: installs run one after another, and so do the tests that
/// start a PostgreSQL (each also starts nodes and clients; all at once, they starved the
/// timing-bound tests running beside them on 2 cores).
actor OneAtATime {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        while busy { await withCheckedContinuation { waiting.append($0) } }
        busy = true
    }

    func release() {
        busy = false
        if !waiting.isEmpty { waiting.removeFirst().resume() }
    }
}
