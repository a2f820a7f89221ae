import HoldfastCore
import NIOConcurrencyHelpers
import NIOCore

/// Where a ``TransferReceiver`` keeps partial transfers until they are whole and verified: in
/// memory (``memory(limits:clock:)``) or on disk (``disk(directory:limits:clock:)``), within
/// ``TransferStoreLimits``.
public final class TransferStore: Sendable {
    /// A partial transfer the store keeps.
    public struct PartialTransfer: Sendable, Hashable {
        /// What the sender offered.
        public var offer: TransferOffer
        /// Bytes stored, from the start.
        public var held: Int

        /// Creates a description of a partial transfer.
        public init(offer: TransferOffer, held: Int) {
            self.offer = offer
            self.held = held
        }
    }

    /// What ``complete(_:digest:)`` found.
    enum Completion: Sendable {
        /// The transfer is whole and verified, delivered now.
        case delivered(ReceivedTransfer)
        /// It was delivered before (the sender did not hear the confirmation).
        case deliveredBefore
    }

    private struct Entry {
        var offer: TransferOffer
        var held: Int
        var synchronized: Int
        var lastActivity: Duration
    }

    private struct Ledger {
        var entries: [TransferID: Entry] = [:]
        /// Digests of delivered transfers, so that a sender that missed the confirmation gets it
        /// again instead of sending everything again; the oldest are forgotten past 1,024.
        var delivered: [TransferID: TransferDigest] = [:]
        var deliveredOrder: [TransferID] = []

        mutating func recordDelivered(_ id: TransferID, _ digest: TransferDigest) {
            if delivered.updateValue(digest, forKey: id) == nil { deliveredOrder.append(id) }
            if deliveredOrder.count > 1024 { delivered.removeValue(forKey: deliveredOrder.removeFirst()) }
        }
    }

    /// The limits the store keeps within.
    public let limits: TransferStoreLimits
    /// Bytes written to a transfer between two synchronizations of a disk store (fsync, then
    /// the meta file); the receiver also synchronizes when a connection ends.
    static let synchronizationInterval = 4 << 20
    private let storage: any TransferStorage
    private let ledger: NIOLockedValueBox<Ledger>
    /// Time since the store was made, on the injected clock.
    private let elapsed: @Sendable () -> Duration

    private init<C: Clock>(storage: any TransferStorage, limits: TransferStoreLimits, clock: C,
                           partial: [StoredPartialTransfer], delivered: [TransferID: TransferDigest])
    where C.Duration == Duration {
        self.storage = storage
        self.limits = limits
        let start = clock.now
        self.elapsed = { start.duration(to: clock.now) }
        var ledger = Ledger()
        for transfer in partial {
            ledger.entries[transfer.offer.id] = Entry(offer: transfer.offer, held: transfer.held,
                                                      synchronized: transfer.held, lastActivity: .zero)
        }
        for (id, digest) in delivered { ledger.recordDelivered(id, digest) }
        self.ledger = NIOLockedValueBox(ledger)
    }

    /// A store in memory: partial transfers are lost when the process ends.
    /// - Parameters:
    ///   - limits: the bounds it keeps within.
    ///   - clock: the clock idle times are measured on; tests pass one they control.
    public static func memory<C: Clock>(limits: TransferStoreLimits = .init(), clock: C = ContinuousClock())
        -> TransferStore where C.Duration == Duration
    {
        TransferStore(storage: MemoryTransferStorage(), limits: limits, clock: clock, partial: [], delivered: [:])
    }

