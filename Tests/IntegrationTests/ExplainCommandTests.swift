import Foundation
import Testing

/// `holdfast explain` and `holdfast compare`, run as the built tool in a subprocess.
///
/// Serialized: each run waits for its subprocess on a thread of the shared task pool, and ten
/// of them at once would leave the rest of the suite (time-sensitive loopback tests) no thread.
@Suite("holdfast explain / compare — the close-code pages on the command line", .serialized)
struct ExplainCommandTests {
    @Test("explain 1009 --format json: an array with one object carrying every field")
    func explainJSON() throws {
        let run = try HoldfastTool.run(["explain", "1009", "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
        let array = try #require(parsed as? [[String: Any]])
        #expect(array.count == 1)
        let object = try #require(array.first)
        #expect(object["code"] as? Int == 1009)
        #expect(object["name"] as? String == "messageTooBig")
        for key in ["meaning", "whenSeen", "howToFix", "title", "summary", "action"] {
            #expect((object[key] as? String)?.isEmpty == false, "\(key)")
        }
        #expect(object["sendable"] as? Bool == true)
        #expect(object["retry"] as? Bool == true)
        #expect(object["language"] as? String == "en")
    }

    @Test("explain several codes as JSON, in Spanish; 1006 is never sent and 1000 not retried")
    func explainSeveral() throws {
        let run = try HoldfastTool.run(["explain", "1000", "1006", "4000", "--format", "json", "--lang", "es"])
        #expect(run.status == 0, "\(run.stderr)")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        #expect(array.map { $0["code"] as? Int } == [1000, 1006, 4000])
        #expect(array.map { $0["sendable"] as? Bool } == [true, false, true])
        #expect(array.map { $0["retry"] as? Bool } == [false, true, false])
        #expect(array[0]["title"] as? String == "Cierre normal")
    }

    @Test("--lang es prints the Spanish headings")
    func spanishHeadings() throws {
        let explain = try HoldfastTool.run(["explain", "1009", "--lang", "es"])
        #expect(explain.status == 0, "\(explain.stderr)")
        for heading in ["Qué significa", "Cuándo lo verás", "Cómo solucionarlo", "Mensaje demasiado grande"] {
            #expect(explain.stdout.contains(heading), "\(heading)")
        }
        let compare = try HoldfastTool.run(["compare", "1001", "1009", "--lang", "es"])
        #expect(compare.status == 0, "\(compare.stderr)")
        for heading in ["Qué significa", "Cuándo lo verás", "Cómo solucionarlo", "Diferencias clave",
                        "Cuándo aplica cada uno", "1001 goingAway frente a 1009 messageTooBig"] {
            #expect(compare.stdout.contains(heading), "\(heading)")
        }
    }

    @Test("compare 1001 1009 as text, Markdown and JSON")
    func compare() throws {
        let text = try HoldfastTool.run(["compare", "1001", "1009"])
        #expect(text.status == 0, "\(text.stderr)")
        for heading in ["What it means", "When you will see it", "How to fix it", "Key differences", "When each applies",
                        "1001 goingAway vs 1009 messageTooBig"] {
            #expect(text.stdout.contains(heading), "\(heading)")
        }

        let markdown = try HoldfastTool.run(["compare", "1001", "1009", "--format", "markdown"])
        #expect(markdown.status == 0)
        #expect(markdown.stdout.hasPrefix("# 1001 goingAway vs 1009 messageTooBig\n"))
        #expect(markdown.stdout.contains("| **What it means** |"))
        #expect(markdown.stdout.contains("## Key differences"))

        let json = try HoldfastTool.run(["compare", "1001", "1009", "--format", "json"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["first"] as? [String: Any])?["code"] as? Int == 1001)
        #expect((object["second"] as? [String: Any])?["code"] as? Int == 1009)
        #expect((object["keyDifferences"] as? [String])?.count == 4)
        #expect((object["whenEachApplies"] as? [String])?.count == 2)
    }

    @Test("a code outside 1000-4999, not a number, or the wrong count: one line on stderr, non-zero exit",
          arguments: [["explain", "999"], ["explain", "abc"], ["explain", "5000"], ["explain", "1009", "70000"],
                      ["explain"], ["explain", "1009", "--lang", "fr"], ["explain", "1009", "--format", "xml"],
                      ["compare", "1001"], ["compare", "1001", "x"], ["compare", "1001", "1009", "1011"]])
    func badInput(arguments: [String]) throws {
        let run = try HoldfastTool.run(arguments)
        #expect(run.status != 0)
        #expect(run.stdout.isEmpty)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("holdfast: error: "), "\(run.stderr)")
    }

    @Test("--help shows examples", arguments: ["explain", "compare"])
    func help(subcommand: String) throws {
        let run = try HoldfastTool.run([subcommand, "--help"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("Examples:"))
        #expect(run.stdout.contains("holdfast \(subcommand) 100"))
        #expect(run.stdout.contains("--lang"))
        #expect(run.stdout.contains("--format"))
    }
}

/// The `holdfast` executable this test run was built with.
enum HoldfastTool {
    /// What a run of the tool printed and how it exited.
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

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

    /// Runs the tool with `arguments` to completion; its output is small, so reading stdout to
    /// its end before stderr cannot block.
    static func run(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }
}
