import HoldfastCore

/// The name a sender gives a transfer, checked to be a plain file name that a receiver can write
/// under its own directory without escaping it.
public enum TransferName {
    /// The longest name accepted, in UTF-8 bytes: the usual file-system limit for one component.
    public static let maximumLength = 255

    /// Returns `name` if it is a plain file name from a safe set, or throws a refusal saying what
    /// is wrong: empty, a path (`/` or `\`), a drive or stream separator (`:`), a leading dot (a
    /// hidden file, `.` and `..` among them), a control character, a bidirectional control (which
    /// can make `gpj.exe` read as `exe.jpg`), an invisible character (zero-width spaces and
    /// joiners, the byte-order mark), a leading or trailing space, or more than ``maximumLength``
    /// bytes.
    public static func validated(_ name: String) throws(TransferRefusal) -> String {
        func refuse(_ why: String) -> TransferRefusal {
            TransferRefusal(.invalidName, "invalid name \(quoted(name)): \(why)")
        }
        guard !name.isEmpty else { throw refuse("the name is empty") }
        guard name.utf8.count <= maximumLength else {
            throw refuse("longer than \(maximumLength) bytes")
        }
        guard name != ".", name != ".." else { throw refuse("not a file name") }
        for scalar in name.unicodeScalars {
            switch scalar {
            case "/", "\\":
                throw refuse("a path, not a file name (no separators allowed)")
            case ":":
                throw refuse("contains ':'")
            default:
                switch scalar.value {
                case 0x00..<0x20, 0x7F..<0xA0:
                    throw refuse("contains a control character")
                case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069:
                    throw refuse("contains a bidirectional control character")
                case 0x200B...0x200D, 0x2060, 0xFEFF:
                    throw refuse("contains an invisible character")
                default:
                    break
                }
            }
        }
        guard !name.hasPrefix(".") else { throw refuse("begins with a dot (a hidden file)") }
        guard name.first != " ", name.last != " " else { throw refuse("begins or ends with a space") }
        return name
    }

    /// `name` in quotes with control characters escaped, safe to show in a reason.
    private static func quoted(_ name: String) -> String {
        let shown = String(String.UnicodeScalarView(name.unicodeScalars.prefix(64))).escapingControlCharacters
        return "'\(shown)\(name.unicodeScalars.count > 64 ? "…" : "")'"
    }
}
