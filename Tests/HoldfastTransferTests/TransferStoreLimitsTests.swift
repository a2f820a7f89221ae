import HoldfastCore
import HoldfastTransfer
import Testing

@Suite("TransferStoreLimits and TransferChunkPlacement — the receiver's policy")
struct TransferStoreLimitsTests {
    let limits = TransferStoreLimits(maxTransferSize: 100, maxTotalBytes: 250, maxOpenTransfers: 3,
                                     idleTimeout: .seconds(60))

    @Test("a transfer within every limit is admitted; at exactly the limits too")
    func admitted() {
        #expect(limits.admission(ofSize: 100, openTransfers: 2, reservedBytes: 150) == nil)
        #expect(limits.admission(ofSize: 0, openTransfers: 0, reservedBytes: 0) == nil)
    }

    @Test("each limit refuses with its own code and a reason that names the numbers")
    func refused() {
        #expect(limits.admission(ofSize: 101, openTransfers: 0, reservedBytes: 0)
                == TransferRefusal(.transferTooLarge, "transfer of 101 bytes exceeds the limit of 100 bytes per transfer"))
        #expect(limits.admission(ofSize: 1, openTransfers: 3, reservedBytes: 0)
                == TransferRefusal(.tooManyTransfers, "the receiver already keeps 3 open transfers (limit 3)"))
        #expect(limits.admission(ofSize: 60, openTransfers: 2, reservedBytes: 200)
                == TransferRefusal(.storeFull, "transfer of 60 bytes does not fit: 200 of 250 bytes are reserved by open transfers"))
    }

    @Test("without a per-transfer limit, the total bounds one transfer")
    func defaultPerTransferLimit() {
        let limits = TransferStoreLimits(maxTotalBytes: 1000)
        #expect(limits.admission(ofSize: 1000, openTransfers: 0, reservedBytes: 0) == nil)
        #expect(limits.admission(ofSize: 1001, openTransfers: 0, reservedBytes: 0)?.code == .transferTooLarge)
    }

    @Test("idle transfers expire at the timeout, not before; one that never got a byte when abandoned")
    func expiry() {
        #expect(!limits.isExpired(idleFor: .seconds(59), held: 10))
        #expect(limits.isExpired(idleFor: .seconds(60), held: 10))
        let defaults = TransferStoreLimits()
        #expect(!defaults.isExpired(idleFor: .seconds(119), held: 0))
        #expect(defaults.isExpired(idleFor: .seconds(120), held: 0))
        #expect(!defaults.isExpired(idleFor: .seconds(3599), held: 1))
        #expect(defaults.isExpired(idleFor: .seconds(3600), held: 1))
    }

    @Test("the defaults: 4 open transfers per connection, abandoned after 2 min, a writer taken over after 10 s quiet")
    func connectionLimitsAndTakeover() {
        let defaults = TransferStoreLimits()
        #expect(defaults.admission(ofConnectionWith: 3) == nil)
        #expect(defaults.admission(ofConnectionWith: 4) == TransferRefusal(
            .tooManyTransfers, "this connection already has 4 open transfers (limit 4 per connection)"))
        #expect(!defaults.mayEvict(idleFor: .seconds(119)))
        #expect(defaults.mayEvict(idleFor: .seconds(120)))
        #expect(!defaults.mayTakeOver(writerQuietFor: .milliseconds(9_999)))
        #expect(defaults.mayTakeOver(writerQuietFor: .seconds(10)))
    }

    @Test("delivered files count against the total with the open transfers")
    func deliveredBytesCount() {
        let limits = TransferStoreLimits(maxTotalBytes: 1000)
        #expect(limits.admission(ofSize: 400, openTransfers: 0, reservedBytes: 300, deliveredBytes: 300) == nil)
        #expect(limits.admission(ofSize: 401, openTransfers: 0, reservedBytes: 300, deliveredBytes: 300) == TransferRefusal(
            .storeFull, "transfer of 401 bytes does not fit: 300 of 1000 bytes are reserved by open transfers "
                + "and 300 are taken by delivered files"))
    }

    @Test("chunk placement: next bytes, overlap, duplicate, gap, past the end",
          arguments: [
            (0, 10, 0, 100, TransferChunkPlacement.write(skipping: 0)),
            (40, 10, 40, 100, .write(skipping: 0)),
            (35, 10, 40, 100, .write(skipping: 5)),
            (30, 10, 40, 100, .duplicate),
            (0, 0, 0, 0, .duplicate),
            (50, 10, 40, 100, .gap(expected: 40)),
            (95, 10, 95, 100, .outOfRange),
            (101, 0, 100, 100, .outOfRange),
            (90, 10, 90, 100, .write(skipping: 0)),
          ] as [(Int, Int, Int, Int, TransferChunkPlacement)])
    func placement(offset: Int, length: Int, held: Int, size: Int, expected: TransferChunkPlacement) {
        #expect(TransferChunkPlacement(offset: offset, length: length, held: held, size: size) == expected)
    }
}
