import Foundation
import Holdfast
import HoldfastCloseCodes

/// The pages of `holdfast serve` that work through the browser client `holdfast.js`: `/upload`
/// in `--mode files` and `/chat` in `--mode channels`, each with its script, in English or with
/// `?lang=es` in Spanish; and what every page of the server shares with them: the navigation,
/// links that keep the language, and the helpers their scripts import (``sharedScript``).
enum BrowserPages {
    /// Where ``sharedScript`` is served.
    static let sharedScriptPath = "/pages.js"

    /// The answer to a GET of `path` with `query` when it is one of these pages or their scripts
    /// in `mode` (`/upload` only in files mode, `/chat` only in channels mode), else `nil`. The
    /// scripts import `holdfast.js` from `clientModulePath`, its versioned path
    /// (`BrowserClientScript.versionedPath`), which browsers cache until the module changes.
    static func response(path: String, query: String?, mode: ServeMode, clientModulePath: String) -> PlainHTTPResponse? {
        let language = CodePageHTML.language(query: query)
        switch (path, mode) {
        case (UploadPage.path, .files):
            return PlainHTTPResponse(contentType: "text/html", body: UploadPage.html(language: language))
        case (UploadPage.scriptPath, .files):
            return PlainHTTPResponse(contentType: "text/javascript", body: UploadPage.script(clientModulePath: clientModulePath))
        case (ChatPage.path, .channels):
            let room = value(of: "room", in: query) ?? ChatPage.defaultRoom
            guard ChatPage.isRoomName(room) else {
                return PlainHTTPResponse(status: .badRequest, contentType: "text/html",
                                         body: ChatPage.notARoom(room, language: language))
            }
            return PlainHTTPResponse(contentType: "text/html", body: ChatPage.html(room: room, language: language))
        case (ChatPage.scriptPath, .channels):
            return PlainHTTPResponse(contentType: "text/javascript", body: ChatPage.script(clientModulePath: clientModulePath))
        case (sharedScriptPath, .files), (sharedScriptPath, .channels):
            return PlainHTTPResponse(contentType: "text/javascript", body: sharedScript)
        default:
            return nil
        }
    }

    // MARK: Links and navigation

    /// The pages the navigation links to.
    enum Page {
        case status, upload, chat

        // Where the page is served.
        var path: String {
            switch self {
            case .status: "/"
            case .upload: UploadPage.path
            case .chat: ChatPage.path
            }
        }
    }

    /// `path` with `parameters` and, for any language but English, `lang=`, as a URL-encoded
    /// query: the link to a page in `language`.
    static func link(_ path: String, _ language: Language, _ parameters: [(name: String, value: String)] = []) -> String {
        let all = parameters + (language == .english ? [] : [("lang", language.tag)])
        guard !all.isEmpty else { return path }
        return path + "?" + all.map { "\($0.name)=\(encoded($0.value))" }.joined(separator: "&")
    }