    /// A store in `directory`: partial transfers survive a restart (in `.holdfast-partial`, each
    /// as its data and a small meta file), and a verified transfer is renamed to
    /// `directory/NAME`, replacing a file of that name. The directory is created if needed; what
    /// an earlier run left is picked up, each partial transfer at the offset its meta file says
    /// was synchronized (after a crash, up to 4 MiB acknowledged since then are asked for again).
    /// - Parameters:
    ///   - directory: where files go.
    ///   - limits: the bounds it keeps within.
    ///   - clock: the clock idle times are measured on (a restart counts as activity).
    /// - Throws: an `IOError` when the directory cannot be created or read.
    public static func disk<C: Clock>(directory: String, limits: TransferStoreLimits = .init(),
                                      clock: C = ContinuousClock()) async throws -> TransferStore
    where C.Duration == Duration {
        let storage = DiskTransferStorage(directory: directory)
        let (partial, delivered) = try await storage.load()
        return TransferStore(storage: storage, limits: limits, clock: clock, partial: partial, delivered: delivered)
    }

    /// The partial transfers kept now.
    public var partialTransfers: [PartialTransfer] {
        ledger.withLockedValue { ledger in
            ledger.entries.values.map { PartialTransfer(offer: $0.offer, held: $0.held) }
        }
    }

    /// Accepts `offer` (new, or one the store keeps) and returns the bytes held for it.
    /// - Throws: a ``TransferRefusal`` for a bad name, a limit, or a conflicting offer.
    func open(_ offer: TransferOffer) async throws(TransferRefusal) -> Int {
        await discardExpired()
        _ = try TransferName.validated(offer.name)
        guard offer.size >= 0 else { throw TransferRefusal(.transferTooLarge, "negative size") }
        let now = elapsed()
        enum Opening { case held(Int), created, refused(TransferRefusal) }
        let opening = ledger.withLockedValue { ledger -> Opening in
            if let digest = ledger.delivered[offer.id], offer.digest == nil || offer.digest == digest {
                return .held(offer.size)
            }
            if var entry = ledger.entries[offer.id] {
                guard entry.offer.size == offer.size, entry.offer.name == offer.name,
                      entry.offer.digest == nil || offer.digest == nil || entry.offer.digest == offer.digest else {
                    return .refused(TransferRefusal(.conflictingOffer, "transfer \(offer.id) is kept with another "
                                                    + "size, name or digest; send it under a new id"))
                }
                entry.lastActivity = now
                ledger.entries[offer.id] = entry
                return .held(entry.held)
            }
            let reserved = ledger.entries.values.reduce(0) { $0 + $1.offer.size }
            if let refusal = limits.admission(ofSize: offer.size, openTransfers: ledger.entries.count,
                                              reservedBytes: reserved) {
                return .refused(refusal)
            }
            ledger.entries[offer.id] = Entry(offer: offer, held: 0, synchronized: 0, lastActivity: now)
            return .created
        }
        switch opening {
        case .held(let held):
            return held
        case .refused(let refusal):
            throw refusal
        case .created:
            do {
                try await storage.create(offer)
            } catch {
                ledger.withLockedValue { _ = $0.entries.removeValue(forKey: offer.id) }
                throw TransferRefusal(.storeFailed, "cannot store the transfer: \(error)")
            }
            return 0
        }
    }

    /// The bytes held and the size of transfer `id`, if kept.
    func held(_ id: TransferID) -> (held: Int, size: Int)? {
        ledger.withLockedValue { ledger in ledger.entries[id].map { ($0.held, $0.offer.size) } }
    }

    /// Writes `data` at `offset` (the receiver placed it at the held offset) and returns the new
    /// held offset. Synchronizes a disk store every 4 MiB.
    func write(_ data: ByteBuffer, to id: TransferID, at offset: Int) async throws(TransferRefusal) -> Int {
        guard held(id) != nil else { throw Self.unknown(id) }
        do {
            try await storage.write(data, to: id, at: offset)
        } catch {
            throw TransferRefusal(.storeFailed, "cannot store the transfer: \(error)")
        }
        let now = elapsed()
        let update = ledger.withLockedValue { ledger -> (held: Int, synchronize: TransferOffer?)? in
            guard var entry = ledger.entries[id] else { return nil }
            if offset <= entry.held { entry.held = max(entry.held, offset + data.readableBytes) }
            entry.lastActivity = now
            let due = entry.held - entry.synchronized >= Self.synchronizationInterval
            ledger.entries[id] = entry
            return (entry.held, due ? entry.offer : nil)
        }
        guard let update else { throw Self.unknown(id) }
        if let offer = update.synchronize { try await synchronize(offer, held: update.held) }
        return update.held
    }

