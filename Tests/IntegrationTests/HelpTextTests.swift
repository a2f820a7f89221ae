import Testing

/// `--help` as a person reads it in an 80-column terminal: ArgumentParser wraps paragraphs
/// itself, so the texts must be paragraphs, and examples must be short enough not to be cut.
@Suite("holdfast --help — paragraphs that wrap, examples that fit")
struct HelpTextTests {
    @Test("every command's help: prose lines filled to the width, no example wrapped",
          arguments: ["", "serve", "connect", "send", "subscribe", "publish", "probe", "explain", "compare"])
    func layout(command: String) async throws {
        let run = try await HoldfastTool.run((command.isEmpty ? [] : [command]) + ["--help"],
                                             environment: ["COLUMNS": "80"])
        #expect(run.status == 0)
        let lines = run.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        // ArgumentParser prints the usage line whole, whatever the width.
        #expect(lines.allSatisfy { $0.count <= 80 || $0.hasPrefix("USAGE:") }, "\(run.stdout)")
        for (previous, line) in zip(lines, lines.dropFirst()) {
            // An example is indented; a wrapped one leaves its tail at the left margin.
            let exampleCut = previous.hasPrefix("  holdfast") && !line.isEmpty && !line.hasPrefix(" ")
            #expect(!exampleCut, "an example was cut by wrapping: \(previous) / \(line)")
        }
        // A hard line break inside a paragraph shows as a line that ends although the next
        // line's first word would still have fitted on it (ArgumentParser fills lines to 79 columns).
        for paragraph in run.stdout.split(separator: "\n\n") {
            let rows = paragraph.split(separator: "\n")
            guard !rows.contains(where: { $0.hasPrefix(" ") }) else { continue }
            for (row, next) in zip(rows, rows.dropFirst()) {
                let firstWord = next.split(separator: " ").first ?? ""
                #expect(row.count + 1 + firstWord.count >= 80, "a ragged line: \(row) / \(next)")
            }
        }
    }
}
