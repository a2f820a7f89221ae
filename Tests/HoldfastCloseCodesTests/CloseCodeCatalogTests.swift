import HoldfastCloseCodes
import HoldfastCore
import Testing

@Suite("CloseCodeCatalog — what every close code means, in English and Spanish")
struct CloseCodeCatalogTests {
    static let registry: [UInt16] = Array(1000...1015)
    /// Codes outside the registry whose entries come from their range.
    static let rangeSamples: [UInt16] = [0, 999, 1016, 1500, 2000, 2999, 3000, 3003, 3999, 4000, 4321, 4999, 5000, 65535]
    /// RFC 6455 §7.4 and the reconnect policy: the codes after which a client reconnects.
    static let reconnecting: Set<UInt16> = [1001, 1005, 1006, 1009, 1011, 1012, 1013, 1014]

    @Test("IANA registry 1000-1015: every field is written, in both languages, and the Spanish is not the English",
          arguments: registry)
    func registryIsComplete(code: UInt16) {
        let english = CloseCodeCatalog.entry(for: CloseCode(code), in: .english)
        let spanish = CloseCodeCatalog.entry(for: CloseCode(code), in: .spanish)
        for entry in [english, spanish] {
            #expect(entry.code == CloseCode(code))
            #expect(entry.name == CloseCode(code).name)
            for field in [entry.title, entry.summary, entry.meaning, entry.whenSeen, entry.howToFix, entry.action] {
                #expect(field.contains { !$0.isWhitespace }, "\(code) \(entry.language)")
                #expect(!field.contains("  "), "\(code) \(entry.language): double space in \(field)")
            }
        }
        #expect(english.language == .english)
        #expect(spanish.language == .spanish)
        #expect(english.title != spanish.title)
        #expect(english.summary != spanish.summary)
        #expect(english.meaning != spanish.meaning)
        #expect(english.whenSeen != spanish.whenSeen)
        #expect(english.howToFix != spanish.howToFix)
        #expect(english.action != spanish.action)
        // The facts do not depend on the language.
        #expect(english.isSendable == spanish.isSendable)
        #expect(english.shouldReconnect == spanish.shouldReconnect)
        #expect(english.sender == spanish.sender)
        #expect(english.kind == spanish.kind)
    }

    @Test("sendable agrees with CloseCode.isAllowedOnWire; reconnect agrees with ReconnectPolicy",
          arguments: registry + rangeSamples)
    func factsAgreeWithTheLibrary(code: UInt16) {
        let closeCode = CloseCode(code)
        for language in Language.allCases {
            let entry = closeCode.info(in: language)
            #expect(entry.isSendable == closeCode.isAllowedOnWire, "\(code)")
            if entry.isSendable {
                let policy = ReconnectPolicy()
                let retried = policy.isRetryable(.closed(CloseOutcome(sent: nil, received: CloseFrame(code: closeCode))))
                #expect(entry.shouldReconnect == retried, "\(code)")
            }
        }
    }

    @Test("reconnect after 1001, 1005, 1006, 1009, 1011-1014; not after 1000, 1002-1004, 1007, 1008, 1010, 1015, 3000-4999",
          arguments: registry + rangeSamples)
    func reconnectTable(code: UInt16) {
        #expect(CloseCode(code).info().shouldReconnect == Self.reconnecting.contains(code), "\(code)")
    }

    @Test("1004, 1005, 1006 and 1015 are never sent; the rest of the registry is")
    func neverSentCodes() {
        for code in Self.registry {
            let entry = CloseCode(code).info()
            let neverSent = [1004, 1005, 1006, 1015].contains(code)
            #expect(entry.isSendable == !neverSent, "\(code)")
            #expect((entry.sender == .nobody) == neverSent, "\(code)")
        }
        #expect(CloseCode.noStatusReceived.info().kind == .localReport)
        #expect(CloseCode.abnormalClosure.info().kind == .localReport)
        #expect(CloseCode.tlsHandshake.info().kind == .localReport)
    }

