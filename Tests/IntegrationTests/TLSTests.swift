import Holdfast
import HoldfastTestSupport
import NIOCore
import NIOSSL
import Testing

/// `wss://` between a Holdfast client and a Holdfast server, with certificates made at run time
/// (see ``TestCertificates``).
@Suite(.timeLimit(.minutes(1)))
struct TLSTests {
    let certificates: TestCertificates

    init() throws {
        certificates = try TestCertificates.shared()
    }

    /// A server configuration presenting `certificate`.
    func serverConfiguration(certificate: String, key: String) throws -> WebSocketServerConfiguration {
        var configuration = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration())
        configuration.tls = try WebSocketServerTLS(certificateChainFile: certificate, privateKeyFile: key)
        return configuration
    }

    /// The server certificate for `localhost` and `127.0.0.1`, signed by the test CA.
    func trustedServer() throws -> WebSocketServerConfiguration {
        try serverConfiguration(certificate: certificates.serverCertificate, key: certificates.serverKey)
    }

    /// Client settings that trust the test CA only.
    func clientTrustingCA(hostnameVerification: Bool = true) throws -> WebSocketClientConfiguration {
        var tls = try WebSocketClientTLS(trustRootsFile: certificates.caFile)
        tls.hostnameVerification = hostnameVerification
        return WebSocketClientConfiguration(webSocket: testWebSocketConfiguration(), connectTimeout: .seconds(5), tls: tls)
    }

    /// Sends `messages` and returns what comes back, as many as were sent.
    static func echoed(_ messages: [WebSocketMessage], url: String,
                       configuration: WebSocketClientConfiguration) async throws -> [WebSocketMessage] {
        try await WebSocketClient.connect(to: url, configuration: configuration, logger: silentLogger) { ws in
            for message in messages { try await ws.send(message) }
            var received: [WebSocketMessage] = []
            for await message in ws.messages {
                received.append(message)
                if received.count == messages.count { break }
            }
            return received
        }
    }

    /// The TLS error that connecting to `url` with `configuration` fails with.
    static func tlsFailure(_ url: String, configuration: WebSocketClientConfiguration) async throws -> TLSHandshakeError {
        do {
            _ = try await echoed([.text("must not arrive")], url: url, configuration: configuration)
        } catch let error as TLSHandshakeError {
            return error
        }
        Issue.record("connecting to \(url) succeeded")
        throw CancellationError()
    }

    @Test("text and a 200 KB binary message come back over wss://localhost, trusting the private CA")
    func echoRoundTrip() async throws {
        let sent: [WebSocketMessage] = [.text("hello over TLS ✓"), .binary(pattern(200_000))]
        let received = try await withServer(configuration: try trustedServer(), handler: echo) { port in
            try await Self.echoed(sent, url: "wss://localhost:\(port)/", configuration: try clientTrustingCA())
        }
        #expect(received == sent)
    }

    @Test("an event-loop handler server gets TLS too, and an IP address is verified against the certificate's")
    func eventLoopServerOverIPAddress() async throws {
        var configuration = try trustedServer()
        configuration.port = 0
        let server = WebSocketServer(configuration: configuration, logger: silentLogger, eventLoopHandler: EchoOnEventLoop())
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            group.addTask { try await server.run() }
            let port = try #require(try await withTimeout("the server to listen") { try await server.listeningAddress }.port)
            let received = try await Self.echoed([.text("on the event loop")], url: "wss://127.0.0.1:\(port)/",
                                                 configuration: try clientTrustingCA())
            #expect(received == [.text("on the event loop")])
        }
    }

    struct EchoOnEventLoop: WebSocketEventLoopHandler {
        func received(_ message: WebSocketMessage, on connection: EventLoopWebSocket) {
            try? connection.send(message)
        }
    }

    @Test("TLS 1.2 is the minimum: a server from PEM files refuses a TLS 1.1 client, a default client a TLS 1.1 server")
    func tlsVersionMinimum() async throws {
        var oldClient = try clientTrustingCA()
        oldClient.tls.configuration.minimumTLSVersion = .tlsv1
        oldClient.tls.configuration.maximumTLSVersion = .tlsv11
        _ = try await withServer(configuration: try trustedServer(), handler: echo) { port in
            try await Self.tlsFailure("wss://localhost:\(port)/", configuration: oldClient)
        }

        var oldServerTLS = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(certificates.serverCertificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: certificates.serverKey, format: .pem)))
        oldServerTLS.minimumTLSVersion = .tlsv1
        oldServerTLS.maximumTLSVersion = .tlsv11
        var oldServer = WebSocketServerConfiguration(webSocket: testWebSocketConfiguration())
        oldServer.tls = try WebSocketServerTLS(configuration: oldServerTLS)
        _ = try await withServer(configuration: oldServer, handler: echo) { port in
            try await Self.tlsFailure("wss://localhost:\(port)/", configuration: try clientTrustingCA())
        }
    }

    @Test("a self-signed certificate is not trusted: a TLSHandshakeError that says so")
    func untrustedCertificate() async throws {
        let configuration = try serverConfiguration(certificate: certificates.selfSignedCertificate,
                                                    key: certificates.selfSignedKey)
        let error = try await withServer(configuration: configuration, handler: echo) { port in
            try await Self.tlsFailure("wss://localhost:\(port)/", configuration: try clientTrustingCA())
        }
        #expect(error.kind == .certificateNotTrusted)
        #expect(error.description.hasPrefix("TLS: certificate is not trusted"), "\(error)")
    }

    @Test("the system's roots do not trust the private CA's certificate")
    func defaultTrustRefusesPrivateCA() async throws {
        let error = try await withServer(configuration: try trustedServer(), handler: echo) { port in
            try await Self.tlsFailure("wss://localhost:\(port)/", configuration: WebSocketClientConfiguration(
                webSocket: testWebSocketConfiguration(), connectTimeout: .seconds(5)))
        }
        #expect(error.kind == .certificateNotTrusted)
    }

    @Test("a trusted certificate for another host fails with a host name mismatch")
    func wrongHostname() async throws {
        let configuration = try serverConfiguration(certificate: certificates.wrongHostCertificate,
                                                    key: certificates.wrongHostKey)
        let error = try await withServer(configuration: configuration, handler: echo) { port in
            try await Self.tlsFailure("wss://localhost:\(port)/", configuration: try clientTrustingCA())
        }
        #expect(error.kind == .hostnameMismatch)
        #expect(error.description == "TLS: certificate does not match host 'localhost' (it is issued for other names)")
    }

    @Test("with host name verification off, the wrong host's certificate is accepted, an untrusted one still not")
    func hostnameVerificationOff() async throws {
        let wrongHost = try serverConfiguration(certificate: certificates.wrongHostCertificate,
                                                key: certificates.wrongHostKey)
        let received = try await withServer(configuration: wrongHost, handler: echo) { port in
            try await Self.echoed([.text("any name")], url: "wss://localhost:\(port)/",
                                  configuration: try clientTrustingCA(hostnameVerification: false))
        }
        #expect(received == [.text("any name")])

        let selfSigned = try serverConfiguration(certificate: certificates.selfSignedCertificate,
                                                 key: certificates.selfSignedKey)
        let error = try await withServer(configuration: selfSigned, handler: echo) { port in
            try await Self.tlsFailure("wss://localhost:\(port)/",
                                      configuration: try clientTrustingCA(hostnameVerification: false))
        }
        #expect(error.kind == .certificateNotTrusted)
    }

    @Test("wss:// to a plain ws:// server is a TLS failure that suggests the server does not speak TLS")
    func plainServer() async throws {
        let error = try await withServer(handler: echo) { port in
            try await Self.tlsFailure("wss://localhost:\(port)/", configuration: try clientTrustingCA())
        }
        #expect(error.kind == .handshakeFailed)
        #expect(error.description.contains("is the server speaking TLS?"), "\(error)")
    }

    @Test("a graceful shutdown sends 1001 over TLS, and the client's answer completes the handshake")
    func shutdownOverTLS() async throws {
        try await withRunningServer(configuration: try trustedServer(), handler: echo) { server, port in
            let outcome = try await WebSocketClient.connect(
                to: "wss://localhost:\(port)/", configuration: try clientTrustingCA(), logger: silentLogger
            ) { ws in
                try await ws.send(text: "registered")
                for await _ in ws.messages { break }
                async let report = server.shutdown()
                let outcome = await ws.closeOutcome
                #expect(await report == ShutdownReport(closedCleanly: 1, cut: 0))
                return outcome
            }
            #expect(outcome.code == .goingAway)
            #expect(outcome.reason == "server shutting down")
            #expect(outcome.wasClean)
        }
    }

    @Test("a ReconnectingWebSocket connects over wss:// with the client's TLS settings")
    func reconnectingOverTLS() async throws {
        try await withServer(configuration: try trustedServer(), handler: echo) { port in
            let client = ReconnectingWebSocket(url: "wss://localhost:\(port)/",
                                               configuration: .init(client: try clientTrustingCA()),
                                               logger: silentLogger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await client.run() }
                try await client.send(text: "through the outbox")
                let echoed = try await first(of: client.messages, "the echo over wss")
                #expect(echoed == .text("through the outbox"))
                client.close()
                try await group.waitForAll()
            }
        }
    }

    @Test("a ReconnectingWebSocket gives up at once on an untrusted certificate: a retry would fail the same way")
    func reconnectingGivesUpOnUntrustedCertificate() async throws {
        let configuration = try serverConfiguration(certificate: certificates.selfSignedCertificate,
                                                    key: certificates.selfSignedKey)
        try await withServer(configuration: configuration, handler: echo) { port in
            let client = ReconnectingWebSocket(url: "wss://localhost:\(port)/",
                                               configuration: .init(client: try clientTrustingCA()),
                                               logger: silentLogger)
            let ended = await #expect(throws: ReconnectingWebSocket.ConnectionEnded.self) { try await client.run() }
            guard case .certificateRejected(let reason)? = ended?.ending else {
                Issue.record("ended with \(String(describing: ended?.ending))")
                return
            }
            #expect(reason.hasPrefix("TLS: certificate is not trusted"), "\(reason)")
            var events: [String] = []
            for await event in client.events { events.append("\(event)") }
            #expect(events.count == 3, "connecting, disconnected, gave up: \(events)")
        }
    }

    @Test("a missing or non-PEM file is a TLSFileError naming the file")
    func badFiles() throws {
        let missing = certificates.path("missing.pem")
        #expect(throws: TLSFileError.self) {
            try WebSocketServerTLS(certificateChainFile: missing, privateKeyFile: certificates.serverKey)
        }
        #expect(throws: TLSFileError.self) {
            try WebSocketServerTLS(certificateChainFile: certificates.serverCertificate,
                                   privateKeyFile: certificates.path("server.ext"))
        }
        do {
            _ = try WebSocketClientTLS(trustRootsFile: missing)
            Issue.record("a missing CA file was accepted")
        } catch let error as TLSFileError {
            #expect(error.path == missing)
            #expect(error.description.hasPrefix("cannot load the CA certificates from '\(missing)'"))
        }
    }

    @Test("a key that does not belong to the certificate is refused when the server is configured")
    func mismatchedKey() throws {
        #expect(throws: (any Error).self) {
            try WebSocketServerTLS(certificateChainFile: certificates.serverCertificate,
                                   privateKeyFile: certificates.wrongHostKey)
        }
    }
}

