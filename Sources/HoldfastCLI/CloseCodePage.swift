import ArgumentParser
import Foundation
import Holdfast
import HoldfastCloseCodes

/// The options `explain` and `compare` share: the language and the output format.
struct CloseCodePageOptions: ParsableArguments {
    @Option(name: .customLong("lang"), help: ArgumentHelp("Language of the text: en or es.", valueName: "en|es"))
    var language = "en"

    @Option(help: ArgumentHelp("Output: text, markdown or json.", valueName: "text|markdown|json"))
    var format = "text"

    /// The language and format asked for, or a one-line error.
    func resolved() throws -> (Language, CloseCodePage.Format) {
        guard let resolvedLanguage = Language(tag: language) else {
            throw Terminal.fail("unknown language '\(language)': use en or es")
        }
        guard let resolvedFormat = CloseCodePage.Format(rawValue: format.lowercased()) else {
            throw Terminal.fail("unknown format '\(format)': use text, markdown or json")
        }
        return (resolvedLanguage, resolvedFormat)
    }

    /// Reads the close codes given on the command line; anything that is not a number from 1000
    /// to 4999 is a one-line error.
    static func closeCodes(_ arguments: [String]) throws -> [CloseCode] {
        try arguments.map { argument in
            guard let number = Int(argument) else {
                if argument.hasPrefix("-") { throw Terminal.fail("unknown option '\(argument)'") }
                throw Terminal.fail("'\(argument)' is not a close code: expected a number from 1000 to 4999")
            }
            guard (1000...4999).contains(number) else {
                throw Terminal.fail("\(number) is not a close code: close codes are 1000-4999 (RFC 6455 §7.4.2)")
            }
            return CloseCode(UInt16(number))
        }
    }
}

/// Renders catalog entries and comparisons as terminal text, Markdown or JSON.
enum CloseCodePage {
    /// An output format.
    enum Format: String {
        case text, markdown, json
    }

    /// The page for one or more codes.
    static func render(_ entries: [CloseCodeInfo], in language: Language, as format: Format) throws -> String {
        switch format {
        case .text: return entries.map { text($0, labels: CloseCodeLabels(language)) }.joined(separator: "\n\n")
        case .markdown: return entries.map { markdown($0, labels: CloseCodeLabels(language)) }.joined(separator: "\n\n")
        case .json: return try json(entries.map(EntryJSON.init))
        }
    }

    /// The page comparing two codes.
    static func render(_ comparison: CloseCodeComparison, as format: Format) throws -> String {
        let labels = CloseCodeLabels(comparison.language)
        switch format {
        case .text: return text(comparison, labels: labels)
        case .markdown: return markdown(comparison, labels: labels)
        case .json: return try json(ComparisonJSON(comparison))
        }
    }

    // MARK: Text

    private static let width = 80

    private static func text(_ entry: CloseCodeInfo, labels: CloseCodeLabels) -> String {
        var lines = ["\(entry.label) — \(entry.title)", ""]
        for (heading, body) in [(labels.meaning, entry.meaning), (labels.whenSeen, entry.whenSeen),
                                (labels.howToFix, entry.howToFix)] {
            lines.append(heading)
            lines += wrapped(body, indent: "  ")
            lines.append("")
        }
        lines += facts(entry, labels: labels).flatMap { label, value in
            wrapped("\(label): \(value)", indent: "", continuation: "    ")
        }
        return lines.joined(separator: "\n")
    }

    private static func text(_ comparison: CloseCodeComparison, labels: CloseCodeLabels) -> String {
        let rule = String(repeating: "─", count: min(width, comparison.title.count))
        var lines = [comparison.title, rule, ""]
        lines.append(text(comparison.first, labels: labels))
        lines += ["", rule, ""]
        lines.append(text(comparison.second, labels: labels))
        lines += ["", rule, "", labels.keyDifferences]
        lines += comparison.keyDifferences.flatMap { wrapped($0, indent: "  • ", continuation: "    ") }
        lines += ["", labels.whenEachApplies]
        lines += comparison.whenEachApplies.flatMap { wrapped($0, indent: "  • ", continuation: "    ") }
        return lines.joined(separator: "\n")
    }

