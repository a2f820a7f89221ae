extension CloseOutcome {
    /// How the connection ended, explained in one line for errors and logs: the code's catalog
    /// description, then the reason if there was one — `1009 messageTooBig — message too big: a
    /// message or frame exceeded the size the receiver accepts (reason: message exceeds limit of
    /// 1048576 bytes)`.
    public func explanation(in language: Language = .english) -> String {
        let line = code.description(in: language)
        guard !reason.isEmpty else { return line }
        switch language {
        case .english: return "\(line) (reason: \(reason))"
        case .spanish: return "\(line) (motivo: \(reason))"
        }
    }
}
