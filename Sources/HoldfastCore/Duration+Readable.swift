import NIOCore

package extension Duration {
    /// The duration for people, in the unit that keeps it short and exact enough to act on:
    /// `750 µs`, `70 ms`, `1.5 s`, `10 s`, `2 min 5 s`, `3 h 2 min`. Used in close reasons, HTTP
    /// answers, events and logs alike, so every message says a time the same way.
    var readableDescription: String {
        let (seconds, attoseconds) = components
        let nanoseconds = Double(seconds) * 1e9 + Double(attoseconds) / 1e9
        if nanoseconds < 1e6 { return "\(Int((nanoseconds / 1e3).rounded())) µs" }
        if nanoseconds < 1e9 { return "\(Int((nanoseconds / 1e6).rounded())) ms" }
        if seconds < 60 {
            let tenths = (nanoseconds / 1e8).rounded()
            return tenths.truncatingRemainder(dividingBy: 10) == 0 ? "\(Int(tenths / 10)) s" : "\(tenths / 10) s"
        }
        if seconds < 3600 {
            return seconds % 60 == 0 ? "\(seconds / 60) min" : "\(seconds / 60) min \(seconds % 60) s"
        }
        return seconds / 60 % 60 == 0 ? "\(seconds / 3600) h" : "\(seconds / 3600) h \(seconds / 60 % 60) min"
    }
}

package extension TimeAmount {
    /// The amount for people: see `Duration.readableDescription` (`10 s`, `250 ms`).
    var readableDescription: String {
        Duration.nanoseconds(nanoseconds).readableDescription
    }
}
