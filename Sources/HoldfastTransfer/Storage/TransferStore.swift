import HoldfastCore
import NIOConcurrencyHelpers
import NIOCore

/// Where a ``TransferReceiver`` keeps partial transfers until they are whole and verified: in
/// memory (``memory(limits:clock:)``), on disk (``disk(directory:limits:overwrite:clock:)``), or
/// in a storage several nodes share (``shared(_:directory:limits:overwrite:clock:)``), within
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
        /// When data last arrived (or the transfer was offered, or kept across a restart): what
        /// expiry and eviction count from, so that offering again alone does not keep a
        /// transfer alive.
        var lastData: Duration
        /// The connection writing the transfer, while it is open.
        var writer: TransferWriter?
    }

    private struct Ledger {
        var entries: [TransferID: Entry] = [:]
        /// Digests of delivered transfers, so that a sender that missed the confirmation gets it
        /// again instead of sending everything again; the oldest are forgotten past
        /// ``TransferStore/deliveredRecordsKept``.
        var delivered: [TransferID: TransferDigest] = [:]
        var deliveredOrder: [TransferID] = []
        /// Bytes of the files delivered into a disk store's directory, counted against the quota.
        var deliveredBytes = 0

        /// Takes what a shared storage holds of transfer `id` (`state`, `nil` for nothing) over
        /// what this node remembers: another node may have written more, delivered it, or
        /// discarded it.
        mutating func reconcile(_ id: TransferID, with state: SharedTransferState?, now: Duration) -> [TransferID] {
            switch state {
            case .delivered(let digest):
                entries.removeValue(forKey: id)
                return recordDelivered(id, digest)
            case .partial(let offer, let held):
                if var entry = entries[id] {
                    entry.held = held
                    entry.synchronized = held
                    entries[id] = entry
                } else {
                    entries[id] = Entry(offer: offer, held: held, synchronized: held, lastActivity: now, lastData: now)
                }
            case nil:
                entries.removeValue(forKey: id)
            }
            return []
        }

        /// Records a delivery; returns the records forgotten to make room for it.
        mutating func recordDelivered(_ id: TransferID, _ digest: TransferDigest) -> [TransferID] {
            if delivered.updateValue(digest, forKey: id) == nil { deliveredOrder.append(id) }
            var forgotten: [TransferID] = []
            while deliveredOrder.count > TransferStore.deliveredRecordsKept {
                let oldest = deliveredOrder.removeFirst()
                delivered.removeValue(forKey: oldest)
                forgotten.append(oldest)
            }
            return forgotten
        }

        /// Partial transfers that `writer` has open.
        func openTransfers(of writer: TransferWriter) -> Int {
            entries.values.reduce(0) { $0 + ($1.writer == writer ? 1 : 0) }
        }
    }

    /// How many deliveries the store remembers, so that a sender that missed a confirmation gets
    /// it again; older records are deleted (a disk store's `.done` files included).
    static let deliveredRecordsKept = 1024

    /// The limits the store keeps within.
    public let limits: TransferStoreLimits
    /// Bytes written to a transfer between two synchronizations of a disk store (fsync, then
    /// the meta file); the receiver also synchronizes when a connection ends.
    static let synchronizationInterval = 4 << 20
    private let storage: any TransferStorage
    /// The storage again when it is shared with other nodes, whose state an offer looks up.
    private let shared: SharedDirectoryTransferStorage?
    private let ledger: NIOLockedValueBox<Ledger>
    /// Time since the store was made, on the injected clock.
    private let elapsed: @Sendable () -> Duration

    private init<C: Clock>(storage: any TransferStorage, limits: TransferStoreLimits, clock: C,
                           contents: StoredContents) async
    where C.Duration == Duration {
        self.storage = storage
        self.shared = storage as? SharedDirectoryTransferStorage
        self.limits = limits
        let start = clock.now
        self.elapsed = { start.duration(to: clock.now) }
        var ledger = Ledger()
        for transfer in contents.partial {
            ledger.entries[transfer.offer.id] = Entry(offer: transfer.offer, held: transfer.held,
                                                      synchronized: transfer.held, lastActivity: .zero, lastData: .zero)
        }
        var forgotten: [TransferID] = []
        for (id, digest) in contents.delivered { forgotten += ledger.recordDelivered(id, digest) }
        ledger.deliveredBytes = contents.deliveredBytes
        self.ledger = NIOLockedValueBox(ledger)
        await storage.forgetDelivered(forgotten)
    }

    /// A store in memory: partial transfers are lost when the process ends.
    /// - Parameters:
    ///   - limits: the bounds it keeps within.
    ///   - clock: the clock idle times are measured on; tests pass one they control.
    public static func memory<C: Clock>(limits: TransferStoreLimits = .init(), clock: C = ContinuousClock())
        -> TransferStore where C.Duration == Duration
    {
        // Nothing to read back or forget: the initializer's awaits finish at once.
        TransferStore(storage: MemoryTransferStorage(), limits: limits, clock: clock)
    }

    /// An empty store over `storage` (memory).
    private init<C: Clock>(storage: MemoryTransferStorage, limits: TransferStoreLimits, clock: C)
    where C.Duration == Duration {
        self.storage = storage
        self.shared = nil
        self.limits = limits
        let start = clock.now
        self.elapsed = { start.duration(to: clock.now) }
        self.ledger = NIOLockedValueBox(Ledger())
    }

    /// A store in `directory`: partial transfers survive a restart (in `.holdfast-partial`, each
    /// as its data and a small meta file), and a verified transfer is moved to `directory/NAME`.
    /// The directory is created if needed; what an earlier run left is picked up, each partial
    /// transfer at the offset its meta file says was synchronized (after a crash, up to 4 MiB
    /// acknowledged since then are asked for again). The files in the directory count against
    /// ``TransferStoreLimits/maxTotalBytes`` with the partial transfers.
    /// - Parameters:
    ///   - directory: where files go.
    ///   - limits: the bounds it keeps within.
    ///   - overwrite: whether a delivered transfer replaces a file of the same name. Default
    ///     `false`: such an offer is refused (``TransferRefusal/Code/nameTaken``) before any byte
    ///     is sent, and a file that appeared meanwhile is never replaced.
    ///   - clock: the clock idle times are measured on (a restart counts as activity).
    /// - Throws: an `IOError` when the directory cannot be created or read.
    public static func disk<C: Clock>(directory: String, limits: TransferStoreLimits = .init(), overwrite: Bool = false,
                                      clock: C = ContinuousClock()) async throws -> TransferStore
    where C.Duration == Duration {
        let storage = DiskTransferStorage(directory: directory, overwrite: overwrite)
        return await TransferStore(storage: storage, limits: limits, clock: clock, contents: try await storage.load())
    }

    /// A store whose partial transfers and delivery records are in `storage`, which other nodes
    /// share (a database): a sender cut off from one node resumes on another from the last
    /// byte acknowledged, and one that offers a delivered transfer again, to any node, is told it
    /// arrived. Each chunk is acknowledged once the storage has it. A verified transfer is
    /// delivered into `directory` on this node — the node where the sender finished — as
    /// `directory/NAME`; the bytes are assembled in `directory/.holdfast-partial` first.
    ///
    /// The limits are kept per node, over the transfers offered to it; a transfer another node
    /// took is accepted without counting again. When the storage cannot be reached, the receiver
    /// closes the connection with 1013 (try again later) and the sender comes back.
    /// - Parameters:
    ///   - storage: what the nodes share.
    ///   - directory: where this node delivers files; created if needed.
    ///   - limits: the bounds this node keeps within.
    ///   - overwrite: whether a delivered transfer replaces a file of the same name (default
    ///     `false`: refused with ``TransferRefusal/Code/nameTaken``, before any byte if the file
    ///     exists when the transfer is offered).
    ///   - clock: the clock idle times are measured on.
    /// - Throws: an `IOError` when the directory cannot be created.
    public static func shared<C: Clock>(_ storage: some SharedTransferStorage, directory: String,
                                        limits: TransferStoreLimits = .init(), overwrite: Bool = false,
                                        clock: C = ContinuousClock()) async throws -> TransferStore
    where C.Duration == Duration {
        let adapter = SharedDirectoryTransferStorage(shared: storage, directory: directory, overwrite: overwrite)
        try await adapter.directory.create()
        let contents = StoredContents(partial: [], delivered: [], deliveredBytes: await adapter.deliveredBytes())
        return await TransferStore(storage: adapter, limits: limits, clock: clock, contents: contents)
    }

    /// The partial transfers kept now.
    public var partialTransfers: [PartialTransfer] {
        ledger.withLockedValue { ledger in
            ledger.entries.values.map { PartialTransfer(offer: $0.offer, held: $0.held) }
        }
    }

    /// Accepts `offer` (new, or one the store keeps) from `writer` and returns the bytes held
    /// for it. A new offer that does not fit takes the place of transfers abandoned for
    /// ``TransferStoreLimits/abandonedAfter``, oldest first; a kept one passes to `writer` unless
    /// another connection wrote to it within ``TransferStoreLimits/writerTakeoverAfter``.
    /// - Throws: a ``TransferRefusal`` for a bad name, a taken name, a limit, a conflicting
    ///   offer, or a transfer another connection is writing; ``TransferStoreUnavailable`` when
    ///   a shared storage cannot be reached.
    func open(_ offer: TransferOffer, by writer: TransferWriter) async throws -> Int {
        await discardExpired()
        _ = try TransferName.validated(offer.name)
        guard offer.size >= 0 else { throw TransferRefusal(.transferTooLarge, "negative size") }
        if let shared {
            // What any node stored is authoritative: the sender may come from another one.
            let state = try await shared.state(of: offer.id)
            let now = elapsed()
            let forgotten = ledger.withLockedValue { $0.reconcile(offer.id, with: state, now: now) }
            await storage.forgetDelivered(forgotten)
        }
        var recounted = false
        while true {
            switch admit(offer, by: writer) {
            case .held(let held):
                return held
            case .refused(let refusal) where refusal.code == .storeFull && !recounted:
                // Delivered files may have been removed since they were counted: count again once.
                recounted = true
                let delivered = await storage.deliveredBytes()
                ledger.withLockedValue { $0.deliveredBytes = delivered }
            case .refused(let refusal):
                throw refusal
            case .evicting(let evicted):
                for (id, idle) in evicted { await storage.discardIdle(id, idleFor: idle) }
            case .created:
                do {
                    try await storage.create(offer)
                } catch {
                    ledger.withLockedValue { _ = $0.entries.removeValue(forKey: offer.id) }
                    if error is TransferRefusal || error is TransferStoreUnavailable { throw error }
                    throw TransferRefusal(.storeFailed, "cannot store the transfer: \(error)")
                }
                return 0
            }
        }
    }

    /// What ``admit(_:by:)`` decided.
    private enum Admission {
        /// The transfer is kept (or was delivered): this many bytes are held.
        case held(Int)
        /// A new entry was made; the storage must make room for it.
        case created
        /// Refused.
        case refused(TransferRefusal)
        /// These abandoned transfers, idle for so long, were dropped from the ledger to make
        /// room: discard their bytes and try again.
        case evicting([(TransferID, idle: Duration)])
    }

    /// The ledger's half of ``open(_:by:)``, under its lock.
    private func admit(_ offer: TransferOffer, by writer: TransferWriter) -> Admission {
        let now = elapsed()
        return ledger.withLockedValue { ledger -> Admission in
            if let digest = ledger.delivered[offer.id], offer.digest == nil || offer.digest == digest {
                return .held(offer.size)
            }
            if var entry = ledger.entries[offer.id] {
                guard entry.offer.size == offer.size, entry.offer.name == offer.name,
                      entry.offer.digest == nil || offer.digest == nil || entry.offer.digest == offer.digest else {
                    return .refused(TransferRefusal(.conflictingOffer, "transfer \(offer.id) is kept with another "
                                                    + "size, name or digest; send it under a new id"))
                }
                if let current = entry.writer, current != writer,
                   !limits.mayTakeOver(writerQuietFor: now - entry.lastActivity) {
                    return .refused(TransferRefusal(.transferBusy, "transfer \(offer.id) is being sent on another "
                                                    + "connection; offer it again in a few seconds"))
                }
                entry.writer = writer
                entry.lastActivity = now
                ledger.entries[offer.id] = entry
                return .held(entry.held)
            }
            if let refusal = limits.admission(ofConnectionWith: ledger.openTransfers(of: writer)) {
                return .refused(refusal)
            }
            let reserved = ledger.entries.values.reduce(0) { $0 + $1.offer.size }
            if let refusal = limits.admission(ofSize: offer.size, openTransfers: ledger.entries.count,
                                              reservedBytes: reserved, deliveredBytes: ledger.deliveredBytes) {
                guard refusal.code == .tooManyTransfers || refusal.code == .storeFull else { return .refused(refusal) }
                // Abandoned transfers give up their place and bytes, the longest idle first.
                let abandoned = ledger.entries.values
                    .filter { limits.mayEvict(idleFor: now - $0.lastData) }
                    .sorted { $0.lastData < $1.lastData }
                var evicted: [(TransferID, idle: Duration)] = []
                var open = ledger.entries.count
                var freed = reserved
                for entry in abandoned {
                    guard limits.admission(ofSize: offer.size, openTransfers: open, reservedBytes: freed,
                                           deliveredBytes: ledger.deliveredBytes) != nil else { break }
                    evicted.append((entry.offer.id, now - entry.lastData))
                    open -= 1
                    freed -= entry.offer.size
                }
                guard !evicted.isEmpty, limits.admission(ofSize: offer.size, openTransfers: open, reservedBytes: freed,
                                                         deliveredBytes: ledger.deliveredBytes) == nil else {
                    return .refused(refusal)
                }
                for (id, _) in evicted { ledger.entries.removeValue(forKey: id) }
                return .evicting(evicted)
            }
            ledger.entries[offer.id] = Entry(offer: offer, held: 0, synchronized: 0, lastActivity: now, lastData: now,
                                             writer: writer)
            return .created
        }
    }

    /// `writer`'s connection ended: the transfers it wrote may be taken over at once.
    func release(_ writer: TransferWriter) {
        ledger.withLockedValue { ledger in
            for (id, entry) in ledger.entries where entry.writer == writer { ledger.entries[id]?.writer = nil }
        }
    }

    /// The bytes held and the size of transfer `id`, if kept.
    func held(_ id: TransferID) -> (held: Int, size: Int)? {
        ledger.withLockedValue { ledger in ledger.entries[id].map { ($0.held, $0.offer.size) } }
    }

    /// Writes `data` at `offset` (the receiver placed it at the held offset) for `writer` and
    /// returns the new held offset. Synchronizes a disk store every 4 MiB.
    /// - Throws: a ``TransferRefusal``: the transfer is not kept, or `writer` is not the
    ///   connection that offered it last (two writers never interleave);
    ///   ``TransferStoreUnavailable`` when a shared storage cannot be reached.
    func write(_ data: ByteBuffer, to id: TransferID, at offset: Int, by writer: TransferWriter) async throws -> Int {
        try checkWriter(writer, of: id)
        do {
            try await storage.write(data, to: id, at: offset)
        } catch let error as TransferStoreUnavailable {
            throw error
        } catch {
            throw TransferRefusal(.storeFailed, "cannot store the transfer: \(error)")
        }
        let now = elapsed()
        let update = ledger.withLockedValue { ledger -> (held: Int, synchronize: TransferOffer?)? in
            guard var entry = ledger.entries[id] else { return nil }
            if offset <= entry.held { entry.held = max(entry.held, offset + data.readableBytes) }
            entry.lastActivity = now
            entry.lastData = now
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

    /// Throws unless transfer `id` is kept and `writer` offered it last.
    private func checkWriter(_ writer: TransferWriter, of id: TransferID) throws(TransferRefusal) {
        let current = ledger.withLockedValue { $0.entries[id].map { $0.writer } }
        guard let current else { throw Self.unknown(id) }
        guard current == writer else {
            throw TransferRefusal(.transferBusy, "transfer \(id) is being sent on another connection; offer it "
                                  + "on this one before sending its chunks")
        }
    }

    /// Verifies a whole transfer against `digest` (and the offer's) by reading back what is
    /// stored, then delivers it; `writer` must be the connection that offered it last. A mismatch
    /// discards the partial transfer.
    /// - Throws: a ``TransferRefusal``; ``TransferStoreUnavailable`` when a shared storage
    ///   cannot be reached (nothing is discarded: the sender finishes again later).
    func complete(_ id: TransferID, digest: TransferDigest, by writer: TransferWriter) async throws -> Completion {
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
        try checkWriter(writer, of: id)
        let stored: TransferDigest
        do {
            stored = try await storage.digest(of: id, size: entry.offer.size)
        } catch let error as TransferStoreUnavailable {
            throw error
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
        } catch let refusal as TransferRefusal {
            // A file of its name appeared meanwhile: the sender is told so, and the partial
            // transfer gives up its place and reserved bytes.
            await discard(id)
            throw refusal
        } catch let error as TransferStoreUnavailable {
            throw error
        } catch {
            throw TransferRefusal(.storeFailed, "cannot deliver the transfer: \(error)")
        }
        let forgotten = ledger.withLockedValue { ledger -> [TransferID] in
            ledger.entries.removeValue(forKey: id)
            if received.path != nil { ledger.deliveredBytes += received.size }
            return ledger.recordDelivered(id, digest)
        }
        await storage.forgetDelivered(forgotten)
        return .delivered(received)
    }

    /// Forgets a partial transfer and its bytes.
    func discard(_ id: TransferID) async {
        ledger.withLockedValue { _ = $0.entries.removeValue(forKey: id) }
        await storage.discard(id)
    }

    /// Discards the partial transfers idle for ``TransferStoreLimits/idleTimeout``, and those
    /// that never received a byte in ``TransferStoreLimits/abandonedAfter``.
    public func discardExpired() async {
        let now = elapsed()
        let expired = ledger.withLockedValue { ledger -> [(TransferID, idle: Duration)] in
            let expired = ledger.entries.values
                .filter { limits.isExpired(idleFor: now - $0.lastData, held: $0.held) }.map { ($0.offer.id, now - $0.lastData) }
            for (id, _) in expired { ledger.entries.removeValue(forKey: id) }
            return expired
        }
        for (id, idle) in expired { await storage.discardIdle(id, idleFor: idle) }
    }

    private static func unknown(_ id: TransferID) -> TransferRefusal {
        TransferRefusal(.unknownTransfer, "transfer \(id) is not kept here (never offered, expired or discarded); "
                        + "offer it again")
    }
}

/// One connection of a ``TransferReceiver``, as the store tells writers apart: each transfer is
/// written by one connection at a time.
struct TransferWriter: Hashable, Sendable {
    let number: UInt64
}
