import NIOCore

package extension TimeAmount {
    /// The amount in seconds for messages and close reasons: `10 s`, `0.25 s`.
    var secondsDescription: String {
        let value = Double(nanoseconds) / 1e9
        return value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}
