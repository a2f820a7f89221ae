/// Which endpoint puts a close code in a close frame.
public enum CloseCodeSender: String, Sendable, Hashable, CaseIterable {
    /// Either the client or the server (1000–1003, 1007–1009, 1011).
    case eitherEndpoint
    /// Only the server, or a gateway acting as one (1012–1014).
    case server
    /// Only the client (1010: a server fails the handshake instead).
    case client
    /// Whichever endpoint the application or framework decides (3000–4999).
    case application
    /// No endpoint: the code is reported locally, reserved, unassigned or invalid, and never sent.
    case nobody

    /// Who sends it, as a noun phrase: "either endpoint", "the server".
    public func phrase(in language: Language) -> String {
        switch (self, language) {
        case (.eitherEndpoint, .english): return "either endpoint"
        case (.eitherEndpoint, .spanish): return "cualquiera de los dos extremos"
        case (.server, .english): return "the server (or a gateway acting as one)"
        case (.server, .spanish): return "el servidor (o una pasarela que actúa como tal)"
        case (.client, .english): return "the client only"
        case (.client, .spanish): return "solo el cliente"
        case (.application, .english): return "the application on either side"
        case (.application, .spanish): return "la aplicación de cualquiera de los dos lados"
        case (.nobody, .english): return "no one: it never appears in a close frame"
        case (.nobody, .spanish): return "nadie: nunca aparece en una trama de cierre"
        }
    }
}
