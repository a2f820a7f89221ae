import HoldfastCore

extension CloseCode {
    /// This code's catalog entry: what it means, when it is seen, how to fix it.
    public func info(in language: Language = .english) -> CloseCodeInfo {
        CloseCodeCatalog.entry(for: self, in: language)
    }

    /// One line for errors and logs: `1009 messageTooBig — message too big: a message or frame
    /// exceeded the size the receiver accepts`.
    public func description(in language: Language) -> String {
        info(in: language).description
    }

    /// This code side by side with `other`: both entries, the key differences, when each applies.
    public func compared(with other: CloseCode, in language: Language = .english) -> CloseCodeComparison {
        CloseCodeComparison(self, other, in: language)
    }
}
