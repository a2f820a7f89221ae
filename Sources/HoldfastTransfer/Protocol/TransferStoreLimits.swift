/// The limits a receiver keeps partial transfers within, as pure policy: the store asks
/// ``admission(ofSize:openTransfers:reservedBytes:)`` before it accepts a new transfer and
/// ``isExpired(idleFor:)`` when it looks for abandoned ones.
public struct TransferStoreLimits: Sendable, Hashable {
    /// The largest single transfer accepted, in bytes. Default `nil`: up to ``maxTotalBytes``.
    public var maxTransferSize: Int?
    /// The bytes all partial transfers together may reserve; a transfer reserves its whole size
    /// when accepted, so a store never runs out midway. Default 1 GiB.
    public var maxTotalBytes: Int
    /// Partial transfers kept at once. Default 16: a few clients' uploads, not an unbounded pile.
    public var maxOpenTransfers: Int
    /// How long a partial transfer is kept without receiving anything before it is discarded.
    /// Default 1 hour: long enough for a restart or a network outage, short enough that
    /// abandoned uploads do not hold the store.
    public var idleTimeout: Duration

    /// Creates limits; every parameter defaults as documented on its property.
    public init(maxTransferSize: Int? = nil, maxTotalBytes: Int = 1 << 30, maxOpenTransfers: Int = 16,
                idleTimeout: Duration = .seconds(3600)) {
        self.maxTransferSize = maxTransferSize
        self.maxTotalBytes = maxTotalBytes
        self.maxOpenTransfers = maxOpenTransfers
        self.idleTimeout = idleTimeout
    }

    /// Whether a new transfer of `size` bytes may be accepted while `openTransfers` others are
    /// kept, reserving `reservedBytes`: `nil` to accept, else the refusal to send.
    public func admission(ofSize size: Int, openTransfers: Int, reservedBytes: Int) -> TransferRefusal? {
        let largest = min(maxTransferSize ?? maxTotalBytes, maxTotalBytes)
        if size > largest {
            return TransferRefusal(.transferTooLarge,
                                   "transfer of \(size) bytes exceeds the limit of \(largest) bytes per transfer")
        }
        if openTransfers >= maxOpenTransfers {
            return TransferRefusal(.tooManyTransfers,
                                   "the receiver already keeps \(openTransfers) open transfers (limit \(maxOpenTransfers))")
        }
        if size > maxTotalBytes - reservedBytes {
            return TransferRefusal(.storeFull, "transfer of \(size) bytes does not fit: \(reservedBytes) of "
                                   + "\(maxTotalBytes) bytes are reserved by open transfers")
        }
        return nil
    }

    /// Whether a partial transfer that received nothing for `idleFor` is to be discarded.
    public func isExpired(idleFor: Duration) -> Bool {
        idleFor >= idleTimeout
    }
}
