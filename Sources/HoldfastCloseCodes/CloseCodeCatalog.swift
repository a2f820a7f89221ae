import HoldfastCore

/// What every close code means, when it is seen and how to fix it, in English and Spanish:
/// the IANA registry 1000–1015 (RFC 6455 §7.4.1), the registered range 3000–3999, the private
/// range 4000–4999, and an answer for unassigned (1016–2999) and invalid numbers.
///
/// Whether a code is sendable comes from `CloseCode/isAllowedOnWire` and whether to reconnect
/// from the default `ReconnectPolicy`, so that the catalog never disagrees with what the
/// library does.
public enum CloseCodeCatalog {
    /// The entry for `code` in `language`; every `UInt16` has one.
    public static func entry(for code: CloseCode, in language: Language = .english) -> CloseCodeInfo {
        let text: CloseCodeText
        switch language {
        case .english: text = englishText(for: code)
        case .spanish: text = spanishText(for: code)
        }
        return CloseCodeInfo(
            code: code, language: language, name: code.name, title: text.title, summary: text.summary,
            meaning: text.meaning, whenSeen: text.whenSeen, howToFix: text.howToFix, action: text.action,
            isSendable: code.isAllowedOnWire, shouldReconnect: reconnects(after: code),
            sender: sender(of: code), kind: CloseCodeKind(code))
    }

    /// The entries for the sixteen codes of the IANA registry, 1000–1015, in order.
    public static func registryEntries(in language: Language = .english) -> [CloseCodeInfo] {
        (UInt16(1000)...1015).map { entry(for: CloseCode($0), in: language) }
    }

    /// Whether the default reconnect policy retries after a peer closed with `code`.
    static func reconnects(after code: CloseCode) -> Bool {
        ReconnectPolicy().isRetryable(.closed(CloseOutcome(sent: nil, received: CloseFrame(code: code))))
    }

    /// Who may send `code` (RFC 6455 §7.4.1; IANA registry for 1011–1014).
    static func sender(of code: CloseCode) -> CloseCodeSender {
        switch code.rawValue {
        // 1011: "a server is terminating" in RFC 6455; errata 3227 and the registry allow either.
        case 1000...1003, 1007...1009, 1011: return .eitherEndpoint
        // RFC 6455 §7.4.1: 1010 is sent by a client; a server fails the handshake instead.
        case 1010: return .client
        case 1012...1014: return .server
        case 3000...4999: return .application
        default: return .nobody
        }
    }
}

/// The written part of a catalog entry, in one language.
struct CloseCodeText: Sendable, Hashable {
    var title: String
    var summary: String
    var meaning: String
    var whenSeen: String
    var howToFix: String
    var action: String
}
