/// The headings and short words that present catalog entries and comparisons, in one language,
/// so that every renderer (terminal, Markdown, a web page) uses the same ones.
public struct CloseCodeLabels: Sendable, Hashable {
    /// "What it means" / "Qué significa".
    public let meaning: String
    /// "When you will see it" / "Cuándo lo verás".
    public let whenSeen: String
    /// "How to fix it" / "Cómo solucionarlo".
    public let howToFix: String
    /// "What to do" / "Qué hacer": the entry's ``CloseCodeInfo/action``.
    public let whatToDo: String
    /// "Sent on the wire" / "Puede enviarse": whether the code may appear in a close frame.
    public let sendable: String
    /// "Reconnect" / "Reconectar": whether a client should reconnect.
    public let reconnect: String
    /// "Sent by" / "Quién lo envía".
    public let sentBy: String
    /// "Key differences" / "Diferencias clave".
    public let keyDifferences: String
    /// "When each applies" / "Cuándo aplica cada uno".
    public let whenEachApplies: String
    /// "yes" / "sí".
    public let yes: String
    /// "no" / "no".
    public let no: String
    /// "vs" / "frente a", between the two codes of a comparison's title.
    public let versus: String

    /// The labels in `language`.
    public init(_ language: Language) {
        switch language {
        case .english:
            meaning = "What it means"
            whenSeen = "When you will see it"
            howToFix = "How to fix it"
            whatToDo = "What to do"
            sendable = "Sent on the wire"
            reconnect = "Reconnect"
            sentBy = "Sent by"
            keyDifferences = "Key differences"
            whenEachApplies = "When each applies"
            yes = "yes"
            no = "no"
            versus = "vs"
        case .spanish:
            meaning = "Qué significa"
            whenSeen = "Cuándo lo verás"
            howToFix = "Cómo solucionarlo"
            whatToDo = "Qué hacer"
            sendable = "Puede enviarse"
            reconnect = "Reconectar"
            sentBy = "Quién lo envía"
            keyDifferences = "Diferencias clave"
            whenEachApplies = "Cuándo aplica cada uno"
            yes = "sí"
            no = "no"
            versus = "frente a"
        }
    }

    /// "yes" or "no" in this language.
    public func answer(_ value: Bool) -> String { value ? yes : no }
}