    @Test("who sends what: 1010 the client, 1012-1014 the server, 3000-4999 the application")
    func senders() {
        #expect(CloseCode.mandatoryExtension.info().sender == .client)
        for code in [CloseCode.serviceRestart, .tryAgainLater, .badGateway] {
            #expect(code.info().sender == .server, "\(code)")
        }
        for code: UInt16 in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011] {
            #expect(CloseCode(code).info().sender == .eitherEndpoint, "\(code)")
        }
        #expect(CloseCode(3000).info().sender == .application)
        #expect(CloseCode(4999).info().sender == .application)
        #expect(CloseCode(2000).info().sender == .nobody)
    }

    @Test("the product's two framing facts: 1001 is a restart or a closed tab, 1009 a payload over the limit")
    func goingAwayAndMessageTooBig() {
        let goingAway = CloseCode.goingAway.info()
        #expect(goingAway.title == "Going Away")
        #expect(goingAway.kind == .availability)
        #expect(goingAway.whenSeen.contains("restarts"))
        #expect(goingAway.whenSeen.contains("tab"))
        #expect(goingAway.howToFix.contains("backoff"))
        let tooBig = CloseCode.messageTooBig.info()
        #expect(tooBig.title == "Message Too Big")
        #expect(tooBig.kind == .rejectedContent)
        #expect(tooBig.howToFix.contains("fragment"))
        #expect(tooBig.howToFix.contains("chunks"))
        #expect(tooBig.howToFix.contains("raise its limit"))
        let grande = CloseCode.messageTooBig.info(in: .spanish)
        #expect(grande.title == "Mensaje demasiado grande")
        #expect(grande.howToFix.contains("fragmenta"))
    }

    @Test("IANA names and titles of 1012-1015")
    func laterRegistryCodes() {
        #expect(CloseCode(1012).info().title == "Service Restart")
        #expect(CloseCode(1013).info().title == "Try Again Later")
        #expect(CloseCode(1014).info().title == "Bad Gateway")
        #expect(CloseCode(1015).info().title == "TLS Handshake")
        #expect(CloseCode(1015).info().meaning.contains("never appear"))
    }

    @Test("ranges: the entry names its number and its range, in both languages", arguments: rangeSamples)
    func rangeEntries(code: UInt16) {
        for language in Language.allCases {
            let entry = CloseCode(code).info(in: language)
            #expect(entry.meaning.contains("\(code)"), "\(code) \(language)")
            #expect(!entry.whenSeen.isEmpty && !entry.howToFix.isEmpty && !entry.action.isEmpty)
        }
        let expected: (CloseCodeKind, String) = switch code {
        case 1016...2999: (.reserved, "Unassigned")
        case 3000...3999: (.application, "Registered")
        case 4000...4999: (.application, "Private Use")
        default: (.invalid, "Invalid")
        }
        #expect(CloseCode(code).info().kind == expected.0)
        #expect(CloseCode(code).info().title == expected.1)
    }

    @Test("every number has an entry")
    func everyNumber() {
        for raw in stride(from: 0, through: Int(UInt16.max), by: 97) {
            let entry = CloseCode(UInt16(raw)).info(in: raw.isMultiple(of: 2) ? .english : .spanish)
            #expect(!entry.meaning.isEmpty && !entry.title.isEmpty, "\(raw)")
        }
    }

    @Test("registryEntries lists 1000-1015 in order")
    func registryEntries() {
        #expect(CloseCodeCatalog.registryEntries(in: .spanish).map(\.code.rawValue) == Self.registry)
    }

    @Test("a one-line description for errors and logs")
    func descriptions() {
        #expect(CloseCode.messageTooBig.description(in: .english)
            == "1009 messageTooBig — message too big: a message or frame exceeded the size the receiver accepts")
        #expect(CloseCode.messageTooBig.description(in: .spanish)
            == "1009 messageTooBig — mensaje demasiado grande: un mensaje o una trama superó el tamaño que acepta el receptor")
        #expect(CloseCode.tlsHandshake.description(in: .english).hasPrefix("1015 tlsHandshake — TLS handshake: "))
        #expect("\(CloseCode.goingAway.info())" == CloseCode.goingAway.description(in: .english))

        let outcome = CloseOutcome(sent: nil, received: CloseFrame(code: .messageTooBig,
                                                                   reason: "message exceeds limit of 1048576 bytes"))
        #expect(outcome.explanation()
            == "1009 messageTooBig — message too big: a message or frame exceeded the size the receiver accepts (reason: message exceeds limit of 1048576 bytes)")
        #expect(outcome.explanation(in: .spanish).hasSuffix("(motivo: message exceeds limit of 1048576 bytes)"))
        let dropped = CloseOutcome(sent: nil, received: nil)
        #expect(dropped.explanation().hasPrefix("1006 abnormalClosure — abnormal closure: "))
    }

    @Test("language tags")
    func languageTags() {
        #expect(Language(tag: "en") == .english)
        #expect(Language(tag: "EN-us") == .english)
        #expect(Language(tag: "es") == .spanish)
        #expect(Language(tag: "es_MX") == .spanish)
        #expect(Language(tag: "español") == .spanish)
        #expect(Language(tag: "fr") == nil)
        #expect(Language.spanish.tag == "es")
    }

    @Test("labels: the page's headings in Spanish")
    func spanishLabels() {
        let labels = CloseCodeLabels(.spanish)
        #expect(labels.meaning == "Qué significa")
        #expect(labels.whenSeen == "Cuándo lo verás")
        #expect(labels.howToFix == "Cómo solucionarlo")
        #expect(labels.keyDifferences == "Diferencias clave")
        #expect(labels.whenEachApplies == "Cuándo aplica cada uno")
        #expect(CloseCodeLabels(.english).keyDifferences == "Key differences")
    }
}

