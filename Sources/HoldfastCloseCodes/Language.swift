/// A language the close-code catalog is written in.
public enum Language: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// English.
    case english = "en"
    /// Spanish.
    case spanish = "es"

    /// Reads a language tag such as `en`, `es`, `es-MX` or `EN_us`, or a name such as `spanish`
    /// or `español`; `nil` for a language the catalog is not written in.
    public init?(tag: String) {
        let lowered = tag.lowercased()
        let primary = lowered.split(whereSeparator: { $0 == "-" || $0 == "_" }).first.map(String.init) ?? lowered
        switch primary {
        case "en", "eng", "english", "inglés", "ingles": self = .english
        case "es", "spa", "spanish", "español", "espanol", "castellano": self = .spanish
        default: return nil
        }
    }

    /// The two-letter ISO 639-1 code, `en` or `es`.
    public var tag: String { rawValue }

    public var description: String { rawValue }
}
