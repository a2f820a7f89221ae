import Foundation
import Testing

/// `holdfast explain` and `holdfast compare`, run as the built tool in a subprocess.
///
/// Serialized: ten subprocesses at once would take the CPU from the rest of the suite
/// (time-sensitive loopback tests).
@Suite("holdfast explain / compare — the close-code pages on the command line", .serialized)
struct ExplainCommandTests {
    @Test("explain 1009 --format json: an array with one object carrying every field")
    func explainJSON() async throws {
        let run = try await HoldfastTool.run(["explain", "1009", "--format", "json"])
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
    func explainSeveral() async throws {
        let run = try await HoldfastTool.run(["explain", "1000", "1006", "4000", "--format", "json", "--lang", "es"])
        #expect(run.status == 0, "\(run.stderr)")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]])
        #expect(array.map { $0["code"] as? Int } == [1000, 1006, 4000])
        #expect(array.map { $0["sendable"] as? Bool } == [true, false, true])
        #expect(array.map { $0["retry"] as? Bool } == [false, true, false])
        #expect(array[0]["title"] as? String == "Cierre normal")
    }

    @Test("--lang es prints the Spanish headings")
    func spanishHeadings() async throws {
        let explain = try await HoldfastTool.run(["explain", "1009", "--lang", "es"])
        #expect(explain.status == 0, "\(explain.stderr)")
        for heading in ["Qué significa", "Cuándo lo verás", "Cómo solucionarlo", "Mensaje demasiado grande"] {
            #expect(explain.stdout.contains(heading), "\(heading)")
        }
        let compare = try await HoldfastTool.run(["compare", "1001", "1009", "--lang", "es"])
        #expect(compare.status == 0, "\(compare.stderr)")
        for heading in ["Qué significa", "Cuándo lo verás", "Cómo solucionarlo", "Diferencias clave",
                        "Cuándo aplica cada uno", "1001 goingAway frente a 1009 messageTooBig"] {
            #expect(compare.stdout.contains(heading), "\(heading)")
        }
    }

    @Test("compare 1001 1009 as text, Markdown and JSON")
    func compare() async throws {
        let text = try await HoldfastTool.run(["compare", "1001", "1009"])
        #expect(text.status == 0, "\(text.stderr)")
        for heading in ["What it means", "When you will see it", "How to fix it", "Key differences", "When each applies",
                        "1001 goingAway vs 1009 messageTooBig"] {
            #expect(text.stdout.contains(heading), "\(heading)")
        }

        let markdown = try await HoldfastTool.run(["compare", "1001", "1009", "--format", "markdown"])
        #expect(markdown.status == 0)
        #expect(markdown.stdout.hasPrefix("# 1001 goingAway vs 1009 messageTooBig\n"))
        #expect(markdown.stdout.contains("| **What it means** |"))
        #expect(markdown.stdout.contains("## Key differences"))

        let json = try await HoldfastTool.run(["compare", "1001", "1009", "--format", "json"])
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
    func badInput(arguments: [String]) async throws {
        let run = try await HoldfastTool.run(arguments)
        #expect(run.status != 0)
        #expect(run.stdout.isEmpty)
        let lines = run.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(run.stderr)")
        #expect(run.stderr.hasPrefix("holdfast: error: "), "\(run.stderr)")
    }

    @Test("--help shows examples", arguments: ["explain", "compare"])
    func help(subcommand: String) async throws {
        let run = try await HoldfastTool.run([subcommand, "--help"])
        #expect(run.status == 0)
        #expect(run.stdout.contains("Examples:"))
        #expect(run.stdout.contains("holdfast \(subcommand) 100"))
        #expect(run.stdout.contains("--lang"))
        #expect(run.stdout.contains("--format"))
    }
}