    /// Makes what is held of each transfer in `ids` durable (a disk store's fsync and meta file).
    func synchronize(_ ids: some Sequence<TransferID>) async {
        for id in ids {
            guard let entry = ledger.withLockedValue({ $0.entries[id] }), entry.synchronized < entry.held else { continue }
            try? await synchronize(entry.offer, held: entry.held)
        }
    }

    private func synchronize(_ offer: TransferOffer, held: Int) async throws(TransferRefusal) {
        do {
            try await storage.synchronize(offer, held: held)
        } catch {
            throw TransferRefusal(.storeFailed, "cannot store the transfer: \(error)")
        }
        ledger.withLockedValue { ledger in
            if let entry = ledger.entries[offer.id], entry.synchronized < held {
                ledger.entries[offer.id]?.synchronized = held
            }
        }
    }

    /// Verifies a whole transfer against `digest` (and the offer's) by reading back what is
    /// stored, then delivers it. A mismatch discards the partial transfer.
    func complete(_ id: TransferID, digest: TransferDigest) async throws(TransferRefusal) -> Completion {
        enum Found { case entry(Entry), delivered(TransferDigest), none }
        let found = ledger.withLockedValue { ledger -> Found in
            if let entry = ledger.entries[id] { return .entry(entry) }
            if let delivered = ledger.delivered[id] { return .delivered(delivered) }
            return .none
        }
        let entry: Entry
        switch found {
        case .none:
            throw Self.unknown(id)
        case .delivered(let delivered):
            guard delivered == digest else {
                throw TransferRefusal(.digestMismatch, "transfer \(id) was delivered with digest \(delivered), not \(digest)")
            }
            return .deliveredBefore
        case .entry(let found):
            entry = found
        }
        let stored: TransferDigest
        do {
            stored = try await storage.digest(of: id, size: entry.offer.size)
        } catch {
            throw TransferRefusal(.storeFailed, "cannot read the transfer back: \(error)")
        }
        if let announced = entry.offer.digest, announced != digest {
            await discard(id)
            throw TransferRefusal(.digestMismatch, "the finish digest \(digest) differs from the offer's \(announced); "
                                  + "the partial transfer was discarded")
        }
        guard stored == digest else {
            await discard(id)
            throw TransferRefusal(.digestMismatch, "the \(entry.offer.size) bytes received have SHA-256 \(stored), "
                                  + "not \(digest); the partial transfer was discarded")
        }
        let received: ReceivedTransfer
        do {
            received = try await storage.finalize(entry.offer, digest: digest)
        } catch {
            throw TransferRefusal(.storeFailed, "cannot deliver the transfer: \(error)")
        }
        ledger.withLockedValue { ledger in
            ledger.entries.removeValue(forKey: id)
            ledger.recordDelivered(id, digest)
        }
        return .delivered(received)
    }

    /// Forgets a partial transfer and its bytes.
    func discard(_ id: TransferID) async {
        ledger.withLockedValue { _ = $0.entries.removeValue(forKey: id) }
        await storage.discard(id)
    }

    /// Discards the partial transfers idle for ``TransferStoreLimits/idleTimeout``.
    public func discardExpired() async {
        let now = elapsed()
        let expired = ledger.withLockedValue { ledger -> [TransferID] in
            let expired = ledger.entries.values.filter { limits.isExpired(idleFor: now - $0.lastActivity) }.map(\.offer.id)
            for id in expired { ledger.entries.removeValue(forKey: id) }
            return expired
        }
        for id in expired { await storage.discard(id) }
    }

    private static func unknown(_ id: TransferID) -> TransferRefusal {
        TransferRefusal(.unknownTransfer, "transfer \(id) is not kept here (never offered, expired or discarded); "
                        + "offer it again")
    }
}
