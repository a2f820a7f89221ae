/// A place in a channel's stream: the offset of a publication in the history named by `epoch`.
///
/// Offsets count from 1 within a channel and never repeat within an epoch. The epoch names the
/// store's history and changes whenever that history is lost (a new in-memory store, a wiped
/// database), so a position from an old stream is never mistaken for one in the new stream.
public struct StreamPosition: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The history the offset belongs to.
    public var epoch: String
    /// The offset of a publication; 0 means "before the first".
    public var offset: UInt64

    /// A position in `epoch` at `offset`.
    public init(epoch: String, offset: UInt64) {
        self.epoch = epoch
        self.offset = offset
    }

    /// Reads `EPOCH:OFFSET`, the form the CLI prints and takes.
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":"), let offset = UInt64(text[text.index(after: colon)...]) else {
            return nil
        }
        let epoch = String(text[..<colon])
        guard !epoch.isEmpty else { return nil }
        self.init(epoch: epoch, offset: offset)
    }

    /// `EPOCH:OFFSET`.
    public var description: String { "\(epoch):\(offset)" }
}
