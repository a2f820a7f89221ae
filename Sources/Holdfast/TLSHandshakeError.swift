import NIOSSL

/// Why a `wss://` connection failed in its TLS handshake: the server's certificate is not
/// trusted, it is not for the host connected to, or the handshake failed otherwise.
public struct TLSHandshakeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure it is.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case certificateNotTrusted
            case hostnameMismatch
            case handshakeFailed
        }

        private let base: Base

        /// No trusted certificate authority signed the server's certificate (a self-signed or
        /// private-CA certificate not in the trust roots), or it has expired.
        public static let certificateNotTrusted = Kind(base: .certificateNotTrusted)
        /// The certificate is valid but names other hosts than the one connected to.
        public static let hostnameMismatch = Kind(base: .hostnameMismatch)
        /// Any other failure: no protocol in common, a server that does not speak TLS, an alert.
        public static let handshakeFailed = Kind(base: .handshakeFailed)

        public var description: String {
            switch base {
            case .certificateNotTrusted: return "certificateNotTrusted"
            case .hostnameMismatch: return "hostnameMismatch"
            case .handshakeFailed: return "handshakeFailed"
            }
        }
    }

    /// What kind of failure it is.
    public let kind: Kind
    /// The host connected to, as the URL names it.
    public let host: String
    /// The TLS library's own words, e.g. `CERTIFICATE_VERIFY_FAILED`.
    public let detail: String

    public var description: String {
        switch kind {
        case .certificateNotTrusted:
            return "TLS: certificate is not trusted (no trusted CA signed it, or it has expired: \(detail))"
        case .hostnameMismatch:
            return "TLS: certificate does not match host '\(host)' (it is issued for other names)"
        default:
            let hint = detail.contains("WRONG_VERSION_NUMBER") ? "; is the server speaking TLS?" : ""
            return "TLS handshake failed: \(detail)\(hint)"
        }
    }

    /// `error` as a ``TLSHandshakeError`` when it is one of NIOSSL's handshake errors, else `nil`.
    static func classifying(_ error: any Error, host: String) -> TLSHandshakeError? {
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return TLSHandshakeError(kind: .hostnameMismatch, host: host, detail: "\(error)")
        }
        guard let error = error as? NIOSSLError, case .handshakeFailed(let failure) = error else { return nil }
        let detail = reasons(of: failure)
        let kind: Kind = detail.contains("CERTIFICATE_VERIFY_FAILED") ? .certificateNotTrusted : .handshakeFailed
        return TLSHandshakeError(kind: kind, host: host, detail: detail)
    }

    /// BoringSSL's reason codes (`CERTIFICATE_VERIFY_FAILED`) without the numbers and source
    /// locations around them.
    private static func reasons(of failure: BoringSSLError) -> String {
        let stack: NIOBoringSSLErrorStack
        switch failure {
        case .sslError(let errors), .unknownError(let errors): stack = errors
        default: return "\(failure)"
        }
        let reasons = stack.map { error -> String in
            let text = "\(error)"
            guard let marker = text.range(of: "OPENSSL_internal:") else { return text }
            return String(text[marker.upperBound...].prefix { $0 != " " })
        }
        return reasons.isEmpty ? "\(failure)" : reasons.joined(separator: ", ")
    }
}
