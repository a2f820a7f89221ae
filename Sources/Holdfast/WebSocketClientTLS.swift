import NIOSSL

/// The TLS settings of `wss://` connections: which certificate authorities are trusted, and
/// whether the certificate must name the host connected to.
///
/// The default trusts the system's certificate authorities and verifies the host name: what a
/// browser does. For a server with a certificate from a private CA, trust that CA with
/// ``init(trustRootsFile:includingSystemRoots:)``. The host name (SNI, and the name verified) is
/// the URL's host; for an IP address no SNI is sent and the certificate must name the address.
public struct WebSocketClientTLS: Sendable {
    /// The full TLS configuration in force; change it for protocol versions, cipher suites, a
    /// client certificate (mutual TLS) or ALPN.
    public var configuration: TLSConfiguration

    /// The system's certificate authorities, with host name verification, TLS 1.2 and 1.3 only
    /// (NIOSSL's own default still offers 1.0 and 1.1, which a server should not accept).
    public init() {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        self.configuration = configuration
    }

    /// TLS from a NIOSSL configuration, for full control; used as given (set
    /// `minimumTLSVersion` yourself).
    public init(configuration: TLSConfiguration) {
        self.configuration = configuration
    }

    /// Trusts the certificate authorities in a PEM file, e.g. a private CA's certificate.
    /// - Parameters:
    ///   - path: one or more CA certificates in PEM.
    ///   - includingSystemRoots: whether the system's authorities stay trusted too. Default
    ///     `false`: only the file's, as `curl --cacert` does, so that a server that should
    ///     present a private CA's certificate cannot pass with a public one.
    /// - Throws: ``TLSFileError`` when the file cannot be read as PEM certificates.
    public init(trustRootsFile path: String, includingSystemRoots: Bool = false) throws {
        let certificates = try NIOSSLCertificate.loadPEMFile(path, contents: "CA certificates")
        self.init()
        if includingSystemRoots {
            configuration.additionalTrustRoots = [.certificates(certificates)]
        } else {
            configuration.trustRoots = .certificates(certificates)
        }
    }

    /// Whether the server's certificate must name the host of the URL. Default `true`. Turning
    /// it off still requires a certificate from a trusted authority, but accepts one issued for
    /// any name: for a test server reached by another name, never for production.
    public var hostnameVerification: Bool {
        get { configuration.certificateVerification == .fullVerification }
        set {
            guard configuration.certificateVerification != .none else { return }
            configuration.certificateVerification = newValue ? .fullVerification : .noHostnameVerification
        }
    }
}
