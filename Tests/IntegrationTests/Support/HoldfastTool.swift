import Foundation

/// The `holdfast` executable this test run was built with.
enum HoldfastTool {
    struct NotFound: Error, CustomStringConvertible {
        let searched: [String]
        var description: String {
            "the holdfast executable was not found (build it with `swift build`); looked at: \(searched.joined(separator: ", "))"
        }
    }

    /// Where the tool is: `$HOLDFAST_EXECUTABLE`, else next to the running test binary (where
    /// `swift test` builds it), else the newest `.build*/debug/holdfast` under the package root.
    static func executable() throws -> URL {
        let fileManager = FileManager.default
        var candidates: [URL] = []
        if let explicit = ProcessInfo.processInfo.environment["HOLDFAST_EXECUTABLE"] {
            candidates.append(URL(fileURLWithPath: explicit))
        }
        #if os(Linux)
        if let testBinary = try? fileManager.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: testBinary).deletingLastPathComponent().appendingPathComponent("holdfast"))
        }
        #endif
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("holdfast"))
        }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("holdfast"))
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let scratch = (try? fileManager.contentsOfDirectory(atPath: packageRoot.path)) ?? []
        let built = scratch.filter { $0.hasPrefix(".build") }
            .map { packageRoot.appendingPathComponent($0).appendingPathComponent("debug/holdfast") }
            .filter { fileManager.isExecutableFile(atPath: $0.path) }
            .sorted { modified($0) > modified($1) }
        candidates += built
        if let found = candidates.first(where: { fileManager.isExecutableFile(atPath: $0.path) }) {
            return found
        }
        throw NotFound(searched: candidates.map(\.path))
    }

    private static func modified(_ url: URL) -> Date {
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        return attributes?[.modificationDate] as? Date ?? .distantPast
    }

    /// Runs the tool with `arguments` and `environment`; by default the test process's
    /// environment without proxy variables, so that a proxy set where the tests run does not
    /// stand between the tool and the servers on loopback.
    static func run(_ arguments: [String], environment: [String: String] = environmentWithoutProxies(),
                    stdin: String? = nil, limit: Duration = .seconds(60)) async throws -> ProcessRun {
        try await ProcessRun.run(executable(), arguments, environment: environment, stdin: stdin, limit: limit)
    }

    /// The test process's environment without `http_proxy`, `https_proxy`, `all_proxy` and
    /// `no_proxy` in either case.
    static func environmentWithoutProxies() -> [String: String] {
        ProcessInfo.processInfo.environment.filter { !$0.key.lowercased().hasSuffix("_proxy") }
    }
}
