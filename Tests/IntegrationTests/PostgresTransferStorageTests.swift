import Foundation
import HoldfastPostgres
import HoldfastTransfer
import NIOCore
import Testing

/// `PostgresTransferStorage` through its public API, as two nodes over one throw-away
/// PostgreSQL: the tables made once, chunks stored once and in order, the bytes held never going
/// back, reading back in bounded pieces, delivery replacing the partial transfer.
@Suite("PostgresTransferStorage", .timeLimit(.minutes(2)))
struct PostgresTransferStorageTests {
    @Test("three nodes opening at once make the tables once; two write one transfer: each byte stored once, held never back")
    func storesChunksOnce() async throws {
        try await PostgresServer.with { database in
            let location = try PostgresLocation(url: database.url)
            async let openedA = PostgresTransferStorage.open(location)
            async let openedB = PostgresTransferStorage.open(location)
            async let openedC = PostgresTransferStorage.open(location)
            let (nodeA, nodeB, _) = try await (openedA, openedB, openedC)
            #expect(try await database.psql("SELECT value FROM holdfast_meta WHERE key = 'transfer_schema_version'") == "1")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await nodeA.run() }
                group.addTask { try await nodeB.run() }
                defer { group.cancelAll() }
                let size = 6 << 20
                let data = seededBytes(size)
                let digest = TransferDigest(of: data)
                let offer = TransferOffer(id: TransferID(name: "x.bin", size: size, digest: digest), size: size, digest: digest,
                                          name: "x.bin")
                func piece(_ range: Range<Int>) -> ByteBuffer { data.getSlice(at: range.lowerBound, length: range.count) ?? ByteBuffer() }

                #expect(try await nodeA.state(of: offer.id) == nil)
                try await nodeA.create(offer)
                try await nodeB.create(offer)  // created first elsewhere: kept as it is
                try await nodeA.write(piece(0..<100_000), to: offer.id, at: 0)
                try await nodeB.write(piece(0..<100_000), to: offer.id, at: 0)  // the same chunk again: harmless
                try await nodeB.write(piece(50_000..<150_000), to: offer.id, at: 50_000)  // half of it held already
                await #expect(throws: (any Error).self, "a gap after the bytes held") {
                    try await nodeA.write(piece(200_000..<300_000), to: offer.id, at: 200_000)
                }
                #expect(try await nodeA.state(of: offer.id) == .partial(offer, held: 150_000))
                try await nodeA.write(piece(150_000..<size), to: offer.id, at: 150_000)
                try await nodeB.write(piece(0..<10), to: offer.id, at: 0)  // held does not go back
                #expect(try await nodeB.state(of: offer.id) == .partial(offer, held: size))
                #expect(try await database.psql("SELECT count(*) FROM holdfast_transfer_chunks") == "3")

                // Read back from the other node, in bounded pieces, in order.
                var back = ByteBuffer()
                var pieces = 0
                while back.readableBytes < size {
                    var next = try await nodeB.read(offer.id, from: back.readableBytes)
                    #expect(next.readableBytes > 0 && next.readableBytes <= (4 << 20) + size)
                    if next.readableBytes == 0 { break }
                    back.writeBuffer(&next)
                    pieces += 1
                }
                #expect(back == data)
                #expect(try await nodeB.read(offer.id, from: size).readableBytes == 0)

                try await nodeB.recordDelivered(offer.id, digest: digest)
                #expect(try await nodeA.state(of: offer.id) == .delivered(digest))
                #expect(try await database.psql("SELECT count(*) FROM holdfast_transfer_chunks") == "0")
            }
        }
    }

    @Test("one node's idle transfer is kept while another wrote to it lately; a plain discard deletes it")
    func discardKeepsWhatAnotherNodeWrites() async throws {
        try await PostgresServer.with { database in
            let storage = try await PostgresTransferStorage.open(try PostgresLocation(url: database.url))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await storage.run() }
                defer { group.cancelAll() }
                var random = SystemRandomNumberGenerator()
                let offer = TransferOffer(id: TransferID(using: &random), size: 10, digest: nil, name: "s.bin")
                try await storage.create(offer)
                try await storage.write(ByteBuffer(string: "hello"), to: offer.id, at: 0)
                try await storage.discard(offer.id, unlessWrittenWithin: .seconds(60))
                #expect(try await storage.state(of: offer.id) == .partial(offer, held: 5))
                try await storage.discard(offer.id, unlessWrittenWithin: nil)
                #expect(try await storage.state(of: offer.id) == nil)
            }
        }
    }
}