    /// The value of the first `name=` in `query`, percent-decoded; `nil` when absent or not
    /// valid percent-encoding.
    static func value(of name: String, in query: String?) -> String? {
        guard let query else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return String(parts[1]).removingPercentEncoding
        }
        return nil
    }

    /// The characters a query value keeps as they are (RFC 3986's unreserved characters).
    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// `value` percent-encoded for a query: letters, digits and `-._~` stay as they are.
    private static func encoded(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value
    }

    /// The links above the status, upload and chat pages: the status page, the page of `mode`
    /// (upload in files mode, chat in channels mode), the close codes, and `current` in the other
    /// language (with its `parameters`, such as the room); `trailing` (already HTML) goes last.
    static func navigation(_ current: Page, mode: ServeMode, language: Language,
                           parameters: [(name: String, value: String)] = [], trailing: String = "") -> String {
        let words = NavigationWords(language)
        var pages: [(Page, String)] = [(.status, words.status)]
        switch mode {
        case .files: pages.append((.upload, words.upload))
        case .channels: pages.append((.chat, words.chat))
        case .echo, .broadcast: break
        }
        var links = "<nav><span class=\"brand\">holdfast serve</span>"
        for (page, name) in pages {
            let isCurrent = page == current
            let marked = isCurrent ? " aria-current=\"page\"" : ""
            links += "<a href=\"\(HTML.escape(link(page.path, language, isCurrent ? parameters : [])))\"\(marked)>"
                + "\(HTML.escape(name))</a>"
        }
        links += "<a href=\"\(link("/codes/", language))\">\(HTML.escape(words.closeCodes))</a>"
        links += "<a href=\"\(link("/codes/1001-vs-1009", language))\">1001 \(HTML.escape(CloseCodeLabels(language).versus)) 1009</a>"
        for other in Language.allCases where other != language {
            let target = HTML.escape(link(current.path, other, parameters))
            links += "<a href=\"\(target)\" hreflang=\"\(other.tag)\" lang=\"\(other.tag)\">\(other.nameInItself)</a>"
        }
        return links + trailing + "</nav>\n"
    }

    /// The words of ``navigation(_:mode:language:parameters:trailing:)``.
    private struct NavigationWords {
        let status: String
        let upload: String
        let chat: String
        let closeCodes: String

        init(_ language: Language) {
            switch language {
            case .english:
                status = "Status"
                upload = "Upload"
                chat = "Chat"
                closeCodes = "Close codes"
            case .spanish:
                status = "Estado"
                upload = "Subir"
                chat = "Chat"
                closeCodes = "Códigos de cierre"
            }
        }
    }

    // MARK: The scripts' shared module

    /// The titles of the close codes in every language, as a JSON object (`{"en": {"1001":
    /// "Going Away", …}, "es": {…}}`), from the catalog the `/codes` pages show, so that the
    /// scripts name a close in the page's language: the registry's codes, the first code of the
    /// registered (3000) and private (4000) ranges, which stand for the rest of their range, and
    /// the codes of those ranges with a title of their own (such as 4001).
    static let closeTitlesJSON: String = {
        let rangeStarts: [UInt16] = [3000, 4000]
        let ownTitles = (UInt16(3001)...4999).filter { number in
            let start = number < 4000 ? rangeStarts[0] : rangeStarts[1]
            return CloseCodeCatalog.entry(for: CloseCode(number)).title != CloseCodeCatalog.entry(for: CloseCode(start)).title
        }
        let codes = Array(UInt16(1000)...1015) + rangeStarts + ownTitles
        var titles: [String: [String: String]] = [:]
        for language in Language.allCases {
            titles[language.tag] = Dictionary(uniqueKeysWithValues: codes.map { number in
                (String(number), CloseCodeCatalog.entry(for: CloseCode(number), in: language).title)
            })
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(titles)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }()

    /// A JavaScript expression for the title of close code `code` (an expression) in
    /// `titles` (one language of ``closeTitlesJSON``): its own, else its range's; `undefined`
    /// for an unassigned code.
    static func closeTitleLookup(_ code: String, in titles: String) -> String {
        "(\(titles)[String(\(code))] || \(titles)[\(code) >= 4000 ? \"4000\" : \(code) >= 3000 ? \"3000\" : \"\"])"
    }

    /// An ES module the upload and chat scripts import: the page's language (from `<html lang>`),
    /// numbers, byte counts and durations written the way that language writes them, a close
    /// named by its code's title, and the connection state line's texts.
    static let sharedScript = """
        export const language = document.documentElement.lang === "es" ? "es" : "en";
        const closeTitles = \(closeTitlesJSON);
        const words = {
          en: { reconnecting: (delay, why) => "reconnecting in " + delay + " — " + why,
                closed: (why) => "disconnected — " + why, gaveUp: (why) => "gave up — " + why,
                code: "close code" },
          es: { reconnecting: (delay, why) => "reconectando en " + delay + " — " + why,
                closed: (why) => "desconectado — " + why, gaveUp: (why) => "abandonado — " + why,
                code: "código de cierre" },
        }[language];

        // A number with at most `digits` decimals, with the page language's decimal mark.
        export const number = (value, digits = 1) =>
          value.toLocaleString(language, { maximumFractionDigits: digits });

        // A byte count in the largest binary unit that keeps it above 1, as the status page writes it.
        export function bytes(count) {
          const units = ["B", "KiB", "MiB", "GiB", "TiB"];
          let value = count, unit = 0;
          while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
          return unit === 0 ? number(count, 0) + " B" : number(Math.floor(value * 10) / 10) + " " + units[unit];
        }

        // Milliseconds as seconds with one decimal: "1.2 s", "1,2 s".
        export const seconds = (milliseconds) => number(milliseconds / 1000) + " s";

        // Why a connection closed, in the page's language: "Going Away (1001)", with the
        // server's reason when it gave one.
        export function describeClose(code, reason) {
          const title = \(closeTitleLookup("code", in: "closeTitles[language]")) || words.code;
          return title + " (" + code + ")" + (reason ? ": " + reason : "");
        }

        // The connection state line's texts.
        export const reconnecting = (detail) => words.reconnecting(seconds(detail.delayMs), describeClose(detail.code, detail.reason));
        export const closed = (detail) => words.closed(describeClose(detail.code, detail.reason));
        export const gaveUp = (detail) => words.gaveUp(describeClose(detail.code, detail.reason));

        // The WebSocket URL of `path` on this page's server: wss:// when the page came over https://.
        export const socketURL = (path) => (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;

        """
}

extension Language {
    /// The language's name written in itself, for the link to a page in it: "English", "Español".
    var nameInItself: String {
        switch self {
        case .english: "English"
        case .spanish: "Español"
        }
    }
}

/// A value written in every ``Language``, such as the status page's limits table: made once,
/// read in the language a page asks for.
struct Translated<Value: Sendable>: Sendable {
    private let english: Value
    private let spanish: Value

    /// The value `write` gives in each language.
    init(_ write: (Language) -> Value) {
        english = write(.english)
        spanish = write(.spanish)
    }

    /// The value in `language`.
    subscript(_ language: Language) -> Value {
        switch language {
        case .english: english
        case .spanish: spanish
        }
    }
}
