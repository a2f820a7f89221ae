package extension String {
    /// The string with every character that can change how a terminal or a log shows what
    /// follows written as a Swift escape (`\u{1B}`): C0 and C1 controls and DEL (ANSI escape
    /// sequences, carriage returns, bells) and the bidirectional overrides and isolates
    /// (U+202A–U+202E, U+2066–U+2069), which can make text read in another order than it is.
    /// Text the peer chose — close reasons, HTTP reason phrases — is printed through it.
    var escapingControlCharacters: String {
        guard unicodeScalars.contains(where: Self.needsEscaping) else { return self }
        var escaped = ""
        for scalar in unicodeScalars {
            if Self.needsEscaping(scalar) {
                escaped += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    private static func needsEscaping(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }
}