@Suite("CloseCodeComparison — key differences and when each applies")
struct CloseCodeComparisonTests {
    @Test("1001 vs 1009: availability against content, both sent by either endpoint, reconnect after both")
    func goingAwayVersusMessageTooBig() {
        let comparison = CloseCode.goingAway.compared(with: .messageTooBig)
        #expect(comparison.first.code == .goingAway)
        #expect(comparison.second.code == .messageTooBig)
        #expect(comparison.title == "1001 goingAway vs 1009 messageTooBig")
        #expect(comparison.keyDifferences == [
            "1001 goingAway is about availability: the endpoint is leaving or cannot serve right now, whatever was sent; "
                + "1009 messageTooBig is about content: the receiver refused what was sent (its type, its policy or its size).",
            "Both may be sent in a close frame, by either endpoint.",
            "A client should reconnect after either one.",
            "After 1001 goingAway: reconnect with exponential backoff and jitter, then resume. "
                + "After 1009 messageTooBig: reconnect and send smaller pieces (fragment or chunk), or raise the receiver's limit.",
        ])
        #expect(comparison.whenEachApplies == [
            "1001 goingAway — an endpoint is going away: a server shutting down or restarting, a browser leaving the page. "
                + "What to do: reconnect with exponential backoff and jitter, then resume.",
            "1009 messageTooBig — a message or frame exceeded the size the receiver accepts. "
                + "What to do: reconnect and send smaller pieces (fragment or chunk), or raise the receiver's limit.",
        ])
    }

    @Test("1001 frente a 1009, in Spanish")
    func goingAwayVersusMessageTooBigInSpanish() {
        let comparison = CloseCodeComparison(.goingAway, .messageTooBig, in: .spanish)
        let english = CloseCodeComparison(.goingAway, .messageTooBig, in: .english)
        #expect(comparison.title == "1001 goingAway frente a 1009 messageTooBig")
        #expect(comparison.keyDifferences.count == english.keyDifferences.count)
        #expect(comparison.keyDifferences[0].contains("la disponibilidad"))
        #expect(comparison.keyDifferences[2] == "Un cliente debe reconectar tras cualquiera de los dos.")
        #expect(comparison.whenEachApplies[1].contains("Qué hacer: reconecta y envía trozos más pequeños"))
        for (spanish, englishText) in zip(comparison.keyDifferences, english.keyDifferences) {
            #expect(spanish != englishText)
        }
    }

    @Test("1000 vs 1006: one goes on the wire, the other never; reconnect after one only")
    func normalVersusAbnormal() {
        let comparison = CloseCodeComparison(.normalClosure, .abnormalClosure)
        #expect(comparison.keyDifferences[1]
            == "1000 normalClosure may be sent in a close frame, by either endpoint; 1006 abnormalClosure never is: an API reports it locally.")
        #expect(comparison.keyDifferences[2]
            == "A client should reconnect after 1006 abnormalClosure, but not on its own after 1000 normalClosure.")
    }

    @Test("1005 vs 1015: neither is sent; 1012 vs 1013: same kind, both from the server")
    func sameAndNeither() {
        let local = CloseCodeComparison(.noStatusReceived, .tlsHandshake)
        #expect(local.keyDifferences[0].hasPrefix("Both are about what the local API observed"))
        #expect(local.keyDifferences[1].hasPrefix("Neither is ever sent in a close frame"))
        let refused = CloseCodeComparison(.protocolError, .unsupportedData, in: .spanish)
        #expect(refused.keyDifferences[2] == "Ninguno de los dos justifica una reconexión automática.")
        let unassigned = CloseCodeComparison(CloseCode(2000), .reserved)
        #expect(unassigned.keyDifferences[1]
            == "Neither is ever sent in a close frame, for the same reason: it is reserved or unassigned.")
        let server = CloseCodeComparison(.serviceRestart, .tryAgainLater)
        #expect(server.keyDifferences[1] == "Both may be sent in a close frame, by the server (or a gateway acting as one).")
        let mixed = CloseCodeComparison(.mandatoryExtension, .badGateway)
        #expect(mixed.keyDifferences[1].contains("1010 mandatoryExtension by the client only"))
        #expect(mixed.keyDifferences[2].contains("not on its own after 1010 mandatoryExtension"))
    }

    @Test("a code compared with itself")
    func sameCode() {
        let comparison = CloseCodeComparison(.messageTooBig, .messageTooBig, in: .spanish)
        #expect(comparison.keyDifferences.count == 1)
        #expect(comparison.whenEachApplies.count == 1)
    }

    @Test("every pair of registry codes in both languages gives four written differences")
    func allRegistryPairs() {
        for first: UInt16 in 1000...1015 {
            for second: UInt16 in 1000...1015 where first != second {
                for language in Language.allCases {
                    let comparison = CloseCodeComparison(CloseCode(first), CloseCode(second), in: language)
                    #expect(comparison.keyDifferences.count == 4)
                    #expect(comparison.keyDifferences.allSatisfy { !$0.isEmpty && $0.hasSuffix(".") })
                }
            }
        }
    }
}
