import Holdfast
import HoldfastCloseCodes

/// The close-code pages `holdfast serve` answers: `/codes/1009` (one code), `/codes/1001-vs-1009`
/// (a comparison) and `/codes/` (the registry), in English or with `?lang=es` in Spanish — the
/// same catalog entries and headings `holdfast explain` and `holdfast compare` print.
enum CodePageHTML {
    /// The answer to a request for `path` with `query`, or `nil` when the path is not under
    /// `/codes`. A code that is not a number from 1000 to 4999 gets a 404 page.
    static func response(path: String, query: String?) -> PlainHTTPResponse? {
        guard path == "/codes" || path.hasPrefix("/codes/") else { return nil }
        let language = self.language(query: query)
        let name = path.dropFirst("/codes".count).drop(while: { $0 == "/" })
        if name.isEmpty {
            return PlainHTTPResponse(contentType: "text/html", body: index(in: language))
        }
        let parts = name.split(separator: "-vs-", omittingEmptySubsequences: false)
        let codes = parts.map { closeCode(String($0)) }
        switch (codes.count, codes.first ?? nil, codes.last ?? nil) {
        case (1, let code?, _):
            return PlainHTTPResponse(contentType: "text/html", body: page(CloseCodeCatalog.entry(for: code, in: language)))
        case (2, let first?, let second?):
            return PlainHTTPResponse(contentType: "text/html",
                                     body: page(CloseCodeComparison(first, second, in: language)))
        default:
            return PlainHTTPResponse(status: .notFound, contentType: "text/html",
                                     body: notFound(String(name), in: language))
        }
    }

    /// The language asked for with `lang=` in `query`; English when absent or unknown.
    static func language(query: String?) -> Language {
        BrowserPages.value(of: "lang", in: query).flatMap(Language.init(tag:)) ?? .english
    }

    /// A close code from a path segment: digits from 1000 to 4999 (RFC 6455 §7.4.2), else `nil`.
    private static func closeCode(_ segment: String) -> CloseCode? {
        guard !segment.isEmpty, segment.count <= 5, segment.allSatisfy(\.isASCII),
              let number = Int(segment), (1000...4999).contains(number) else { return nil }
        return CloseCode(UInt16(number))
    }

    // MARK: Pages

    /// One code's page: what it means, when you see it, how to fix it, and the short facts.
    static func page(_ entry: CloseCodeInfo) -> String {
        let labels = CloseCodeLabels(entry.language)
        var body = navigation(entry.language, path: "/codes/\(entry.code.rawValue)")
        body += "<h1><span class=\"code\">\(entry.code.rawValue)</span> \(HTML.escape(entry.name)) — "
        body += "\(HTML.escape(entry.title))</h1>\n"
        body += "<p class=\"summary\">\(HTML.escape(entry.summary))</p>\n"
        for (heading, text) in [(labels.meaning, entry.meaning), (labels.whenSeen, entry.whenSeen),
                                (labels.howToFix, entry.howToFix)] {
            body += "<h2>\(HTML.escape(heading))</h2>\n<p>\(HTML.escape(text))</p>\n"
        }
        body += "<dl class=\"facts\">\n"
        for (label, value) in facts(entry, labels: labels) {
            body += "<dt>\(HTML.escape(label))</dt><dd>\(HTML.escape(value))</dd>\n"
        }
        body += "</dl>\n"
        return HTML.document(title: "\(entry.label) — \(entry.title)", language: entry.language.tag,
                             body: main(body, language: entry.language))
    }

    /// Two codes side by side, then their key differences and when each applies.
    static func page(_ comparison: CloseCodeComparison) -> String {
        let labels = CloseCodeLabels(comparison.language)
        let first = comparison.first
        let second = comparison.second
        let path = "/codes/\(first.code.rawValue)-vs-\(second.code.rawValue)"
        var body = navigation(comparison.language, path: path)
        body += "<h1>\(HTML.escape(comparison.title))</h1>\n"
        body += "<table>\n<thead><tr><th></th>"
        for entry in [first, second] {
            body += "<th><a href=\"\(link(to: entry.code, in: comparison.language))\">"
            body += "<span class=\"code\">\(entry.code.rawValue)</span> \(HTML.escape(entry.name))</a><br>"
            body += "\(HTML.escape(entry.title))</th>"
        }
        body += "</tr></thead>\n<tbody>\n"
        let rows: [(String, (CloseCodeInfo) -> String)] = [
            (labels.meaning, \.meaning), (labels.whenSeen, \.whenSeen), (labels.howToFix, \.howToFix),
            (labels.sendable, { labels.answer($0.isSendable) }),
            (labels.sentBy, { $0.sender.phrase(in: $0.language) }),
            (labels.reconnect, { labels.answer($0.shouldReconnect) }),
            (labels.whatToDo, \.action),
        ]
        for (heading, value) in rows {
            body += "<tr><th scope=\"row\">\(HTML.escape(heading))</th>"
            body += "<td>\(HTML.escape(value(first)))</td><td>\(HTML.escape(value(second)))</td></tr>\n"
        }
        body += "</tbody>\n</table>\n"
        body += "<h2>\(HTML.escape(labels.keyDifferences))</h2>\n" + list(comparison.keyDifferences)
        body += "<h2>\(HTML.escape(labels.whenEachApplies))</h2>\n" + list(comparison.whenEachApplies)
        return HTML.document(title: comparison.title, language: comparison.language.tag,
                             body: main(body, language: comparison.language))
    }

