import HoldfastCore

/// What a close code is about: the kind of cause behind it. Two codes of different kinds call
/// for different responses, which is what a comparison leads with.
public enum CloseCodeKind: String, Sendable, Hashable, CaseIterable {
    /// 1000: the connection did what it was for.
    case normal
    /// 1001, 1012, 1013: the endpoint is leaving or cannot serve now, whatever was sent.
    case availability
    /// 1002, 1007: a frame or its data broke a rule of RFC 6455.
    case protocolViolation
    /// 1003, 1008, 1009: the receiver refused what was sent — its type, its policy or its size.
    case rejectedContent
    /// 1010: the handshake did not negotiate an extension the client requires.
    case negotiation
    /// 1011, 1014: something failed on the server's side or behind it.
    case failure
    /// 1005, 1006, 1015: what the local API observed; never sent.
    case localReport
    /// 1004 and 1016–2999: a number with no assigned meaning.
    case reserved
    /// 3000–4999: defined by a library, a framework or an application, not by RFC 6455.
    case application
    /// Below 1000 or above 4999: not a close code.
    case invalid

    /// The kind of a code.
    public init(_ code: CloseCode) {
        switch code.rawValue {
        case 1000: self = .normal
        case 1001, 1012, 1013: self = .availability
        case 1002, 1007: self = .protocolViolation
        case 1003, 1008, 1009: self = .rejectedContent
        case 1010: self = .negotiation
        case 1011, 1014: self = .failure
        case 1005, 1006, 1015: self = .localReport
        case 1004, 1016...2999: self = .reserved
        case 3000...4999: self = .application
        default: self = .invalid
        }
    }

    /// What codes of this kind are about, as a phrase that completes "…is about".
    public func cause(in language: Language) -> String {
        switch (self, language) {
        case (.normal, .english): return "a normal, intended end: the work is done"
        case (.normal, .spanish): return "un final normal y deliberado: el trabajo está hecho"
        case (.availability, .english):
            return "availability: the endpoint is leaving or cannot serve right now, whatever was sent"
        case (.availability, .spanish):
            return "la disponibilidad: el extremo se va o no puede atender ahora, independientemente de lo enviado"
        case (.protocolViolation, .english): return "a broken protocol rule: a frame or its data was malformed"
        case (.protocolViolation, .spanish):
            return "una regla del protocolo incumplida: una trama o sus datos estaban mal formados"
        case (.rejectedContent, .english):
            return "content: the receiver refused what was sent (its type, its policy or its size)"
        case (.rejectedContent, .spanish):
            return "el contenido: el receptor rechazó lo enviado (por su tipo, su política o su tamaño)"
        case (.negotiation, .english): return "the handshake: an extension the client requires was not negotiated"
        case (.negotiation, .spanish):
            return "el handshake: no se negoció una extensión que el cliente exige"
        case (.failure, .english): return "a failure on the server's side or behind it"
        case (.failure, .spanish): return "un fallo en el lado del servidor o detrás de él"
        case (.localReport, .english):
            return "what the local API observed — no code, no close frame, or a failed TLS handshake — not anything a peer sent"
        case (.localReport, .spanish):
            return "lo que observó la API local —sin código, sin trama de cierre o un handshake TLS fallido—, no algo que enviara el otro extremo"
        case (.reserved, .english): return "a number with no assigned meaning, which may not be sent"
        case (.reserved, .spanish): return "un número sin significado asignado, que no puede enviarse"
        case (.application, .english): return "an application's own reasons, defined outside RFC 6455"
        case (.application, .spanish): return "los motivos propios de una aplicación, definidos fuera del RFC 6455"
        case (.invalid, .english): return "a number that is not a close code: it lies outside 1000–4999"
        case (.invalid, .spanish): return "un número que no es un código de cierre: está fuera de 1000–4999"
        }
    }
}
