/// The limits a receiver keeps transfers within, as pure policy: the store asks
/// ``admission(ofSize:openTransfers:reservedBytes:deliveredBytes:)`` before it accepts a new
/// transfer, ``isExpired(idleFor:held:)`` when it looks for abandoned ones, and
/// ``mayEvict(idleFor:)`` when a new transfer needs the room an idle one takes.
public struct TransferStoreLimits: Sendable, Hashable {
    /// The largest single transfer accepted, in bytes. Default `nil`: up to ``maxTotalBytes``.
    public var maxTransferSize: Int?
    /// The bytes the store may hold: partial transfers (each reserves its whole size when
    /// accepted, so a store never runs out midway) plus, for a disk store, the files it
    /// delivered that are still in its directory. Default 1 GiB.
    public var maxTotalBytes: Int
    /// Partial transfers kept at once. Default 16: a few clients' uploads, not an unbounded pile.
    public var maxOpenTransfers: Int
    /// Partial transfers one connection may have open at once. Default 4: one client cannot
    /// take every place of ``maxOpenTransfers``.
    public var maxOpenTransfersPerConnection: Int
    /// How long a partial transfer is kept without receiving anything before it is discarded.
    /// Default 1 hour: long enough for a restart or a network outage, short enough that
    /// abandoned uploads do not hold the store.
    public var idleTimeout: Duration
    /// How long a partial transfer may go without data before it counts as abandoned. Default
    /// 2 minutes. An abandoned transfer gives up its place (and its reserved bytes) to a new
    /// offer that would not fit otherwise, and one that never received a byte is discarded
    /// then anyway: offers alone cannot lock a store for ``idleTimeout``.
    public var abandonedAfter: Duration
    /// How long the connection writing a transfer must have been quiet before another connection
    /// may take the transfer over. Default 10 s. Until then a second connection is refused
    /// (``TransferRefusal/Code/transferBusy``): two writers never interleave, and a sender whose
    /// old connection died silently resumes on its new one within this time.
    public var writerTakeoverAfter: Duration

    /// Creates limits; every parameter defaults as documented on its property.
    public init(maxTransferSize: Int? = nil, maxTotalBytes: Int = 1 << 30, maxOpenTransfers: Int = 16,
                maxOpenTransfersPerConnection: Int = 4, idleTimeout: Duration = .seconds(3600),
                abandonedAfter: Duration = .seconds(120), writerTakeoverAfter: Duration = .seconds(10)) {
        self.maxTransferSize = maxTransferSize
        self.maxTotalBytes = maxTotalBytes
        self.maxOpenTransfers = maxOpenTransfers
        self.maxOpenTransfersPerConnection = maxOpenTransfersPerConnection
        self.idleTimeout = idleTimeout
        self.abandonedAfter = abandonedAfter
        self.writerTakeoverAfter = writerTakeoverAfter
    }

    /// Whether a new transfer of `size` bytes may be accepted while `openTransfers` others are
    /// kept, reserving `reservedBytes`, beside `deliveredBytes` of delivered files: `nil` to
    /// accept, else the refusal to send.
    public func admission(ofSize size: Int, openTransfers: Int, reservedBytes: Int,
                          deliveredBytes: Int = 0) -> TransferRefusal? {
        let largest = min(maxTransferSize ?? maxTotalBytes, maxTotalBytes)
        if size > largest {
            return TransferRefusal(.transferTooLarge,
                                   "transfer of \(size) bytes exceeds the limit of \(largest) bytes per transfer")
        }
        if openTransfers >= maxOpenTransfers {
            return TransferRefusal(.tooManyTransfers,
                                   "the receiver already keeps \(openTransfers) open transfers (limit \(maxOpenTransfers))")
        }
        if size > maxTotalBytes - reservedBytes - deliveredBytes {
            let delivered = deliveredBytes > 0 ? " and \(deliveredBytes) are taken by delivered files" : ""
            return TransferRefusal(.storeFull, "transfer of \(size) bytes does not fit: \(reservedBytes) of "
                                   + "\(maxTotalBytes) bytes are reserved by open transfers\(delivered)")
        }
        return nil
    }

    /// Whether a connection that already has `openByConnection` partial transfers open may open
    /// another: `nil` if it may, else the refusal.
    public func admission(ofConnectionWith openByConnection: Int) -> TransferRefusal? {
        guard openByConnection >= maxOpenTransfersPerConnection else { return nil }
        return TransferRefusal(.tooManyTransfers, "this connection already has \(openByConnection) open transfers "
                               + "(limit \(maxOpenTransfersPerConnection) per connection)")
    }

    /// Whether a partial transfer that received nothing for `idleFor`, holding `held` bytes, is
    /// to be discarded: after ``idleTimeout``, or after ``abandonedAfter`` if it never received
    /// a byte.
    public func isExpired(idleFor: Duration, held: Int) -> Bool {
        idleFor >= idleTimeout || (held == 0 && idleFor >= abandonedAfter)
    }

    /// Whether a partial transfer idle for `idleFor` may give up its place to a new offer.
    public func mayEvict(idleFor: Duration) -> Bool {
        idleFor >= abandonedAfter
    }

    /// Whether a connection other than the one writing a transfer may take it over, the writer
    /// having been quiet for `quietFor`.
    public func mayTakeOver(writerQuietFor quietFor: Duration) -> Bool {
        quietFor >= writerTakeoverAfter
    }
}
