/// The name a sender gives a transfer, checked to be a plain file name that a receiver can write
/// under its own directory without escaping it.
public enum TransferName {
    /// The longest name accepted, in UTF-8 bytes: the usual file-system limit for one component.
    public static let maximumLength = 255

    /// Returns `name` if it is a plain file name, or throws a refusal saying what is wrong: empty,
    /// `.` or `..`, a path (`/` or `\`), a drive or stream separator (`:`), a control character,
    /// a leading or trailing space, or more than ``maximumLength`` bytes.
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
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
                    throw refuse("contains a control character")
                }
            }
        }
        guard name.first != " ", name.last != " " else { throw refuse("begins or ends with a space") }
        return name
    }

    /// `name` in quotes with control characters escaped, safe to show in a reason.
    private static func quoted(_ name: String) -> String {
        let shown = name.unicodeScalars.prefix(64).map { scalar -> String in
            scalar.value < 0x20 || scalar.value == 0x7F ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
        }.joined()
        return "'\(shown)\(name.unicodeScalars.count > 64 ? "…" : "")'"
    }
}
