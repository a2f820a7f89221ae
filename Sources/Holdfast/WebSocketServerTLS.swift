import NIOSSL

/// The TLS settings of a ``WebSocketServer`` that serves `wss://` (and its plain HTTP pages over
/// `https://`).
///
/// The certificate and key are loaded, and the TLS context built, when this value is created,
/// so that a missing file or a key that does not match its certificate is an error at start-up,
/// never at the first connection.
public struct WebSocketServerTLS: Sendable {
    /// The full TLS configuration in force.
    public let configuration: TLSConfiguration
    /// Built once and shared by every connection.
    let context: NIOSSLContext

    /// TLS from a NIOSSL configuration, for full control: protocol versions, cipher suites,
    /// client certificates (mutual TLS), ALPN. It is used as given: set `minimumTLSVersion`
    /// yourself (the PEM initializer sets TLS 1.2).
    /// - Throws: NIOSSL's error when the configuration cannot be used (a key that does not match
    ///   its certificate, an unreadable file).
    public init(configuration: TLSConfiguration) throws {
        self.configuration = configuration
        self.context = try NIOSSLContext(configuration: configuration)
    }

    /// TLS from PEM files: TLS 1.2 and 1.3 only (NIOSSL's own default still allows 1.0 and 1.1,
    /// which no current client needs and which lack modern ciphers), no client certificate asked
    /// for, NIOSSL's defaults otherwise.
    /// - Parameters:
    ///   - certificateChainFile: the server's certificate, then any intermediates, in PEM.
    ///   - privateKeyFile: the certificate's private key in PEM.
    /// - Throws: ``TLSFileError`` for a file that cannot be read as PEM; NIOSSL's error when the
    ///   key does not match the certificate.
    public init(certificateChainFile: String, privateKeyFile: String) throws {
        let chain = try NIOSSLCertificate.loadPEMFile(certificateChainFile, contents: "certificate")
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)
        } catch {
            throw TLSFileError(path: privateKeyFile, contents: "private key", error: error)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        try self.init(configuration: configuration)
    }
}
