import HoldfastCore

extension CloseOutcome {
    /// How the connection ended, explained in one line for errors and logs: the code's catalog
    /// description, then the reason if there was one — `1009 messageTooBig — message too big: a
    /// message or frame exceeded the size the receiver accepts (reason: message exceeds limit of
    /// 1048576 bytes)`.
    public func explanation(in language: Language = .english) -> String {
        let line = code.description(in: language)
        guard !reason.isEmpty else { return line }
        switch language {
        case .english: return "\(line) (reason: \(reason.escapingControlCharacters))"
        case .spanish: return "\(line) (motivo: \(reason.escapingControlCharacters))"
        }
    }
}

extension WebSocketError {
    /// This error for people: a closed connection's outcome explained with its code's catalog
    /// entry (``CloseOutcome/explanation(in:)``); any other error as its `description` says it.
    public func explanation(in language: Language = .english) -> String {
        guard let outcome = closeOutcome else { return description }
        return "the connection is closed: \(outcome.explanation(in: language))"
    }
}
