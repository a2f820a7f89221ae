import Foundation
import Testing

/// The throw-away PostgreSQL the cluster tests run on: it starts, answers, keeps its data across
/// a restart on the same port, and is gone once stopped.
@Suite struct PostgresServerTests {
    @Test func startsKeepsDataAcrossRestartAndStops() async throws {
        let server = try await PostgresServer.start()
        let port = server.port
        do {
            _ = try await server.psql("CREATE TABLE kept (value int); INSERT INTO kept VALUES (42)")
            try await server.restart()
            #expect(server.port == port)
            try await #expect(server.psql("SELECT value FROM kept") == "42")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        await #expect(throws: (any Error).self) { try await server.psql("SELECT 1") }
    }
}