/// `wss://` with Python's `websockets` and `ssl` as the independent peer.
@Suite(.timeLimit(.minutes(2)))
struct TLSInteropTests {
    @Test("Holdfast client ↔ websockets server over TLS: echo round trip, and the certificate is verified")
    func holdfastClientToPythonServer() async throws {
        let certificates = try TestCertificates.shared()
        let tls = try WebSocketClientTLS(trustRootsFile: certificates.caFile)
        let sent: [WebSocketMessage] = [.text("hello, websockets ✓"), .binary(pattern(100_000))]
        try await PythonEchoServer.with(maxSize: 1 << 20,
                                        tls: (certificates.serverCertificate, certificates.serverKey)) { port in
            let configuration = WebSocketClientConfiguration(webSocket: testWebSocketConfiguration(),
                                                             connectTimeout: .seconds(5), tls: tls)
            let received = try await TLSTests.echoed(sent, url: "wss://localhost:\(port)/", configuration: configuration)
            #expect(received == sent)
        }
        try await PythonEchoServer.with(maxSize: 1 << 20,
                                        tls: (certificates.wrongHostCertificate, certificates.wrongHostKey)) { port in
            let configuration = WebSocketClientConfiguration(webSocket: testWebSocketConfiguration(),
                                                             connectTimeout: .seconds(5), tls: tls)
            let error = try await TLSTests.tlsFailure("wss://localhost:\(port)/", configuration: configuration)
            #expect(error.kind == .hostnameMismatch)
        }
    }
}
