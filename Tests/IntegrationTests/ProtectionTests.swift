import Holdfast
import NIOCore
import NIOHTTP1
import Testing

/// The server's connection limit over real connections (the other protections are tested byte
/// for byte in `ServerProtectionTests`).
@Suite("maxConnections over loopback", .timeLimit(.minutes(1)))
struct ProtectionTests {
    @Test("with maxConnections 2, a third client gets 503; once the two have ended, a new one is accepted")
    func connectionLimit() async throws {
        var configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration())
        configuration.maxConnections = 2
        try await withRunningServer(configuration: configuration, handler: echo) { server, port in
            let url = "ws://127.0.0.1:\(port)/"
            try await connect(url) { first in
                try await first.send(text: "one")
                for await _ in first.messages { break }
                try await connect(url) { second in
                    try await second.send(text: "two")
                    for await _ in second.messages { break }
                    let error = await #expect(throws: HandshakeError.self) {
                        try await connect(url) { _ in }
                    }
                    #expect(error?.status == .serviceUnavailable)
                }
            }
            // The two ended; the server counts them as ended once their TCP connections close.
            var waited = 0
            while server.statistics.openConnections > 0, waited < 500 {
                try await Task.sleep(for: .milliseconds(10))
                waited += 1
            }
            #expect(server.statistics.openConnections == 0)
            let echoed = try await connect(url) { third -> WebSocketMessage? in
                try await third.send(text: "three")
                for await message in third.messages { return message }
                return nil
            }
            #expect(echoed == .text("three"))
        }
    }
}