    /// The short facts under an entry: sendable, sender, reconnect, what to do.
    private static func facts(_ entry: CloseCodeInfo, labels: CloseCodeLabels) -> [(String, String)] {
        [(labels.sendable, labels.answer(entry.isSendable)),
         (labels.sentBy, entry.sender.phrase(in: entry.language)),
         (labels.reconnect, labels.answer(entry.shouldReconnect)),
         (labels.whatToDo, entry.action)]
    }

    /// `text` broken into lines of at most ``width`` characters, the first starting with `indent`
    /// and the others with `continuation` (by default the same).
    private static func wrapped(_ text: String, indent: String, continuation: String? = nil) -> [String] {
        let continuation = continuation ?? indent
        var lines: [String] = []
        var line = indent
        var lineIsEmpty = true
        for word in text.split(separator: " ") {
            if !lineIsEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = continuation
                lineIsEmpty = true
            }
            line += (lineIsEmpty ? "" : " ") + word
            lineIsEmpty = false
        }
        lines.append(line)
        return lines
    }

    // MARK: Markdown

    private static func markdown(_ entry: CloseCodeInfo, labels: CloseCodeLabels) -> String {
        var lines = ["## \(entry.label) — \(entry.title)", ""]
        for (heading, body) in [(labels.meaning, entry.meaning), (labels.whenSeen, entry.whenSeen),
                                (labels.howToFix, entry.howToFix)] {
            lines += ["### \(heading)", "", body, ""]
        }
        lines += facts(entry, labels: labels).map { label, value in "- **\(label):** \(value)" }
        return lines.joined(separator: "\n")
    }

    private static func markdown(_ comparison: CloseCodeComparison, labels: CloseCodeLabels) -> String {
        let first = comparison.first
        let second = comparison.second
        var lines = ["# \(comparison.title)", ""]
        lines.append("| | \(cell("\(first.label) — \(first.title)")) | \(cell("\(second.label) — \(second.title)")) |")
        lines.append("|---|---|---|")
        let rows: [(String, (CloseCodeInfo) -> String)] = [
            (labels.meaning, \.meaning), (labels.whenSeen, \.whenSeen), (labels.howToFix, \.howToFix),
            (labels.sendable, { labels.answer($0.isSendable) }),
            (labels.sentBy, { $0.sender.phrase(in: $0.language) }),
            (labels.reconnect, { labels.answer($0.shouldReconnect) }),
            (labels.whatToDo, \.action),
        ]
        for (heading, value) in rows {
            lines.append("| **\(cell(heading))** | \(cell(value(first))) | \(cell(value(second))) |")
        }
        lines += ["", "## \(labels.keyDifferences)", ""]
        lines += comparison.keyDifferences.map { "- \($0)" }
        lines += ["", "## \(labels.whenEachApplies)", ""]
        lines += comparison.whenEachApplies.map { "- \($0)" }
        return lines.joined(separator: "\n")
    }

    /// Text made safe for a Markdown table cell.
    private static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    // MARK: JSON

    /// One code as JSON: the fields of its catalog entry under stable names.
    struct EntryJSON: Encodable {
        let code: Int
        let name: String
        let title: String
        let summary: String
        let meaning: String
        let whenSeen: String
        let howToFix: String
        let action: String
        let sendable: Bool
        let retry: Bool
        let sentBy: String
        let kind: String
        let language: String

        init(_ entry: CloseCodeInfo) {
            code = Int(entry.code.rawValue)
            name = entry.name
            title = entry.title
            summary = entry.summary
            meaning = entry.meaning
            whenSeen = entry.whenSeen
            howToFix = entry.howToFix
            action = entry.action
            sendable = entry.isSendable
            retry = entry.shouldReconnect
            sentBy = entry.sender.rawValue
            kind = entry.kind.rawValue
            language = entry.language.tag
        }
    }

    /// A comparison as JSON: both entries, the key differences and when each applies.
    struct ComparisonJSON: Encodable {
        let language: String
        let title: String
        let first: EntryJSON
        let second: EntryJSON
        let keyDifferences: [String]
        let whenEachApplies: [String]

        init(_ comparison: CloseCodeComparison) {
            language = comparison.language.tag
            title = comparison.title
            first = EntryJSON(comparison.first)
            second = EntryJSON(comparison.second)
            keyDifferences = comparison.keyDifferences
            whenEachApplies = comparison.whenEachApplies
        }
    }

    private static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
