import HoldfastCore

/// Two close codes side by side: both catalog entries, their key differences and when each one
/// applies — the page `holdfast compare 1001 1009` shows.
///
/// The differences are derived from the entries' fields (what each is about, who sends it, whether
/// it goes on the wire, whether to reconnect, what to do), each kind of difference with one written
/// sentence per language, so that every pair of codes gets an accurate comparison.
public struct CloseCodeComparison: Sendable, Hashable {
    /// The first code's entry.
    public let first: CloseCodeInfo
    /// The second code's entry.
    public let second: CloseCodeInfo
    /// The language of every text.
    public let language: Language
    /// Sentences, one per way the two codes differ (or agree where that matters).
    public let keyDifferences: [String]
    /// One line per code: what it is for and what to do about it.
    public let whenEachApplies: [String]

    /// Compares `first` with `second` in `language`.
    public init(_ first: CloseCode, _ second: CloseCode, in language: Language = .english) {
        let a = CloseCodeCatalog.entry(for: first, in: language)
        let b = CloseCodeCatalog.entry(for: second, in: language)
        self.first = a
        self.second = b
        self.language = language
        let wording = ComparisonWording(language)
        if first == second {
            keyDifferences = [wording.sameCode(a)]
            whenEachApplies = [wording.applies(a)]
        } else {
            keyDifferences = [wording.cause(a, b), wording.wire(a, b), wording.reconnect(a, b), wording.action(a, b)]
            whenEachApplies = [wording.applies(a), wording.applies(b)]
        }
    }

    /// The comparison's title: `1001 goingAway vs 1009 messageTooBig`.
    public var title: String {
        "\(first.label) \(CloseCodeLabels(language).versus) \(second.label)"
    }
}

/// The sentences of a comparison, one template per kind of difference, in one language.
private struct ComparisonWording {
    let language: Language

    init(_ language: Language) { self.language = language }

    func sameCode(_ a: CloseCodeInfo) -> String {
        switch language {
        case .english: return "\(a.label) is compared with itself: there is no difference."
        case .spanish: return "\(a.label) se compara consigo mismo: no hay ninguna diferencia."
        }
    }

    /// What each code is about: the first thing that tells two codes apart.
    func cause(_ a: CloseCodeInfo, _ b: CloseCodeInfo) -> String {
        let causeA = a.kind.cause(in: language)
        let causeB = b.kind.cause(in: language)
        switch (language, a.kind == b.kind) {
        case (.english, true): return "Both are about \(causeA)."
        case (.english, false): return "\(a.label) is about \(causeA); \(b.label) is about \(causeB)."
        case (.spanish, true): return "Los dos tienen que ver con \(causeA)."
        case (.spanish, false): return "\(a.label) tiene que ver con \(causeA); \(b.label), con \(causeB)."
        }
    }

    /// Whether each code goes on the wire, and who sends it.
    func wire(_ a: CloseCodeInfo, _ b: CloseCodeInfo) -> String {
        switch (a.isSendable, b.isSendable) {
        case (true, true):
            if a.sender == b.sender {
                let sender = a.sender.phrase(in: language)
                switch language {
                case .english: return "Both may be sent in a close frame, by \(sender)."
                case .spanish: return "Los dos pueden ir en una trama de cierre y los envía \(sender)."
                }
            }
            let senderA = a.sender.phrase(in: language)
            let senderB = b.sender.phrase(in: language)
            switch language {
            case .english:
                return "Both may be sent in a close frame: \(a.label) by \(senderA), \(b.label) by \(senderB)."
            case .spanish:
                return "Los dos pueden ir en una trama de cierre: \(a.label) lo envía \(senderA); \(b.label), \(senderB)."
            }
        case (true, false), (false, true):
            let (sent, unsent) = a.isSendable ? (a, b) : (b, a)
            let sender = sent.sender.phrase(in: language)
            switch language {
            case .english:
                return "\(sent.label) may be sent in a close frame, by \(sender); \(unsent.label) never is: \(neverSent(unsent))."
            case .spanish:
                return "\(sent.label) puede ir en una trama de cierre y lo envía \(sender); \(unsent.label) nunca se envía: \(neverSent(unsent))."
            }
        case (false, false):
            if neverSent(a) == neverSent(b) {
                switch language {
                case .english: return "Neither is ever sent in a close frame, for the same reason: \(neverSent(a))."
                case .spanish: return "Ninguno se envía nunca en una trama de cierre, por el mismo motivo: \(neverSent(a))."
                }
            }
            switch language {
            case .english:
                return "Neither is ever sent in a close frame: \(a.label) because \(neverSent(a)), \(b.label) because \(neverSent(b))."
            case .spanish:
                return "Ninguno se envía nunca en una trama de cierre: \(a.label) porque \(neverSent(a)); \(b.label) porque \(neverSent(b))."
            }
        }
    }

    /// Why a code never appears on the wire.
    private func neverSent(_ entry: CloseCodeInfo) -> String {
        switch (entry.kind, language) {
        case (.localReport, .english): return "an API reports it locally"
        case (.localReport, .spanish): return "una API lo informa localmente"
        case (.invalid, .english): return "it is not a valid close code"
        case (.invalid, .spanish): return "no es un código de cierre válido"
        case (_, .english): return "it is reserved or unassigned"
        case (_, .spanish): return "está reservado o sin asignar"
        }
    }

    /// Whether a client should reconnect after each.
    func reconnect(_ a: CloseCodeInfo, _ b: CloseCodeInfo) -> String {
        switch (a.shouldReconnect, b.shouldReconnect, language) {
        case (true, true, .english): return "A client should reconnect after either one."
        case (true, true, .spanish): return "Un cliente debe reconectar tras cualquiera de los dos."
        case (false, false, .english): return "Neither calls for an automatic reconnect."
        case (false, false, .spanish): return "Ninguno de los dos justifica una reconexión automática."
        case (true, false, .english): return "A client should reconnect after \(a.label), but not on its own after \(b.label)."
        case (false, true, .english): return "A client should reconnect after \(b.label), but not on its own after \(a.label)."
        case (true, false, .spanish): return "Un cliente debe reconectar tras \(a.label), pero no por su cuenta tras \(b.label)."
        case (false, true, .spanish): return "Un cliente debe reconectar tras \(b.label), pero no por su cuenta tras \(a.label)."
        }
    }

    /// What to do after each.
    func action(_ a: CloseCodeInfo, _ b: CloseCodeInfo) -> String {
        switch language {
        case .english: return "After \(a.label): \(a.action). After \(b.label): \(b.action)."
        case .spanish: return "Tras \(a.label): \(a.action). Tras \(b.label): \(b.action)."
        }
    }

    /// When a code applies, and what to do then.
    func applies(_ entry: CloseCodeInfo) -> String {
        let whatToDo = CloseCodeLabels(language).whatToDo
        return "\(entry.label) — \(entry.summary). \(whatToDo): \(entry.action)."
    }
}