    /// The registry's codes, 1000–1015, each linked to its page.
    static func index(in language: Language) -> String {
        let words = Words(language)
        var body = navigation(language, path: "/codes/")
        body += "<h1>\(HTML.escape(words.closeCodes))</h1>\n<table>\n<tbody>\n"
        for entry in CloseCodeCatalog.registryEntries(in: language) {
            body += "<tr><td><a href=\"\(link(to: entry.code, in: language))\"><span class=\"code\">"
            body += "\(entry.code.rawValue)</span> \(HTML.escape(entry.name))</a></td>"
            body += "<td>\(HTML.escape(entry.title))</td><td class=\"muted\">\(HTML.escape(entry.summary))</td></tr>\n"
        }
        body += "</tbody>\n</table>\n"
        body += "<p><a href=\"/codes/1001-vs-1009\(query(language))\">1001 \(HTML.escape(CloseCodeLabels(language).versus))"
        body += " 1009</a></p>\n"
        return HTML.document(title: words.closeCodes, language: language.tag, body: main(body, language: language))
    }

    /// The page for a path that names no close code.
    static func notFound(_ name: String, in language: Language) -> String {
        let words = Words(language)
        var body = navigation(language, path: "/codes/")
        body += "<h1>404 — \(HTML.escape(words.notFound))</h1>\n"
        body += "<p>\(HTML.escape(words.notACode(name)))</p>\n"
        body += "<p><a href=\"/codes/1009\(query(language))\">/codes/1009</a> · "
        body += "<a href=\"/codes/1001-vs-1009\(query(language))\">/codes/1001-vs-1009</a></p>\n"
        return HTML.document(title: "404 — \(words.notFound)", language: language.tag,
                             body: main(body, language: language))
    }

    // MARK: Pieces

    private static func facts(_ entry: CloseCodeInfo, labels: CloseCodeLabels) -> [(String, String)] {
        [(labels.sendable, labels.answer(entry.isSendable)),
         (labels.sentBy, entry.sender.phrase(in: entry.language)),
         (labels.reconnect, labels.answer(entry.shouldReconnect)),
         (labels.whatToDo, entry.action)]
    }

    private static func list(_ items: [String]) -> String {
        "<ul>\n" + items.map { "<li>\(HTML.escape($0))</li>\n" }.joined() + "</ul>\n"
    }

    private static func main(_ body: String, language: Language) -> String {
        "<main>\n\(body)<footer>RFC 6455 §7.4 · IANA WebSocket Close Code Number Registry</footer>\n</main>"
    }

    /// The links above every page: the status page, the registry, and the page in each language.
    private static func navigation(_ language: Language, path: String) -> String {
        let words = Words(language)
        var links = "<nav><span class=\"brand\">holdfast</span>"
        links += "<a href=\"/\(query(language))\">\(HTML.escape(words.status))</a>"
        links += "<a href=\"/codes/\(query(language))\">\(HTML.escape(words.closeCodes))</a>"
        for other in Language.allCases {
            let name = other == .english ? "English" : "Español"
            if other == language {
                links += "<span class=\"muted\">\(name)</span>"
            } else {
                links += "<a href=\"\(path)\(query(other))\" hreflang=\"\(other.tag)\">\(name)</a>"
            }
        }
        return links + "</nav>\n"
    }

    /// The link to a code's page in `language`.
    static func link(to code: CloseCode, in language: Language) -> String {
        "/codes/\(code.rawValue)\(query(language))"
    }

    private static func query(_ language: Language) -> String {
        language == .english ? "" : "?lang=\(language.tag)"
    }

    /// The few words of the pages that the catalog's labels do not cover.
    private struct Words {
        let status: String
        let closeCodes: String
        let notFound: String
        let notACode: (String) -> String

        init(_ language: Language) {
            switch language {
            case .english:
                status = "Status"
                closeCodes = "Close codes"
                notFound = "Not found"
                notACode = { "“\($0)” is not a close code: close codes are numbers from 1000 to 4999, and a comparison is written as 1001-vs-1009." }
            case .spanish:
                status = "Estado"
                closeCodes = "Códigos de cierre"
                notFound = "No encontrado"
                notACode = { "«\($0)» no es un código de cierre: los códigos de cierre son números del 1000 al 4999, y una comparación se escribe 1001-vs-1009." }
            }
        }
    }
}
