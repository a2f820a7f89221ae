/// How an endpoint uses permessage-deflate (RFC 7692), the compression extension every browser
/// offers. The same settings serve both roles: "own" is what this endpoint compresses with, "peer"
/// what it lets the other side compress with.
///
/// Memory is bounded by the window bits: compressing takes about
/// `2^(maxWindowBits + 2) + 2^(memoryLevel + 9)` bytes per connection, decompressing about
/// `2^peerMaxWindowBits` plus 7 KiB, each allocated at the first compressed message (never on an
/// idle connection).
public struct PerMessageDeflateConfiguration: Sendable, Hashable {
    /// The largest LZ77 window this endpoint compresses with, 9–15 bits. Default 12 (4 KiB): with
    /// the default memory level about 32 KiB of compression state per connection instead of
    /// 256 KiB at 15, for a ratio within a few percent of it on typical JSON and text.
    public var maxWindowBits: Int
    /// The largest window the peer may compress with, 9–15 bits; asked of a peer that says it can
    /// limit it (a client offering `client_max_window_bits`, or any server). Default 15: any
    /// peer's compression is accepted; lower it to bound decompression memory.
    public var peerMaxWindowBits: Int
    /// Whether this endpoint starts every message with an empty window, trading ratio for the
    /// memory a window would keep between messages. Default `false`.
    public var noContextTakeover: Bool
    /// Whether to ask the peer to start every message with an empty window. Default `false`.
    public var peerNoContextTakeover: Bool
    /// Messages shorter than this many bytes are sent uncompressed: deflate gains nothing on a few
    /// bytes and costs time. Default 128. Messages sent fragment by fragment are compressed
    /// when their first fragment reaches it.
    public var minimumMessageSize: Int
    /// zlib's compression level, 1 (fastest) to 9 (smallest). Default 6, zlib's own default.
    public var compressionLevel: Int
    /// zlib's memory level, 1–9: the size of its hash table and buffers. Default 5 (see
    /// ``maxWindowBits``).
    public var memoryLevel: Int

    /// Creates a configuration; every parameter defaults as documented on its property. Window
    /// bits are clamped to 9–15 and levels to 1–9.
    public init(maxWindowBits: Int = 12, peerMaxWindowBits: Int = 15, noContextTakeover: Bool = false,
                peerNoContextTakeover: Bool = false, minimumMessageSize: Int = 128, compressionLevel: Int = 6,
                memoryLevel: Int = 5) {
        self.maxWindowBits = min(max(maxWindowBits, 9), 15)
        self.peerMaxWindowBits = min(max(peerMaxWindowBits, 9), 15)
        self.noContextTakeover = noContextTakeover
        self.peerNoContextTakeover = peerNoContextTakeover
        self.minimumMessageSize = max(0, minimumMessageSize)
        self.compressionLevel = min(max(compressionLevel, 1), 9)
        self.memoryLevel = min(max(memoryLevel, 1), 9)
    }
}

/// What two endpoints agreed on for permessage-deflate, from this endpoint's point of view.
public struct PerMessageDeflateParameters: Sendable, Hashable, CustomStringConvertible {
    /// The largest window this endpoint may compress with (8–15). At 8, which zlib cannot
    /// produce, this endpoint sends every message uncompressed — which RFC 7692 allows.
    public var ownMaxWindowBits: Int
    /// The largest window the peer compresses with (8–15).
    public var peerMaxWindowBits: Int
    /// Whether this endpoint must start every message with an empty window.
    public var ownNoContextTakeover: Bool
    /// Whether the peer starts every message with an empty window.
    public var peerNoContextTakeover: Bool

    /// Creates parameters.
    public init(ownMaxWindowBits: Int = 15, peerMaxWindowBits: Int = 15, ownNoContextTakeover: Bool = false,
                peerNoContextTakeover: Bool = false) {
        self.ownMaxWindowBits = ownMaxWindowBits
        self.peerMaxWindowBits = peerMaxWindowBits
        self.ownNoContextTakeover = ownNoContextTakeover
        self.peerNoContextTakeover = peerNoContextTakeover
    }

    public var description: String {
        var parts = ["own window \(ownMaxWindowBits) bits", "peer window \(peerMaxWindowBits) bits"]
        if ownNoContextTakeover { parts.append("own no context takeover") }
        if peerNoContextTakeover { parts.append("peer no context takeover") }
        return "permessage-deflate (" + parts.joined(separator: ", ") + ")"
    }
}
