import HoldfastCore

/// What one close code means, when it is seen, how to fix it, and what to do about it — one
/// entry of ``CloseCodeCatalog``, in one ``Language``.
public struct CloseCodeInfo: Sendable, Hashable, CustomStringConvertible {
    /// The code this entry describes.
    public let code: CloseCode
    /// The language the texts are written in.
    public let language: Language
    /// The IANA name in lowerCamelCase (`messageTooBig`), or the range's name for an unassigned
    /// code; the same in every language, as `CloseCode/name`.
    public let name: String
    /// A short human title in ``language``: "Message Too Big", "Mensaje demasiado grande".
    public let title: String
    /// One line: what happened, fit for a log line or an error description.
    public let summary: String
    /// What the code means (RFC 6455 §7.4.1 and the IANA registry, in plain words).
    public let meaning: String
    /// When you will see it: the situations that produce it.
    public let whenSeen: String
    /// How to fix it, on the side that can.
    public let howToFix: String
    /// One short imperative: what a client or operator should do next.
    public let action: String
    /// Whether the code may appear in a close frame on the wire (`CloseCode/isAllowedOnWire`).
    public let isSendable: Bool
    /// Whether a client should reconnect after a connection closed with this code, as the
    /// default `ReconnectPolicy` decides.
    public let shouldReconnect: Bool
    /// Which endpoint sends the code.
    public let sender: CloseCodeSender
    /// What the code is about.
    public let kind: CloseCodeKind

    /// Creates an entry; ``CloseCodeCatalog/entry(for:in:)`` is the usual way to get one.
    public init(code: CloseCode, language: Language, name: String, title: String, summary: String,
                meaning: String, whenSeen: String, howToFix: String, action: String, isSendable: Bool,
                shouldReconnect: Bool, sender: CloseCodeSender, kind: CloseCodeKind) {
        self.code = code
        self.language = language
        self.name = name
        self.title = title
        self.summary = summary
        self.meaning = meaning
        self.whenSeen = whenSeen
        self.howToFix = howToFix
        self.action = action
        self.isSendable = isSendable
        self.shouldReconnect = shouldReconnect
        self.sender = sender
        self.kind = kind
    }

    /// The code and its name, as a label: `1009 messageTooBig`.
    public var label: String { "\(code.rawValue) \(name)" }

    /// One line for errors and logs: `1009 messageTooBig — message too big: a message or frame
    /// exceeded the size the receiver accepts`.
    public var description: String { "\(label) — \(lowercasedTitle): \(summary)" }

    /// The title in lower case for use inside a sentence, keeping acronyms such as TLS.
    private var lowercasedTitle: String {
        title.split(separator: " ", omittingEmptySubsequences: false).map { word in
            word.count > 1 && word.allSatisfy(\.isUppercase) ? String(word) : word.lowercased()
        }.joined(separator: " ")
    }
}
